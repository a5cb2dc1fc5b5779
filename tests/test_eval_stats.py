"""Standard errors and the paired test behind noise-aware alerts, on synthetic scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cpt.config import build
from cpt.evaluate.monitor import ForgettingMonitor, MonitorConfig
from cpt.evaluate.stats import Units, bootstrap_stderr, paired_bootstrap, paired_regression_test

HIB = {"lm/t/acc": True, "ppl/general": False}


def flipped(base: list[float], down: int, up: int, seed: int = 0) -> list[float]:
    """``base`` with ``down`` correct items made wrong and ``up`` wrong items made right."""
    rng = np.random.default_rng(seed)
    out = list(base)
    ones = [i for i, v in enumerate(base) if v == 1.0]
    zeros = [i for i, v in enumerate(base) if v == 0.0]
    for i in rng.choice(ones, down, replace=False):
        out[i] = 0.0
    for i in rng.choice(zeros, up, replace=False):
        out[i] = 1.0
    return out


BASE = [float(i % 2) for i in range(200)]  # accuracy 0.5 on 200 items


def monitor() -> ForgettingMonitor:
    cfg = build(MonitorConfig, {"threshold": 0.03, "significance": 0.05}, "eval.monitor")
    return ForgettingMonitor(cfg, ["lm/t/acc", "ppl/general"])


def observe(m: ForgettingMonitor, step: int, acc: list[float], nll: list[float], tok: list[float]):
    units = {"lm/t/acc": Units(acc), "ppl/general": Units(nll, tok, log=True)}
    metrics = {k: u.value() for k, u in units.items()}
    alerts, _ = m.observe(step, metrics, HIB, alpha=0.7, lr_multiplier=1.0, units=units)
    return {a.metric: a for a in alerts}


TOK = [500.0] * 20
NLL = [3.0 * t for t in TOK]  # 3 nats per token in every document


def test_noise_only_change_over_threshold_does_not_alert():
    m = monitor()
    observe(m, 0, BASE, NLL, TOK)
    # 20 items lost and 14 gained: 6 % worse, well over the 3 % threshold, but a coin toss
    acc = flipped(BASE, 20, 14)
    # documents move +-0.25 nats/token around a small mean: ppl about 2.5 % .. 8 % up, all noise
    nll = [n + t * (0.3 if i % 2 else -0.2) for i, (n, t) in enumerate(zip(NLL, TOK))]
    alerts = observe(m, 10, acc, nll, TOK)
    tests = m.last_tests
    assert tests["lm/t/acc"]["regression"] == pytest.approx(0.06)
    assert tests["ppl/general"]["regression"] > 0.03
    assert tests["lm/t/acc"]["p_value"] > 0.05 and tests["ppl/general"]["p_value"] > 0.05
    assert alerts == {}


def test_real_regression_alerts_with_its_p_value():
    m = monitor()
    observe(m, 0, BASE, NLL, TOK)
    acc = flipped(BASE, 30, 2)  # 28 net items lost: 28 % worse
    step = [0.05 + 0.01 * (i % 3) for i in range(len(TOK))]  # every document worse
    nll = [n + t * d for n, t, d in zip(NLL, TOK, step)]
    alerts = observe(m, 10, acc, nll, TOK)
    assert set(alerts) == {"lm/t/acc", "ppl/general"}
    assert alerts["lm/t/acc"].regression == pytest.approx(0.28)
    assert alerts["lm/t/acc"].p_value < 0.01
    assert alerts["ppl/general"].p_value < 0.01
    assert alerts["ppl/general"].regression == pytest.approx(math.exp(sum(step) / len(step)) - 1)


def test_significant_but_small_change_does_not_alert():
    m = monitor()
    observe(m, 0, BASE, NLL, TOK)
    nll = [n + t * 0.01 for n, t in zip(NLL, TOK)]  # 1 % worse on every document: certain, small
    alerts = observe(m, 10, BASE, nll, TOK)
    assert m.last_tests["ppl/general"]["p_value"] == 0.0
    assert alerts == {}


def test_baseline_units_survive_resume():
    m = monitor()
    observe(m, 0, BASE, NLL, TOK)
    state = m.state_dict()
    import json

    again = monitor()
    again.load_state_dict(json.loads(json.dumps(state)))
    assert set(observe(again, 10, flipped(BASE, 30, 2), NLL, TOK)) == {"lm/t/acc"}


def test_paired_test_needs_the_same_items():
    with pytest.raises(ValueError, match="same items"):
        paired_regression_test(Units([1.0, 0.0]), Units([1.0]), higher_is_better=True)


def test_bootstrap_stderr_matches_the_closed_form_for_an_accuracy():
    acc = flipped(BASE, 40, 0)  # p = 0.3 on 200 items
    p = sum(acc) / len(acc)
    closed = math.sqrt(p * (1 - p) / len(acc))
    assert bootstrap_stderr(Units(acc), iters=4000) == pytest.approx(closed, rel=0.08)
    # perplexity: documents that all agree have (almost) no error; spread documents have some
    assert bootstrap_stderr(Units(NLL, TOK, log=True)) == pytest.approx(0.0, abs=1e-9)
    spread = [n + t * (0.5 if i % 2 else -0.5) for i, (n, t) in enumerate(zip(NLL, TOK))]
    assert bootstrap_stderr(Units(spread, TOK, log=True)) > 0.5


def test_identical_evaluations_are_not_worse():
    t = paired_regression_test(Units(BASE), Units(BASE), higher_is_better=True)
    assert t.regression == 0.0 and t.p_value == 1.0


def test_paired_bootstrap_resamples_the_same_units_for_every_evaluation() -> None:
    # Two runs that differ on 10 of 200 items: paired, the difference's s.e. comes from those 10
    # items only; unpaired (independent resamples) it would be about sqrt(2) x 0.035.
    a = flipped(BASE, 10, 0, seed=1)
    va, vb, vc = paired_bootstrap([Units(BASE), Units(a), Units(BASE)], iters=2000, seed=3)
    assert np.array_equal(va, vc)  # same units, same indices: identical replicates
    diff = va - vb
    assert diff.min() >= 0  # b lost items and gained none: worse in every replicate
    assert 0.01 < diff.std() < 0.02  # sqrt(10 x (1 - 0.05)) / 200 = 0.015
    assert abs(va.std() - math.sqrt(0.25 / 200)) < 0.005
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap([Units(BASE), Units(BASE[:-1])])
