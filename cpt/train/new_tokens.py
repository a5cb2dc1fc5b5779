"""Training support for an extended vocabulary (cpt.tokenizer): an optional first phase that
trains only the input embeddings and the output head (``freeze_body_steps``), and a separate
learning-rate multiplier for the new rows (ids from ``first_new_id``).

Rows of one matrix cannot sit in different optimizer groups, so the multiplier scales the update
the optimizer made to the new rows: ``w = w_before + m * (w_after - w_before)``. For AdamW (no
weight decay on embeddings) that is exactly an LR of ``m x lr`` for those rows. Freezing drops the
body's gradients before the step, so the optimizer skips those parameters (no update, no decay)
while the parameter set, and any DDP/FSDP wrapping, stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class NewTokenOptions:
    freeze_body_steps: int = 0
    new_rows_lr_multiplier: float = 1.0
    first_new_id: int | None = None  # required when the multiplier is not 1

    def __post_init__(self) -> None:
        if self.freeze_body_steps < 0:
            raise ValueError(f"freeze_body_steps must be >= 0, not {self.freeze_body_steps}")
        if self.new_rows_lr_multiplier < 0:
            raise ValueError(
                f"new_rows_lr_multiplier must be >= 0, not {self.new_rows_lr_multiplier}"
            )
        if self.new_rows_lr_multiplier != 1.0 and self.first_new_id is None:
            raise ValueError("new_rows_lr_multiplier needs first_new_id (the first new token id)")

    @property
    def active(self) -> bool:
        return self.freeze_body_steps > 0 or self.new_rows_lr_multiplier != 1.0


class NewTokenControl:
    """Call ``before_step(step)`` after backward and before ``optimizer.step()``, then
    ``after_step()`` right after it."""

    def __init__(self, model: nn.Module, opts: NewTokenOptions) -> None:
        self.opts = opts
        emb = model.get_input_embeddings().weight
        head = model.get_output_embeddings()
        self.matrices = [emb] if head is None or head.weight is emb else [emb, head.weight]
        keep = {id(w) for w in self.matrices}
        self.body = [p for p in model.parameters() if id(p) not in keep]
        rows = emb.shape[0]
        if opts.first_new_id is not None and not 0 < opts.first_new_id <= rows:
            raise ValueError(f"first_new_id {opts.first_new_id} is outside the {rows} rows")
        self._before: list[torch.Tensor] = []

    def body_frozen(self, step: int) -> bool:
        return step < self.opts.freeze_body_steps

    def before_step(self, step: int) -> None:
        if self.body_frozen(step):
            for p in self.body:
                p.grad = None
        if self.opts.new_rows_lr_multiplier != 1.0:
            first = self.opts.first_new_id
            self._before = [w.detach()[first:].clone() for w in self.matrices]

    def after_step(self) -> None:
        if not self._before:
            return
        m, first = self.opts.new_rows_lr_multiplier, self.opts.first_new_id
        with torch.no_grad():
            for w, before in zip(self.matrices, self._before):
                rows = w[first:]
                rows.copy_(before + m * (rows - before))
        self._before = []

    def log_values(self, step: int) -> dict[str, float]:
        """What the trainer logs each step while this is active."""
        return {
            "new_tokens/body_frozen": float(self.body_frozen(step)),
            "new_tokens/new_rows_lr_multiplier": self.opts.new_rows_lr_multiplier,
        }
