"""Planning a continued-pretraining run: FLOPs, GPU-hours, cost, memory per GPU and storage.

``estimate(model, tokens=..., gpu=..., gpus=...)`` returns a ``Plan`` (``.render()`` for text,
``.to_dict()`` for JSON); ``python -m cpt.plan --help`` is the command line. The FLOPs formula is
``cpt.plan.model.flops_per_token`` (shared with the trainer's MFU log), the memory model
``cpt.plan.memory``, the GPU table ``cpt/plan/gpus.yaml``.
"""

from cpt.plan.estimate import Plan, estimate, implied_mfu
from cpt.plan.model import ModelShape, flops_per_token, resolve_model

__all__ = ["ModelShape", "Plan", "estimate", "flops_per_token", "implied_mfu", "resolve_model"]
