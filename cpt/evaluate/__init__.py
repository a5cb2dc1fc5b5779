"""Evaluation during continued pretraining: perplexity, lm-eval tasks, and the trainer's hook.

``build_hook`` is the factory the trainer calls with its ``eval:`` config section.
"""

from __future__ import annotations

from typing import Any


def build_hook(
    eval_cfg: dict[str, Any],
    *,
    tokenizer: Any,
    tokenizer_hash: str | None,
    accelerator: Any,
    run_dir: Any,
) -> Any:
    """Validate ``eval_cfg`` (see ``cpt.evaluate.hook.EvalConfig``) and return the hook, or None."""
    from cpt.evaluate.hook import build_hook as _build

    return _build(
        eval_cfg, tokenizer=tokenizer, tokenizer_hash=tokenizer_hash, accelerator=accelerator,
        run_dir=run_dir,
    )  # fmt: skip


__all__ = ["build_hook"]
