"""The chunked output-projection + cross-entropy loss against the model's own loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_util import tiny_config
from transformers import LlamaConfig, LlamaForCausalLM

from cpt.train.config import load_config
from cpt.train.loop import train
from cpt.train.loss import causal_lm_loss, hidden_states, unsupported_reason


def _model(tied: bool) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        tie_word_embeddings=tied,
    )
    return LlamaForCausalLM(config)


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return out


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("chunk", [7, 1000])
def test_loss_and_gradients_match_the_models_own(tied: bool, chunk: int) -> None:
    model = _model(tied)
    ids = torch.randint(0, 97, (3, 20))
    labels = ids.clone()
    labels[0, 5] = labels[2, :4] = -100  # masked document starts must be skipped too
    own = model(input_ids=ids, labels=labels, use_cache=False).loss
    own.backward()
    own_grads = _grads(model)

    head = model.get_output_embeddings()
    with hidden_states(head):
        hidden = model(input_ids=ids, use_cache=False).logits
    assert hidden.shape == (3, 20, 16)
    loss = causal_lm_loss(hidden, head.weight, labels, chunk)
    (loss * 0.5).backward()  # a scaled loss (grad accumulation) scales every gradient
    grads = _grads(model)

    assert torch.allclose(loss, own, atol=1e-6)
    assert own_grads.keys() == grads.keys()
    for name, g in own_grads.items():
        assert torch.allclose(grads[name], 0.5 * g, atol=1e-6, rtol=1e-4), name
    # The head is itself again outside the block.
    assert model(input_ids=ids, use_cache=False).logits.shape == (3, 20, 97)


def test_all_labels_ignored_gives_zero_loss_and_gradients() -> None:
    model = _model(True)
    ids = torch.randint(0, 97, (1, 6))
    head = model.get_output_embeddings()
    with hidden_states(head):
        hidden = model(input_ids=ids, use_cache=False).logits
    loss = causal_lm_loss(hidden, head.weight, torch.full_like(ids, -100), 4)
    loss.backward()
    assert loss.detach().item() == 0.0
    assert all(float(p.grad.abs().sum()) == 0.0 for p in model.parameters() if p.grad is not None)


def test_models_with_logit_transforms_keep_their_own_loss() -> None:
    model = _model(True)
    assert unsupported_reason(model) is None
    model.config.final_logit_softcapping = 30.0
    assert "final_logit_softcapping" in (unsupported_reason(model) or "")


def _losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [json.loads(x)["loss"] for x in lines if '"loss"' in x]


def test_training_with_the_chunked_loss_follows_the_models_own(tmp_path: Path) -> None:
    base = dict(schedule={"max_steps": 4}, logging={"every": 1})
    own = tiny_config(tmp_path, tmp_path / "own", **base, model={"loss_chunk": 0})
    chunked = tiny_config(tmp_path, tmp_path / "chunked", **base, model={"loss_chunk": 16})
    train(load_config(data=own))
    train(load_config(data=chunked))
    a, b = _losses(tmp_path / "own"), _losses(tmp_path / "chunked")
    assert len(a) == 4 and np.allclose(a, b, rtol=1e-5)
    records = [json.loads(x) for x in (tmp_path / "chunked" / "log.jsonl").read_text().splitlines()]
    start = next(r for r in records if r.get("event") == "start")
    assert start["loss_function"] == "chunked (16 tokens)"


@pytest.mark.parametrize("mode", ["autocast", "bf16-weights"])
def test_low_precision_matches_the_models_own(mode: str) -> None:
    model = _model(False)
    if mode == "bf16-weights":
        model = model.to(torch.bfloat16)
    ids = torch.randint(0, 97, (2, 16))
    head = model.get_output_embeddings()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
        own = model(input_ids=ids, labels=ids, use_cache=False).loss
        with hidden_states(head):
            hidden = model(input_ids=ids, use_cache=False).logits
        loss = causal_lm_loss(hidden, head.weight, ids, 5)
    loss.backward()
    assert abs(loss.item() - own.item()) < 1e-2 * own.item()
    assert head.weight.grad is not None and head.weight.grad.dtype == head.weight.dtype
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
