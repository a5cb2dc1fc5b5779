"""LR schedule values at chosen steps: warmup start/end, mid-cosine, end = min; WSD; constant."""

from __future__ import annotations

import math

import pytest

from cpt.schedule import LRSchedule


def _cosine() -> LRSchedule:
    # base 3e-4, beta 0.1 -> peak 3e-5; 1000 steps, 1 % warmup -> 10 steps; min 0.1 x peak
    return LRSchedule.build(
        base_lr=3e-4, beta=0.1, total_steps=1000, warmup_frac=0.01, min_lr_ratio=0.1
    )


def test_peak_is_beta_times_base() -> None:
    s = _cosine()
    assert s.peak_lr == pytest.approx(3e-5)
    assert s.warmup_steps == 10
    assert s.min_lr == pytest.approx(3e-6)


def test_cosine_values() -> None:
    s = _cosine()
    assert s(0) == pytest.approx(3e-6)  # first warmup step: peak / warmup_steps
    assert s(4) == pytest.approx(1.5e-5)
    assert s(9) == pytest.approx(3e-5)  # warmup end = peak
    assert s(10) == pytest.approx(3e-5)  # cosine starts at peak
    mid = 10 + (1000 - 10 - 1) / 2
    assert s(int(mid)) == pytest.approx((3e-5 + 3e-6) / 2, rel=1e-2)
    assert s(999) == pytest.approx(3e-6)  # last step = min
    assert s(5000) == pytest.approx(3e-6)  # past the end: stays at min
    values = [s(i) for i in range(10, 1000)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone decay


def test_cosine_exact_formula() -> None:
    s = _cosine()
    step = 300
    progress = (step - 10) / (1000 - 10 - 1)
    want = 3e-6 + 0.5 * (3e-5 - 3e-6) * (1 + math.cos(math.pi * progress))
    assert s(step) == pytest.approx(want, rel=1e-12)


def test_wsd_values() -> None:
    s = LRSchedule.build(
        base_lr=1e-3,
        beta=0.1,
        total_steps=100,
        warmup_frac=0.05,
        min_lr_ratio=0.1,
        kind="wsd",
        decay_frac=0.2,
    )
    assert (s.warmup_steps, s.decay_steps) == (5, 20)
    assert s(0) == pytest.approx(2e-5)
    assert s(4) == pytest.approx(1e-4)
    assert s(5) == s(50) == s(79) == pytest.approx(1e-4)  # stable phase at peak
    assert s(89) == pytest.approx(1e-4 - 0.9e-4 * 10 / 20)  # halfway through the decay
    assert s(99) == pytest.approx(1e-5)  # ends at min


def test_constant_and_no_warmup() -> None:
    s = LRSchedule.build(
        base_lr=1.0, beta=0.5, total_steps=10, warmup_frac=0.0, min_lr_ratio=0.1, kind="constant"
    )
    assert [s(i) for i in (0, 5, 9)] == [0.5, 0.5, 0.5]


def test_short_run_keeps_a_warmup_step() -> None:
    s = LRSchedule.build(base_lr=1.0, beta=1.0, total_steps=20, warmup_frac=0.01, min_lr_ratio=0.1)
    assert s.warmup_steps == 1 and s(0) == 1.0 and s(19) == pytest.approx(0.1)


def test_bad_schedule_rejected() -> None:
    with pytest.raises(ValueError):
        LRSchedule.build(base_lr=1.0, beta=1.0, total_steps=0, warmup_frac=0.0, min_lr_ratio=0.1)
    with pytest.raises(ValueError):
        LRSchedule.build(
            base_lr=1.0, beta=1.0, total_steps=5, warmup_frac=0.0, min_lr_ratio=0.1, kind="linear"
        )
