"""Forgetting monitor: general metrics against the step-0 baseline, alerts, and optional actions."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

from cpt.evaluate.config import MonitorConfig
from cpt.train.hooks import Action

log = logging.getLogger("cpt.evaluate.monitor")

__all__ = ["Alert", "ForgettingMonitor", "MonitorConfig", "regression"]


def regression(value: float, base: float, higher_is_better: bool) -> float:
    """Signed relative worsening vs. ``base`` (> 0 = worse), e.g. 0.05 = 5 % worse."""
    worse = (base - value) if higher_is_better else (value - base)
    if base == 0:
        return 0.0 if worse <= 0 else math.inf
    return worse / abs(base)


@dataclass
class Alert:
    step: int
    metric: str
    value: float
    baseline: float
    regression: float


class ForgettingMonitor:
    """Compares each evaluation with the first one (step 0, the base model) and decides actions."""

    def __init__(self, config: MonitorConfig, default_metrics: list[str]) -> None:
        self.config = config
        self.metrics = list(config.metrics) if config.metrics is not None else list(default_metrics)
        self.baseline: dict[str, float] | None = None
        self.evals = 0
        self.last_action_eval: int | None = None
        self.alerts: list[Alert] = []
        self.actions: list[dict[str, Any]] = []  # {step, kind, value, reason}

    def regressions(
        self, metrics: dict[str, float], higher_is_better: dict[str, bool]
    ) -> dict[str, float]:
        """Regression of each watched metric present now and at the baseline."""
        if self.baseline is None:
            return {}
        out = {}
        for name in self.metrics:
            if name in metrics and name in self.baseline:
                hib = higher_is_better.get(name, False)
                out[name] = regression(metrics[name], self.baseline[name], hib)
        return out

    def observe(
        self,
        step: int,
        metrics: dict[str, float],
        higher_is_better: dict[str, bool],
        *,
        alpha: float,
        lr_multiplier: float,
        ewc_lambda: float = 0.0,
    ) -> tuple[list[Alert], list[Action]]:
        """Record one evaluation; the first one becomes the baseline. Returns (alerts, actions)."""
        index = self.evals
        self.evals += 1
        if self.baseline is None:
            missing = [m for m in self.metrics if m not in metrics]
            if missing:
                raise ValueError(
                    f"eval.monitor.metrics: {missing} not produced by the evaluation; "
                    f"available: {sorted(metrics)}"
                )
            self.baseline = dict(metrics)
            return [], []
        alerts = [
            Alert(step, name, metrics[name], self.baseline[name], reg)
            for name, reg in self.regressions(metrics, higher_is_better).items()
            if reg > self.config.threshold
        ]
        for a in alerts:
            log.warning(
                "forgetting alert at step %d: %s = %.4g vs. %.4g at step 0 "
                "(%.1f %% worse; limit %.1f %%)",
                a.step, a.metric, a.value, a.baseline, 100 * a.regression,
                100 * self.config.threshold,
            )  # fmt: skip
        self.alerts.extend(alerts)
        actions: list[Action] = []
        cooling = (
            self.last_action_eval is not None
            and index - self.last_action_eval <= self.config.cooldown_evals
        )
        if alerts and not cooling:
            actions = self._actions(alerts, alpha, lr_multiplier, ewc_lambda)
            if actions:
                self.last_action_eval = index
                for act in actions:
                    log.warning("forgetting action at step %d: %s -> %g", step, act.kind, act.value)
                    self.actions.append(
                        {"step": step, "kind": act.kind, "value": act.value, "reason": act.reason}
                    )
        return alerts, actions

    def _actions(
        self, alerts: list[Alert], alpha: float, lr_multiplier: float, ewc_lambda: float = 0.0
    ) -> list[Action]:
        worst = max(alerts, key=lambda a: a.regression)
        reason = f"{worst.metric} {100 * worst.regression:.1f} % worse than at step 0"
        acts = self.config.actions
        out = []
        if acts.raise_replay.enabled:
            new_alpha = max(acts.raise_replay.min_alpha, alpha - acts.raise_replay.step)
            if new_alpha < alpha - 1e-9:
                out.append(Action("raise_replay", round(new_alpha, 6), reason))
        if acts.lower_lr.enabled:
            if lr_multiplier * acts.lower_lr.factor >= acts.lower_lr.min_multiplier - 1e-12:
                out.append(Action("lower_lr", acts.lower_lr.factor, reason))
        if acts.ewc.enabled:  # value = the new lambda
            if ewc_lambda <= 0:
                out.append(Action("enable_ewc", acts.ewc.initial, reason))
            elif ewc_lambda * acts.ewc.factor <= acts.ewc.max_lambda:
                out.append(Action("raise_ewc", ewc_lambda * acts.ewc.factor, reason))
        if acts.stop.enabled:
            out.append(Action("stop", 0.0, reason))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "evals": self.evals,
            "last_action_eval": self.last_action_eval,
            "alerts": [asdict(a) for a in self.alerts],
            "actions": [dict(a) for a in self.actions],
            "metrics": list(self.metrics),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baseline = dict(state["baseline"]) if state["baseline"] is not None else None
        self.evals = int(state["evals"])
        self.last_action_eval = state["last_action_eval"]
        self.alerts = [Alert(**a) for a in state["alerts"]]
        self.actions = [dict(a) for a in state["actions"]]
        self.metrics = list(state["metrics"])
