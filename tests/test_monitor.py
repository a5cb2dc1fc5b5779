"""Forgetting monitor: alerts on regressions, actions, cooldown, resume."""

from __future__ import annotations

import json

import pytest

from cpt import ConfigError
from cpt.config import build
from cpt.evaluate.monitor import ForgettingMonitor, MonitorConfig, regression

HIB = {"ppl/general": False, "lm/t/acc": True}


def run(monitor, series, alpha=0.7, lr=1.0):
    """Feed (step, metrics) pairs, applying the actions as the trainer would; return all actions."""
    out = []
    for step, metrics in series:
        _alerts, actions = monitor.observe(step, metrics, HIB, alpha=alpha, lr_multiplier=lr)
        for a in actions:
            if a.kind == "raise_replay":
                alpha = a.value
            elif a.kind == "lower_lr":
                lr *= a.value
        out.append((step, [(a.kind, a.value) for a in actions], alpha, lr))
    return out


def make(**cfg) -> ForgettingMonitor:
    return ForgettingMonitor(build(MonitorConfig, cfg, "eval.monitor"), ["ppl/general", "lm/t/acc"])


def test_regression_direction():
    assert regression(10.5, 10.0, higher_is_better=False) == pytest.approx(0.05)
    assert regression(9.0, 10.0, higher_is_better=False) == pytest.approx(-0.1)
    assert regression(0.45, 0.5, higher_is_better=True) == pytest.approx(0.1)
    assert regression(0.0, 0.0, higher_is_better=True) == 0.0


def test_alert_on_forgetting_run_not_on_stable_run():
    forgetting = [(0, {"ppl/general": 20.0, "lm/t/acc": 0.5})] + [
        (s, {"ppl/general": 20.0 * (1 + 0.02 * s / 10), "lm/t/acc": 0.5}) for s in (10, 20, 30)
    ]
    stable = [(0, {"ppl/general": 20.0, "lm/t/acc": 0.5})] + [
        (s, {"ppl/general": 20.0 * (1 + 0.005 * (-1) ** s), "lm/t/acc": 0.495})
        for s in (10, 20, 30)
    ]
    m = make()
    run(m, forgetting)
    assert [(a.step, a.metric) for a in m.alerts] == [(20, "ppl/general"), (30, "ppl/general")]
    m2 = make()
    run(m2, stable)
    assert m2.alerts == []
    m3 = make()  # accuracy falling 10 % also alerts (higher is better)
    run(
        m3,
        [(0, {"ppl/general": 20.0, "lm/t/acc": 0.5}), (5, {"ppl/general": 20, "lm/t/acc": 0.45})],
    )
    assert [a.metric for a in m3.alerts] == ["lm/t/acc"]


SERIES = [(0, {"ppl/general": 10.0, "lm/t/acc": 0.5})] + [
    (s, {"ppl/general": 10.0 + 0.2 * s, "lm/t/acc": 0.5}) for s in range(1, 9)
]


def test_actions_change_alpha_and_lr_with_cooldown_and_floor():
    m = make(
        cooldown_evals=1,
        actions={
            "raise_replay": {"enabled": True, "step": 0.2, "min_alpha": 0.35},
            "lower_lr": {"enabled": True, "factor": 0.5, "min_multiplier": 0.2},
        },
    )
    trace = run(m, SERIES)
    acted = [(step, acts) for step, acts, _, _ in trace if acts]
    # alerts from step 2 (4 % worse); act at 2, cool down at 3, act at 4 (alpha floor), ...
    assert acted[0] == (2, [("raise_replay", 0.5), ("lower_lr", 0.5)])
    assert acted[1] == (4, [("raise_replay", 0.35), ("lower_lr", 0.5)])
    assert len(acted) == 2  # after that both knobs sit at their floors: alerts only
    final_alpha, final_lr = trace[-1][2], trace[-1][3]
    assert final_alpha == pytest.approx(0.35)  # never below min_alpha
    assert final_lr == pytest.approx(0.25)  # a third halving would go below 0.2
    assert all(step not in (3, 5, 7) for step, _ in acted)  # cooldown


def test_stop_action():
    m = make(actions={"stop": {"enabled": True}})
    trace = run(m, SERIES[:3])
    assert trace[2][1] == [("stop", 0.0)]


def test_state_dict_round_trip_replays_the_same_decisions():
    actions = {
        "raise_replay": {"enabled": True, "step": 0.1},
        "lower_lr": {"enabled": True, "factor": 0.7},
    }
    cfg = {"cooldown_evals": 2, "actions": actions}
    full = run(make(**cfg), SERIES)
    first = make(**cfg)
    head = run(first, SERIES[:4])
    state = json.loads(json.dumps(first.state_dict()))  # as stored in a checkpoint
    resumed = make(**cfg)
    resumed.load_state_dict(state)
    _, _, alpha, lr = head[-1]
    tail = run(resumed, SERIES[4:], alpha=alpha, lr=lr)
    assert head + tail == full
    assert any(acts for _, acts, _, _ in tail)  # the tail does act


def test_bad_config_names_the_key():
    with pytest.raises(ConfigError, match="unknown config key 'eval.monitor.treshold'"):
        make(treshold=0.1)
    with pytest.raises(ConfigError, match="'eval.monitor.actions.lower_lr.factor': 2.0 is out of"):
        make(actions={"lower_lr": {"factor": 2.0}})
    with pytest.raises(ConfigError, match="'eval.monitor.threshold': expected a number"):
        make(threshold="high")
    with pytest.raises(ConfigError, match="'eval.monitor.threshold': nan is not a finite number"):
        make(threshold=float("nan"))


def test_unknown_watched_metric_is_reported():
    m = ForgettingMonitor(MonitorConfig(metrics=["ppl/nope"]), [])
    with pytest.raises(ValueError, match=r"ppl/nope.*not produced"):
        m.observe(0, {"ppl/general": 1.0}, HIB, alpha=0.7, lr_multiplier=1.0)
