"""Checkpoint selector: composite score of domain gain and general regression, best-K, export."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpt.evaluate.config import SelectConfig

log = logging.getLogger("cpt.evaluate.select")

__all__ = ["Candidate", "CheckpointSelector", "SelectConfig", "composite_score"]


def composite_score(config: SelectConfig, domain_gain: float, general_regression: float) -> float:
    return config.domain_weight * domain_gain - config.general_weight * general_regression


@dataclass
class Candidate:
    step: int
    domain_gain: float
    general_regression: float
    score: float
    eligible: bool
    #: the regression held against the limit: the worst watched metric whose regression is
    #: beyond noise (the monitor's paired test); None in records from before it existed
    significant_regression: float | None = None


class CheckpointSelector:
    """Scores each evaluated step; knows which checkpoint directory holds which step."""

    def __init__(self, config: SelectConfig) -> None:
        self.config = config
        self.candidates: dict[int, Candidate] = {}
        self.checkpoints: dict[int, str] = {}

    def record(
        self,
        step: int,
        domain_gain: float,
        general_regression: float,
        significant_regression: float | None = None,
    ) -> Candidate:
        """Score one evaluation. The score weighs the worst regression as measured; eligibility
        holds ``significant_regression`` (default: the same) against ``regression_limit``, so an
        item or two flipping on a small benchmark subset does not disqualify a checkpoint."""
        limited = general_regression if significant_regression is None else significant_regression
        c = Candidate(
            step,
            domain_gain,
            general_regression,
            composite_score(self.config, domain_gain, general_regression),
            limited <= self.config.regression_limit,
            limited,
        )
        self.candidates[step] = c
        return c

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.checkpoints[step] = str(path)

    def ranking(self, *, extra_steps: set[int] = frozenset()) -> list[Candidate]:  # type: ignore[assignment]
        """Eligible candidates with a checkpoint on disk (or in ``extra_steps``), best first.

        Step 0 (the untouched base model) is never a candidate. Ties go to the earlier step.
        """
        out = [
            c
            for c in self.candidates.values()
            if c.eligible
            and c.step > 0
            and (
                c.step in extra_steps
                or (c.step in self.checkpoints and Path(self.checkpoints[c.step]).exists())
            )
        ]
        return sorted(out, key=lambda c: (-c.score, c.step))

    def protected(self) -> set[Path]:
        return {Path(self.checkpoints[c.step]) for c in self.ranking()[: self.config.keep_best]}

    def best(self, final_step: int | None = None) -> Candidate | None:
        extra = {final_step} if final_step is not None else set()
        ranked = self.ranking(extra_steps=extra)
        return ranked[0] if ranked else None

    def state_dict(self) -> dict[str, Any]:
        return {
            "candidates": [vars(c).copy() for c in self.candidates.values()],
            "checkpoints": {str(k): v for k, v in self.checkpoints.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.candidates = {int(c["step"]): Candidate(**c) for c in state["candidates"]}
        self.checkpoints = {int(k): v for k, v in state["checkpoints"].items()}


def checkpoint_weights(ckpt: Path) -> dict[str, Any]:
    """The model state dict of an Accelerate ``save_state`` directory (or a save_pretrained one)."""
    import torch

    for name in ("model.safetensors", "model_0.safetensors"):
        if (ckpt / name).is_file():
            from safetensors.torch import load_file

            return load_file(str(ckpt / name))
    for name in ("pytorch_model.bin", "pytorch_model_0.bin"):
        if (ckpt / name).is_file():
            return torch.load(ckpt / name, map_location="cpu", weights_only=True)
    if (ckpt / "model.safetensors.index.json").is_file():
        import json

        from safetensors.torch import load_file

        index = json.loads((ckpt / "model.safetensors.index.json").read_text())
        state: dict[str, Any] = {}
        for shard in sorted(set(index["weight_map"].values())):
            state.update(load_file(str(ckpt / shard)))
        return state
    raise FileNotFoundError(
        f"{ckpt}: no model weights (model.safetensors, pytorch_model.bin or a sharded index)"
    )


def load_into(model: Any, state: dict[str, Any], source: Path) -> None:
    """Load ``state`` into ``model``; keys missing only because they are tied weights are fine."""
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        bad = result.unexpected_keys[:5]
        raise ValueError(f"{source}: weights do not fit the model: unexpected {bad}")
    if result.missing_keys:
        model.tie_weights()
        params = dict(model.named_parameters(remove_duplicate=False))
        loaded_ptrs = {params[k].data_ptr() for k in state if k in params}
        untied = [
            k
            for k in result.missing_keys
            if k not in params or params[k].data_ptr() not in loaded_ptrs
        ]
        if untied:
            raise ValueError(f"{source}: weights do not fit the model: missing {untied[:5]}")


def export_model(model: Any, tokenizer: Any, out_dir: Path) -> None:
    """``save_pretrained`` (safetensors) into ``out_dir`` atomically: a temp dir, then rename."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)


def export_checkpoint(model: Any, tokenizer: Any, ckpt: Path, out_dir: Path) -> None:
    """Rebuild ``model``'s architecture, load the weights of checkpoint ``ckpt`` and export them."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = next(model.parameters()).dtype
    fresh = AutoModelForCausalLM.from_config(model.config, dtype=dtype)
    with torch.no_grad():
        load_into(fresh, checkpoint_weights(Path(ckpt)), Path(ckpt))
    export_model(fresh, tokenizer, out_dir)
