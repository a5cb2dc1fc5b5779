"""The one extension point of the training loop: evaluation, forgetting actions, checkpoint choice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from cpt import ConfigError

if TYPE_CHECKING:
    from cpt.train.config import TrainConfig

ActionKind = Literal["raise_replay", "lower_lr", "stop", "enable_ewc", "raise_ewc"]


@dataclass(frozen=True)
class Action:
    """A decision of the forgetting monitor that the loop carries out.

    raise_replay: set the domain share alpha to ``value`` (a lower alpha = more replay).
    lower_lr: multiply the learning rate from now on by ``value`` (cumulative).
    stop: end training after this step (a final checkpoint is still written).
    enable_ewc / raise_ewc: set the EWC lambda to ``value`` (needs ``optim.ewc``).
    The loss-spike guard's rollback is recorded in the same list of actions (kind ``rollback``).
    """

    kind: ActionKind
    value: float
    reason: str


class TrainingView(Protocol):
    """What a hook may read of the running trainer."""

    step: int
    tokens_seen: int
    alpha: float
    lr_multiplier: float
    run_dir: Path
    ewc_lambda: float  # 0 = EWC off (or not configured)


class EvaluationHook(Protocol):
    every: int  # evaluate at step 0 (the base model) and every `every` optimizer steps; 0 = never

    def evaluate(self, model: Any, view: TrainingView) -> list[Action]:
        """Score the (unwrapped) model; return the actions to take. Must leave the model in train mode."""

    def on_checkpoint(self, step: int, path: Path) -> None:
        """A checkpoint for ``step`` was written at ``path``."""

    def protected_checkpoints(self) -> set[Path]:
        """Checkpoints that rotation of the last-N must not delete (the best-K)."""

    def finalize(self, model: Any, view: TrainingView) -> None:
        """At the end: export the best checkpoint, write the report and plots."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def load_hook(
    cfg: TrainConfig, accelerator: Any, tokenizer: Any, tok_hash: str
) -> EvaluationHook | None:
    """The run's hook: ``run.hook`` (``module:factory``), else the evaluation package's when
    ``eval.enabled``, else none."""
    if cfg.run.hook:
        import importlib

        module_name, _, func_name = cfg.run.hook.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), func_name or "build_hook")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"config key 'run.hook': cannot load {cfg.run.hook!r}: {exc}"
            ) from None
        hook: EvaluationHook = factory(cfg, accelerator, cfg.run_dir)
        return hook
    if cfg.eval.enabled:
        from cpt.evaluate import build_hook  # owned by the evaluation package

        built: EvaluationHook = build_hook(
            cfg.eval,
            tokenizer=tokenizer,
            tokenizer_hash=tok_hash,
            accelerator=accelerator,
            run_dir=cfg.run_dir,
        )
        return built
    return None
