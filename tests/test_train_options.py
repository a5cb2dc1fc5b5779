"""Trainer options: gradient checkpointing, document masking, weight-decay groups, token checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_util import VOCAB, tiny_config

from cpt.train.config import load_config
from cpt.train.loop import train


def _losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [json.loads(x)["loss"] for x in lines if '"loss"' in x]


def test_gradient_checkpointing_same_losses(tmp_path: Path) -> None:
    base = dict(schedule={"max_steps": 3}, logging={"every": 1})
    train(load_config(data=tiny_config(tmp_path, tmp_path / "a", **base)))
    train(
        load_config(
            data=tiny_config(
                tmp_path, tmp_path / "b", **base, model={"gradient_checkpointing": True}
            )
        )
    )
    assert np.allclose(_losses(tmp_path / "a"), _losses(tmp_path / "b"), rtol=1e-5)


def test_document_masking_changes_training(tmp_path: Path) -> None:
    base = dict(schedule={"max_steps": 2}, logging={"every": 1})
    train(load_config(data=tiny_config(tmp_path, tmp_path / "a", **base)))
    train(
        load_config(
            data=tiny_config(tmp_path, tmp_path / "b", **base, data={"mask_documents": True})
        )
    )
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert np.isfinite(b).all() and a != b


def test_weight_decay_groups() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from cpt.train.model import optimizer_groups

    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=64,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    decay, no_decay = optimizer_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decay_names = {names[id(p)] for p in decay["params"]}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "model.embed_tokens.weight" in no_decay_names
    assert all("norm" not in n for n in decay_names)
    assert "model.layers.0.self_attn.q_proj.weight" in decay_names
    assert len(decay_names) + len(no_decay_names) == len(list(model.parameters()))


def test_token_outside_vocab_is_named(tmp_path: Path) -> None:
    from cpt import InputError
    from cpt.data.sources import write_raw_tokens

    bad = write_raw_tokens(tmp_path / "bad.bin", np.full(500, VOCAB + 5))
    cfg = tiny_config(tmp_path, tmp_path / "run")
    cfg["data"]["domain"] = [{"path": str(bad), "name": "bad"}]
    with pytest.raises(InputError, match=r"data source 'bad': token id 261 .* vocabulary \(256\)"):
        train(load_config(data=cfg))


def test_total_tokens_sets_steps_and_final_model_loads(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, tmp_path / "run", schedule={"max_steps": None, "total_tokens": 500})
    result = train(load_config(data=cfg))
    assert result.steps == 4  # 128 tokens per step -> ceil(500 / 128)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final")
    assert model.config.vocab_size == VOCAB
    assert torch.isfinite(next(model.parameters())).all()


def test_continue_from_a_saved_model(tmp_path: Path) -> None:
    """model.path: a run starts from another run's final HF directory (the base model)."""
    base_cfg = tiny_config(
        tmp_path, tmp_path / "base", schedule={"max_steps": 8}, logging={"every": 1}
    )
    train(load_config(data=base_cfg))
    cont = tiny_config(tmp_path, tmp_path / "cont", schedule={"max_steps": 2}, logging={"every": 1})
    cont["model"] = {"path": str(tmp_path / "base" / "final")}
    fresh = tiny_config(
        tmp_path, tmp_path / "fresh", schedule={"max_steps": 2}, logging={"every": 1}
    )
    train(load_config(data=cont))
    train(load_config(data=fresh))
    base_losses = _losses(tmp_path / "base")
    cont_first = _losses(tmp_path / "cont")[0]
    assert cont_first < _losses(tmp_path / "fresh")[0] - 0.3  # it starts from trained weights
    assert abs(cont_first - base_losses[-1]) < 0.5
