"""Forgetting monitor: general metrics against the step-0 baseline, alerts, and optional actions."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

from cpt.evaluate.config import MonitorConfig
from cpt.evaluate.stats import Units, paired_regression_test, regression
from cpt.train.hooks import Action

log = logging.getLogger("cpt.evaluate.monitor")

__all__ = ["Alert", "ForgettingMonitor", "MonitorConfig", "regression"]


@dataclass
class Alert:
    step: int
    metric: str
    value: float
    baseline: float
    regression: float
    p_value: float | None = None  # paired bootstrap vs. step 0; None = no per-item data: untested


class ForgettingMonitor:
    """Compares each evaluation with the first one (step 0, the base model) and decides actions.

    An alert needs the regression of a watched metric to exceed ``threshold`` and, where the
    evaluation gives per-unit data (items of an accuracy, documents of a perplexity), to be
    significant: one-sided paired bootstrap p-value below ``significance`` on the same units as
    step 0 (``cpt.evaluate.stats``). A metric without per-unit data alerts on the threshold alone.
    """

    def __init__(self, config: MonitorConfig, default_metrics: list[str]) -> None:
        self.config = config
        self.metrics = list(config.metrics) if config.metrics is not None else list(default_metrics)
        self.baseline: dict[str, float] | None = None
        self.baseline_units: dict[str, Units] = {}
        self.last_tests: dict[str, dict[str, float]] = {}  # metric -> {regression, p_value}
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

    def significant(self, regressions: dict[str, float]) -> dict[str, float]:
        """The regressions of the last :meth:`observe` that are beyond noise: significant under
        its paired test, or untested (no per-unit data), as an alert would judge them."""
        return {
            name: reg
            for name, reg in regressions.items()
            if name not in self.last_tests
            or self.last_tests[name]["p_value"] < self.config.significance
        }

    def observe(
        self,
        step: int,
        metrics: dict[str, float],
        higher_is_better: dict[str, bool],
        *,
        alpha: float,
        lr_multiplier: float,
        ewc_lambda: float = 0.0,
        units: dict[str, Units] | None = None,
    ) -> tuple[list[Alert], list[Action]]:
        """Record one evaluation; the first one becomes the baseline. Returns (alerts, actions)."""
        index = self.evals
        self.evals += 1
        units = units or {}
        self.last_tests = {}
        if self.baseline is None:
            missing = [m for m in self.metrics if m not in metrics]
            if missing:
                raise ValueError(
                    f"eval.monitor.metrics: {missing} not produced by the evaluation; "
                    f"available: {sorted(metrics)}"
                )
            self.baseline = dict(metrics)
            self.baseline_units = {k: units[k] for k in self.metrics if k in units}
            return [], []
        alerts = []
        for name, reg in self.regressions(metrics, higher_is_better).items():
            p = self._p_value(name, units.get(name), higher_is_better.get(name, False))
            if p is not None:
                self.last_tests[name] = {"regression": reg, "p_value": p}
            if reg > self.config.threshold and name in self.significant({name: reg}):
                alerts.append(Alert(step, name, metrics[name], self.baseline[name], reg, p))
            elif reg > self.config.threshold:
                log.info(
                    "step %d: %s is %.1f %% worse than at step 0, within noise (paired p = %.3g)",
                    step, name, 100 * reg, p,
                )  # fmt: skip
        for a in alerts:
            log.warning(
                "forgetting alert at step %d: %s = %.4g vs. %.4g at step 0 "
                "(%.1f %% worse; limit %.1f %%; paired p = %s)",
                a.step, a.metric, a.value, a.baseline, 100 * a.regression,
                100 * self.config.threshold,
                "untested" if a.p_value is None else f"{a.p_value:.3g}",
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

    def _p_value(self, name: str, current: Units | None, higher_is_better: bool) -> float | None:
        base = self.baseline_units.get(name)
        if base is None or current is None or len(base.num) != len(current.num):
            if base is not None and current is not None:
                log.warning("%s: the items differ from step 0's; not tested", name)
            return None
        test = paired_regression_test(
            base, current, higher_is_better=higher_is_better, iters=self.config.bootstrap,
            seed=self.evals,
        )  # fmt: skip
        return None if math.isnan(test.p_value) else test.p_value

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
            "baseline_units": {k: u.to_dict() for k, u in self.baseline_units.items()},
            "evals": self.evals,
            "last_action_eval": self.last_action_eval,
            "alerts": [asdict(a) for a in self.alerts],
            "actions": [dict(a) for a in self.actions],
            "metrics": list(self.metrics),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baseline = dict(state["baseline"]) if state["baseline"] is not None else None
        self.baseline_units = {
            k: Units.from_dict(u) for k, u in state.get("baseline_units", {}).items()
        }
        self.evals = int(state["evals"])
        self.last_action_eval = state["last_action_eval"]
        self.alerts = [Alert(**a) for a in state["alerts"]]
        self.actions = [dict(a) for a in state["actions"]]
        self.metrics = list(state["metrics"])
