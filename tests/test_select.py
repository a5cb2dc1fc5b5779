"""Checkpoint selector: composite score, regression limit, best-K, export from Accelerate state."""

from __future__ import annotations

import pytest
from test_eval_common import tiny_model, tokenizer, torch

from cpt.config import build
from cpt.evaluate.select import CheckpointSelector, SelectConfig, export_checkpoint

# (step, domain gain, general regression)
HISTORY = [
    (0, 0.0, 0.0),
    (100, 0.10, 0.00),
    (200, 0.20, 0.02),
    (300, 0.35, 0.08),
    (400, 0.25, 0.01),
]


def hand_best(domain_weight, general_weight, limit, available):
    """The choice written out by hand: best eligible weighted score, earliest on ties."""
    best = None
    for step, gain, reg in HISTORY:
        if step == 0 or step not in available or reg > limit:
            continue
        score = domain_weight * gain - general_weight * reg
        if best is None or score > best[1]:
            best = (step, score)
    return best[0] if best else None


@pytest.mark.parametrize(
    "dw,gw,limit",
    [(1.0, 1.0, 0.05), (1.0, 1.0, 0.10), (1.0, 10.0, 0.10), (0.0, 1.0, 0.10), (1.0, 0.0, 0.05)],
)
def test_selector_picks_what_a_hand_scoring_picks(tmp_path, dw, gw, limit):
    cfg = build(
        SelectConfig,
        {"domain_weight": dw, "general_weight": gw, "regression_limit": limit, "keep_best": 2},
        "eval.select",
    )
    sel = CheckpointSelector(cfg)
    for step, gain, reg in HISTORY:
        sel.record(step, gain, reg)
        (tmp_path / f"step-{step}").mkdir()
        sel.on_checkpoint(step, tmp_path / f"step-{step}")
    available = {s for s, _, _ in HISTORY}
    assert sel.best().step == hand_best(dw, gw, limit, available)
    # a rotated-away checkpoint is no longer a candidate
    gone = sel.best().step
    (tmp_path / f"step-{gone}").rmdir()
    expected = hand_best(dw, gw, limit, available - {gone})
    assert (sel.best().step if sel.best() else None) == expected


def test_best_k_protected_and_over_limit_never(tmp_path):
    sel = CheckpointSelector(SelectConfig(keep_best=2, regression_limit=0.05))
    for step, gain, reg in HISTORY:
        sel.record(step, gain, reg)
        (tmp_path / str(step)).mkdir()
        sel.on_checkpoint(step, tmp_path / str(step))
    # scores: 100 -> 0.10, 200 -> 0.18, 300 ineligible (8 % > 5 %), 400 -> 0.24
    assert sel.protected() == {tmp_path / "400", tmp_path / "200"}
    state = sel.state_dict()
    again = CheckpointSelector(SelectConfig(keep_best=2, regression_limit=0.05))
    again.load_state_dict(state)
    assert again.protected() == sel.protected()
    # the final in-memory model can win without a checkpoint of its own
    sel.record(500, 0.5, 0.0)
    assert sel.best(final_step=500).step == 500
    assert sel.best().step == 400


def test_eligibility_holds_only_significant_regressions_to_the_limit():
    """An item flipping on a 40-item subset (-4 %, not significant) must not disqualify."""
    sel = CheckpointSelector(SelectConfig(keep_best=0, regression_limit=0.03))
    noise = sel.record(10, 0.30, 0.043, significant_regression=0.0)
    real = sel.record(20, 0.35, 0.043, significant_regression=0.043)
    assert noise.eligible and not real.eligible
    assert noise.score == pytest.approx(0.30 - 0.043)  # the score still pays the measured loss
    assert sel.best(final_step=10).step == 10
    assert sel.record(30, 0.3, 0.043).eligible is False  # without a test: the regression itself


def test_monitor_marks_significant_regressions_like_its_alerts():
    from cpt.evaluate.monitor import ForgettingMonitor, MonitorConfig
    from cpt.evaluate.stats import Units

    mon = ForgettingMonitor(MonitorConfig(threshold=0.03), ["lm/a/acc", "lm/b/acc"])
    hib = {"lm/a/acc": True, "lm/b/acc": True}
    ones = [1.0] * 40
    base = {"lm/a/acc": 1.0, "lm/b/acc": 1.0}
    units = {k: Units(num=ones, den=[1.0] * 40) for k in base}
    mon.observe(0, base, hib, alpha=0.7, lr_multiplier=1.0, units=units)
    one_flip = [0.0] + ones[1:]  # 1 of 40 items: within noise
    half = [0.0] * 20 + ones[20:]  # 20 of 40: far beyond it
    now = {"lm/a/acc": 39 / 40, "lm/b/acc": 0.5}
    alerts, _ = mon.observe(
        5, now, hib, alpha=0.7, lr_multiplier=1.0,
        units={"lm/a/acc": Units(num=one_flip, den=[1.0] * 40),
               "lm/b/acc": Units(num=half, den=[1.0] * 40)},
    )  # fmt: skip
    regs = mon.regressions(now, hib)
    assert set(mon.significant(regs)) == {"lm/b/acc"} == {a.metric for a in alerts}
    # a metric without per-item data is judged on its regression alone
    assert mon.significant({"lm/c/acc": 0.04}) == {"lm/c/acc": 0.04}


def test_export_from_accelerate_save_state(tmp_path):
    from accelerate import Accelerator
    from transformers import AutoModelForCausalLM

    model = tiny_model(seed=5, max_positions=64, tie=True)
    acc = Accelerator(cpu=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model, opt = acc.prepare(model, opt)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    ckpt = tmp_path / "checkpoints" / "step-00000010"
    acc.save_state(str(ckpt))
    assert (ckpt / "model.safetensors").is_file()
    saved = {k: v.clone() for k, v in acc.unwrap_model(model).state_dict().items()}
    with torch.no_grad():  # training goes on after the checkpoint
        for p in model.parameters():
            p.add_(1.0)
    export_checkpoint(acc.unwrap_model(model), tokenizer(), ckpt, tmp_path / "best")
    best = AutoModelForCausalLM.from_pretrained(tmp_path / "best")
    assert (tmp_path / "best" / "model.safetensors").is_file()
    assert (tmp_path / "best" / "tokenizer.json").is_file()
    for k, v in best.state_dict().items():
        assert torch.equal(v, saved[k]), k
    with pytest.raises(FileNotFoundError, match="no model weights"):
        export_checkpoint(acc.unwrap_model(model), tokenizer(), tmp_path, tmp_path / "b2")
