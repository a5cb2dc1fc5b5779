"""The continued-pretraining trainer: ``python -m cpt.train --config configs/X.yaml [key=value ...]``."""

from cpt.train.config import TrainConfig, load_config
from cpt.train.hooks import Action, EvaluationHook, TrainingView
from cpt.train.loop import Trainer, TrainResult, train

__all__ = ["Action", "EvaluationHook", "TrainConfig", "TrainResult", "Trainer", "TrainingView",
           "load_config", "train"]
