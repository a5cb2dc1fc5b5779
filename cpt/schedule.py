"""Learning-rate schedules for continued pretraining.

The peak LR is ``beta x base_lr``: a continued run starts from a trained model and must not shake
it as hard as pretraining did. The LR re-warms up linearly (``peak / warmup_steps`` at step 0),
then decays on a cosine to ``min_lr_ratio x peak``, or, for WSD (warmup-stable-decay), stays flat
and decays linearly over the last ``decay_frac`` of the steps. The schedule is a pure function of
the step, so resuming needs only the step; the trainer multiplies it by an ``lr_multiplier`` that
actions can lower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LRSchedule:
    peak_lr: float
    total_steps: int
    warmup_steps: int
    min_lr_ratio: float = 0.1
    kind: str = "cosine"  # cosine | wsd | constant
    decay_steps: int = 0  # wsd only

    @classmethod
    def build(
        cls,
        *,
        base_lr: float,
        beta: float,
        total_steps: int,
        warmup_frac: float,
        min_lr_ratio: float,
        kind: str = "cosine",
        decay_frac: float = 0.2,
    ) -> LRSchedule:
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if kind not in ("cosine", "wsd", "constant"):
            raise ValueError(f"unknown schedule kind {kind!r}")
        warmup = min(total_steps, round(warmup_frac * total_steps))
        if warmup_frac > 0 and warmup == 0:
            warmup = 1  # a requested warmup is never silently dropped on short runs
        decay = min(total_steps - warmup, round(decay_frac * total_steps)) if kind == "wsd" else 0
        return cls(
            peak_lr=beta * base_lr,
            total_steps=total_steps,
            warmup_steps=warmup,
            min_lr_ratio=min_lr_ratio,
            kind=kind,
            decay_steps=decay,
        )

    @property
    def min_lr(self) -> float:
        return self.min_lr_ratio * self.peak_lr

    def __call__(self, step: int) -> float:
        """LR used for the optimizer update that takes the model from ``step`` to ``step + 1``."""
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return self.peak_lr
        if self.kind == "wsd":
            decay_start = self.total_steps - self.decay_steps
            if step < decay_start:
                return self.peak_lr
            # Linear from peak (at decay_start) to min (at the last step).
            frac = (step - decay_start + 1) / self.decay_steps
            return self.peak_lr - (self.peak_lr - self.min_lr) * min(1.0, frac)
        # cosine from peak (first step after warmup) to min (last step)
        span = self.total_steps - self.warmup_steps
        if span <= 1:
            return self.min_lr if step >= self.total_steps - 1 else self.peak_lr
        progress = min(1.0, (step - self.warmup_steps) / (span - 1))
        return self.min_lr + 0.5 * (self.peak_lr - self.min_lr) * (
            1.0 + math.cos(math.pi * progress)
        )
