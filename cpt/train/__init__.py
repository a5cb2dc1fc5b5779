"""The continued-pretraining trainer: ``python -m cpt.train --config X.yaml [key=value ...]``.

Heavy imports (torch, transformers) happen only when the loop is used, so ``--help`` and config
validation stay fast.
"""

from __future__ import annotations

from typing import Any

from cpt.train.config import TrainConfig, load_config
from cpt.train.hooks import Action, EvaluationHook, TrainingView

__all__ = [
    "Action",
    "EvaluationHook",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingView",
    "load_config",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in ("Trainer", "TrainResult", "train"):
        from cpt.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'cpt.train' has no attribute {name!r}")
