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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cpt import ConfigError

if TYPE_CHECKING:
    from cpt.train.config import TrainConfig

RESIZE_REPORT = "resize_report.json"  # written by cpt.tokenizer.resize beside the model


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


def first_new_id(cfg: TrainConfig) -> int | None:
    """The first new-token id: ``optim.new_token_first_id``, else ``base_vocab`` of the
    ``resize_report.json`` that ``python -m cpt.tokenizer resize`` wrote into ``model.path``;
    None when neither says."""
    if cfg.optim.new_token_first_id is not None:
        return cfg.optim.new_token_first_id
    if cfg.model.path is None:
        return None
    report = Path(cfg.model.path) / RESIZE_REPORT
    if not report.is_file():
        return None
    try:
        value = json.loads(report.read_text())["base_vocab"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{report}: cannot read key 'base_vocab' ({type(exc).__name__}: {exc}); set "
            "optim.new_token_first_id"
        ) from None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{report}: key 'base_vocab' is {value!r}, not a positive integer")
    return value


def build_control(cfg: TrainConfig, model: nn.Module, *, fsdp: bool) -> NewTokenControl | None:
    """The trainer's new-token control from ``optim.freeze_body_steps`` /
    ``optim.new_token_lr_mult``, or None when both are off. Config mistakes are ``ConfigError``s
    naming the key."""
    o = cfg.optim
    if o.freeze_body_steps == 0 and o.new_token_lr_mult == 1.0:
        return None
    if fsdp:
        raise ConfigError(
            "config keys 'optim.freeze_body_steps' / 'optim.new_token_lr_mult': not supported "
            "with FSDP (it flattens the embedding rows); use DDP or turn them off"
        )
    first = first_new_id(cfg) if o.new_token_lr_mult != 1.0 else None
    if o.new_token_lr_mult != 1.0 and first is None:
        raise ConfigError(
            "config key 'optim.new_token_lr_mult': the new rows are unknown: set "
            f"optim.new_token_first_id, or train a model.path written by "
            f"python -m cpt.tokenizer resize (it holds {RESIZE_REPORT})"
        )
    rows = int(model.get_input_embeddings().weight.shape[0])
    if first is not None and not 0 < first < rows:
        raise ConfigError(
            f"config key 'optim.new_token_first_id': {first} leaves no new row in the model's "
            f"{rows} embedding rows"
        )
    opts = NewTokenOptions(o.freeze_body_steps, o.new_token_lr_mult, first)
    return NewTokenControl(model, opts)


def describe(control: NewTokenControl | None) -> dict[str, Any]:
    """The start event's fields for the new-token options (empty when off)."""
    if control is None:
        return {}
    o = control.opts
    return {
        "freeze_body_steps": o.freeze_body_steps,
        "new_token_lr_mult": o.new_rows_lr_multiplier,
        "new_token_first_id": o.first_new_id,
        "frozen_body_parameters": sum(p.numel() for p in control.body),
    }
