"""LR schedule values at chosen steps, worked out by hand (not with the schedule's formulas).

Each expected number is written out from the definition in DESIGN.md: peak = beta x base_lr, a
linear re-warmup reaching the peak at the last warmup step, then cosine (or WSD's linear decay) to
min_lr_ratio x peak at the last step.
"""

from __future__ import annotations

import pytest

from cpt.schedule import LRSchedule


def test_design_defaults_peak_and_warmup() -> None:
    # base 3e-4, beta 0.1 -> peak 3e-5; 1 % of 1000 steps -> 10 warmup steps; min 3e-6
    s = LRSchedule.build(
        base_lr=3e-4, beta=0.1, total_steps=1000, warmup_frac=0.01, min_lr_ratio=0.1
    )
    assert (s.peak_lr, s.warmup_steps, s.min_lr) == pytest.approx((3e-5, 10, 3e-6))
    assert s(0) == pytest.approx(3e-6)  # 1/10 of the peak
    assert s(4) == pytest.approx(1.5e-5)  # 5/10
    assert s(9) == pytest.approx(3e-5)  # 10/10: the peak
    assert s(999) == pytest.approx(3e-6)
    assert s(5000) == pytest.approx(3e-6)  # past the end: stays at min


def test_cosine_by_hand() -> None:
    # peak 0.1, min 0.01; 12 steps, 3 of warmup; the cosine runs over steps 3..11, so
    # progress = (step - 3) / 8 and lr = 0.01 + 0.045 * (1 + cos(pi * progress)).
    s = LRSchedule.build(base_lr=1.0, beta=0.1, total_steps=12, warmup_frac=0.25, min_lr_ratio=0.1)
    want = {
        0: 0.1 / 3,  # warmup 1/3
        1: 0.2 / 3,  # warmup 2/3
        2: 0.1,  # warmup end = peak
        3: 0.1,  # progress 0: cos 0 = 1
        5: 0.0868198051533946,  # progress 1/4: cos(pi/4) = 0.7071067811865476
        7: 0.055,  # progress 1/2: cos(pi/2) = 0 -> halfway between peak and min
        9: 0.0231801948466054,  # progress 3/4: cos(3pi/4) = -0.7071067811865476
        11: 0.01,  # progress 1: the minimum
    }
    for step, lr in want.items():
        assert s(step) == pytest.approx(lr, rel=1e-12, abs=1e-15), step
    values = [s(i) for i in range(3, 12)]
    assert all(a > b for a, b in zip(values, values[1:]))  # strictly decaying


def test_wsd_by_hand() -> None:
    # peak 1, min 0.1; 20 steps: 2 of warmup, stable to step 14, linear decay over steps 15..19
    s = LRSchedule.build(
        base_lr=1.0,
        beta=1.0,
        total_steps=20,
        warmup_frac=0.1,
        min_lr_ratio=0.1,
        kind="wsd",
        decay_frac=0.25,
    )
    assert (s.warmup_steps, s.decay_steps) == (2, 5)
    want = {0: 0.5, 1: 1.0, 2: 1.0, 14: 1.0, 15: 0.82, 16: 0.64, 17: 0.46, 18: 0.28, 19: 0.1}
    for step, lr in want.items():
        assert s(step) == pytest.approx(lr, rel=1e-12), step


def test_constant_and_no_warmup() -> None:
    s = LRSchedule.build(
        base_lr=1.0, beta=0.5, total_steps=10, warmup_frac=0.0, min_lr_ratio=0.1, kind="constant"
    )
    assert [s(i) for i in (0, 5, 9)] == [0.5, 0.5, 0.5]


def test_short_run_keeps_a_warmup_step() -> None:
    # 1 % of 20 steps rounds to 0 warmup steps: one is kept; the cosine runs over steps 1..19
    s = LRSchedule.build(base_lr=1.0, beta=1.0, total_steps=20, warmup_frac=0.01, min_lr_ratio=0.1)
    assert s.warmup_steps == 1
    assert s(0) == 1.0
    assert s(10) == pytest.approx(0.55, rel=1e-12)  # progress (10 - 1) / 18 = 1/2
    assert s(19) == pytest.approx(0.1, rel=1e-12)


def test_bad_schedule_rejected() -> None:
    with pytest.raises(ValueError):
        LRSchedule.build(base_lr=1.0, beta=1.0, total_steps=0, warmup_frac=0.0, min_lr_ratio=0.1)
    with pytest.raises(ValueError):
        LRSchedule.build(
            base_lr=1.0, beta=1.0, total_steps=5, warmup_frac=0.0, min_lr_ratio=0.1, kind="linear"
        )
