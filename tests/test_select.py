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
