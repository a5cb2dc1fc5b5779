"""Trainer support for new tokens (cpt.train.new_tokens): the frozen-body phase updates only the
embeddings and head, and the new-row LR multiplier scales exactly the new rows' update."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from test_train_util import tiny_config

from cpt import ConfigError
from cpt.train.config import help_text, load_config
from cpt.train.loop import Trainer
from cpt.train.metrics import read_log
from cpt.train.new_tokens import NewTokenControl, NewTokenOptions, build_control, first_new_id

VOCAB, FIRST_NEW = 300, 280


def _model(tied: bool) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=tied,
    )
    return LlamaForCausalLM(cfg)


def _step(model: torch.nn.Module, ctl: NewTokenControl, step: int) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    ids = torch.tensor([[1, 281, 5, 290, 7, 299, 3, 285]])
    model(input_ids=ids, labels=ids).loss.backward()
    ctl.before_step(step)
    opt.step()
    ctl.after_step()


@pytest.mark.parametrize("tied", [False, True])
def test_frozen_body_phase_trains_only_embeddings_and_head(tied: bool) -> None:
    model = _model(tied)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ctl = NewTokenControl(model, NewTokenOptions(freeze_body_steps=1))
    assert ctl.body_frozen(0) and not ctl.body_frozen(1)
    _step(model, ctl, 0)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    expected = {"model.embed_tokens.weight"} | (set() if tied else {"lm_head.weight"})
    assert changed == expected
    _step(model, ctl, 1)  # the phase is over: the body trains too
    assert not torch.equal(
        model.model.layers[0].mlp.up_proj.weight, before["model.layers.0.mlp.up_proj.weight"]
    )


def test_new_rows_multiplier_scales_their_update() -> None:
    updates = {}
    for m in (1.0, 0.0, 3.0):
        model = _model(tied=False)
        w0 = model.lm_head.weight.detach().clone()
        opts = NewTokenOptions(new_rows_lr_multiplier=m, first_new_id=FIRST_NEW)
        _step(model, NewTokenControl(model, opts), 0)
        updates[m] = model.lm_head.weight.detach() - w0
    torch.testing.assert_close(updates[0.0][:FIRST_NEW], updates[1.0][:FIRST_NEW])
    assert torch.count_nonzero(updates[0.0][FIRST_NEW:]) == 0
    torch.testing.assert_close(updates[3.0][FIRST_NEW:], 3 * updates[1.0][FIRST_NEW:])
    assert torch.count_nonzero(updates[1.0][FIRST_NEW:]) > 0


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="first_new_id"):
        NewTokenOptions(new_rows_lr_multiplier=2.0)
    with pytest.raises(ValueError, match="freeze_body_steps"):
        NewTokenOptions(freeze_body_steps=-1)
    with pytest.raises(ValueError, match="outside"):
        NewTokenControl(_model(True), NewTokenOptions(new_rows_lr_multiplier=2, first_new_id=999))


# --- wired into the trainer (optim.freeze_body_steps, optim.new_token_lr_mult) ---------------


def _run(tmp_path: Path, optim: dict[str, Any], steps: int) -> tuple[Trainer, dict[int, dict]]:
    """Train the tiny llama; the state dict before training (key 0) and after every step."""
    data = tiny_config(
        tmp_path, tmp_path / "run", schedule={"max_steps": steps}, logging={"every": 1}
    )
    data["optim"].update(optim)
    snaps: dict[int, dict[str, torch.Tensor]] = {}

    def snap(step: int, *_: Any) -> None:
        model = trainer.acc.unwrap_model(trainer.model)
        snaps[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    trainer = Trainer(load_config(data=data), on_step=snap)
    setup = trainer._setup

    def setup_then_snap() -> None:
        setup()
        snap(0)

    trainer._setup = setup_then_snap  # type: ignore[method-assign]
    trainer.run()
    return trainer, snaps


def test_trainer_freezes_the_body_for_the_first_steps(tmp_path: Path) -> None:
    trainer, snaps = _run(tmp_path, {"freeze_body_steps": 2}, steps=3)
    head = {"model.embed_tokens.weight", "lm_head.weight"}
    body = set(snaps[0]) - head
    assert body and head <= set(snaps[0])
    for step in (1, 2):  # frozen: only the embeddings and the head move
        assert all(torch.equal(snaps[step][k], snaps[0][k]) for k in body)
        assert all(not torch.equal(snaps[step][k], snaps[step - 1][k]) for k in head)
    moved = [k for k in body if not torch.equal(snaps[3][k], snaps[2][k])]
    assert "model.layers.0.mlp.up_proj.weight" in moved
    lines = (trainer.run_dir / "log.jsonl").read_text().splitlines()
    start = next(r for r in map(json.loads, lines) if r.get("event") == "start")
    assert start["freeze_body_steps"] == 2 and start["frozen_body_parameters"] > 0
    frozen = [r["new_tokens/body_frozen"] for r in read_log(trainer.run_dir / "log.jsonl")]
    assert frozen == [1.0, 1.0, 0.0]


def test_trainer_new_rows_get_the_multiplied_lr(tmp_path: Path) -> None:
    first = 200  # the tiny data uses ids 1..249: rows from 200 are "new" and get gradients
    opts = {"new_token_lr_mult": 0.0, "new_token_first_id": first}
    trainer, snaps = _run(tmp_path, opts, steps=2)
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        before, after = snaps[0][key], snaps[2][key]
        assert torch.equal(after[first:], before[first:]), key
        assert not torch.equal(after[:first], before[:first]), key
    records = read_log(trainer.run_dir / "log.jsonl")
    assert [r["new_tokens/new_rows_lr_multiplier"] for r in records] == [0.0, 0.0]


def test_new_token_options_in_the_config(tmp_path: Path) -> None:
    text = help_text()
    assert "optim.freeze_body_steps" in text and "optim.new_token_lr_mult" in text

    def cfg(*overrides: str) -> Any:  # the loader may keep the mapping it is given: a fresh one
        return load_config(data=tiny_config(tmp_path, tmp_path / "run"), overrides=list(overrides))

    with pytest.raises(ConfigError, match=r"'optim\.freeze_body_steps'.*>= 0"):
        cfg("optim.freeze_body_steps=-1")
    with pytest.raises(ConfigError, match=r"'optim\.new_token_lr_mult': the new rows are unknown"):
        build_control(cfg("optim.new_token_lr_mult=5"), _model(False), fsdp=False)
    bad = cfg("optim.new_token_lr_mult=5", f"optim.new_token_first_id={VOCAB}")
    with pytest.raises(ConfigError, match=r"'optim\.new_token_first_id': 300 leaves no new row"):
        build_control(bad, _model(False), fsdp=False)
    with pytest.raises(ConfigError, match=r"FSDP"):
        build_control(cfg("optim.freeze_body_steps=2"), _model(False), fsdp=True)
    assert build_control(cfg(), _model(False), fsdp=False) is None


def test_first_new_id_comes_from_the_resize_report(tmp_path: Path) -> None:
    model_dir = tmp_path / "resized"
    model_dir.mkdir()
    data = tiny_config(tmp_path, tmp_path / "run")
    data["model"] = {"path": str(model_dir)}
    cfg = load_config(data=data)
    assert first_new_id(cfg) is None
    (model_dir / "resize_report.json").write_text(json.dumps({"base_vocab": 49152}))
    assert first_new_id(cfg) == 49152
    cfg.optim.new_token_first_id = 7  # the key wins over the report
    assert first_new_id(cfg) == 7
    cfg.optim.new_token_first_id = None
    (model_dir / "resize_report.json").write_text(json.dumps({"rows": 3}))
    with pytest.raises(ConfigError, match=r"resize_report\.json: cannot read key 'base_vocab'"):
        first_new_id(cfg)
