"""Trainer support for new tokens (cpt.train.new_tokens): the frozen-body phase updates only the
embeddings and head, and the new-row LR multiplier scales exactly the new rows' update."""

from __future__ import annotations

import pytest
import torch

from cpt.train.new_tokens import NewTokenControl, NewTokenOptions

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
