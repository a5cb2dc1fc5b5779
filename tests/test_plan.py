"""cpt.plan: the worked figures by hand, parameter counts against transformers, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cpt import ConfigError
from cpt.plan import estimate, flops_per_token, implied_mfu, resolve_model
from cpt.plan.estimate import mfu_from_run
from cpt.plan.memory import (
    estimate_memory,
    grad_accum_for,
    largest_micro_batch,
    storage_bytes,
)
from cpt.plan.model import ModelShape


def test_8b_on_50b_tokens_worked_figure() -> None:
    # 6 x 8e9 x 50e9 = 2.4e21 FLOPs; / 300e12 FLOP/s / 3600 = 2,222.2 GPU-hours; x $2 = $4,444
    plan = estimate("8B", tokens="50B", gpu="a100-80gb", gpus=8, tflops=300, price=2)
    assert plan.flops == pytest.approx(2.4e21, rel=1e-12)
    assert plan.flops_attention == 0  # a bare size has no shape: plain 6ND
    assert plan.gpu_hours == pytest.approx(2.4e21 / 300e12 / 3600, rel=1e-12)
    assert round(plan.gpu_hours) == 2222
    assert plan.cost == pytest.approx(4444.44, abs=0.01)
    assert plan.wall_hours == pytest.approx(2222.22 / 8, rel=1e-5)
    assert plan.mfu == pytest.approx(300 / 312)


def test_70b_on_100b_tokens() -> None:
    # 6 x 70e9 x 100e9 = 4.2e22 FLOPs; at 300 TFLOP/s: 4.2e22 / 3e14 / 3600 = 38,889 GPU-hours
    plan = estimate("70B", tokens="100B", gpu="a100-80gb", tflops=300)
    assert plan.flops == pytest.approx(4.2e22, rel=1e-12)
    assert plan.gpu_hours == pytest.approx(38_888.9, rel=1e-5)
    # the often-quoted "about 42,000 GPU-hours" is within 8 % of it
    assert abs(plan.gpu_hours / 42_000 - 1) < 0.08


def test_llama3_70b_parameters_and_the_mfu_of_ebays_run() -> None:
    shape = resolve_model("llama3.1-70b")
    # per block: q 8192^2 + k,v 2 x 8192 x 1024 + o 8192^2 + MLP 3 x 8192 x 28672 = 855,638,016
    per_block = 2 * 8192**2 + 2 * 8192 * 1024 + 3 * 8192 * 28672
    assert per_block == 855_638_016
    lm_head = 128256 * 8192
    assert shape.matmul_params() == 80 * per_block + lm_head == 69_501_714_432
    assert shape.total_params() == 70_553_706_496  # Meta's published Llama 3 70B count
    # eBay: 1T tokens on 480 H100s in about a month (30 days), sequence length 8192
    plan = estimate("llama3.1-70b", tokens="1T", gpu="h100", gpus=480, seq_len=8192)
    per_token = 6 * 69_501_714_432 + 12 * 80 * 8192 * 8192
    assert plan.flops == pytest.approx(per_token * 1e12, rel=1e-12)
    mfu = implied_mfu(plan, 30 * 24)
    assert mfu == pytest.approx(per_token * 1e12 / (480 * 720 * 3600 * 989.4e12), rel=1e-12)
    assert 0.38 < mfu < 0.40  # 39.1 % with the attention term
    assert 0.33 < implied_mfu(plan, 30 * 24, attention=False) < 0.35  # 33.9 % as plain 6ND


def _hf_model(shape: ModelShape):  # type: ignore[no-untyped-def]
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        intermediate_size=shape.inter,
        vocab_size=shape.vocab,
        tie_word_embeddings=shape.tied,
    )
    with torch.device("meta"):
        return LlamaForCausalLM(cfg)


@pytest.mark.parametrize("name", ["smollm2-135m", "llama3-8b"])
def test_parameter_counts_match_transformers(name: str) -> None:
    from torch import nn

    shape = resolve_model(name)
    model = _hf_model(shape)
    assert shape.total_params() == sum(p.numel() for p in model.parameters())
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    assert shape.matmul_params() == linear  # lm_head counted even when tied (SmolLM2)


def test_attention_term_and_hf_config_dir(tmp_path: Path) -> None:
    cfg = {
        "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 256, "vocab_size": 1000,
        "tie_word_embeddings": True,
    }  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    shape = resolve_model(tmp_path)
    n = 2 * (64 * 64 * 2 + 2 * 64 * 32 + 3 * 64 * 256) + 1000 * 64
    assert shape.matmul_params() == n
    assert flops_per_token(shape, 128) == 6 * n + 12 * 2 * 64 * 128
    assert flops_per_token(shape, 128, attention=False) == 6 * n
    # cpt.train's model.init short names give the same shape
    init = {"hidden_size": 64, "layers": 2, "heads": 4, "kv_heads": 2, "intermediate_size": 256,
            "vocab_size": 1000, "tie_word_embeddings": True}  # fmt: skip
    assert resolve_model(init).matmul_params() == n


def test_bad_input_is_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown GPU type 'b200'.*known: a100-40gb.*mi300x"):
        estimate("8B", tokens="1B", gpu="b200")
    with pytest.raises(ConfigError, match="did you mean h100"):
        estimate("8B", tokens="1B", gpu="h10")
    with pytest.raises(ConfigError, match="known architecture"):
        resolve_model("gpt-17")
    with pytest.raises(ConfigError, match="give a token budget"):
        estimate("8B")
    with pytest.raises(ConfigError, match="MFU 1.5"):
        estimate("8B", tokens="1B", mfu=1.5)


def test_model_directory_without_config(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"without config.json"):
        resolve_model(tmp_path)
    (tmp_path / "config.json").write_text('{"hidden_size": 64}')
    with pytest.raises(ConfigError, match="num_hidden_layers"):
        resolve_model(tmp_path)


def test_micro_batch_grad_accum_and_storage() -> None:
    shape = resolve_model("llama3-8b")
    kw = dict(seq_len=8192, strategy="fsdp", gpus=8, precision="bf16", checkpointing=True)
    budget = 80e9 * 0.9
    mb = largest_micro_batch(shape, budget, **kw)
    assert mb >= 1
    assert estimate_memory(shape, micro_batch=mb, **kw).peak <= budget
    assert estimate_memory(shape, micro_batch=mb + 1, **kw).peak > budget
    # without checkpointing an 8K sequence of an 8B model does not fit one 80 GB GPU at all
    kw["checkpointing"] = False
    assert largest_micro_batch(shape, budget, **kw) == 0
    # 4M tokens per step with 2 x 8192 per GPU on 8 GPUs: ceil(4194304 / 131072) = 32
    assert grad_accum_for(4 * 1024 * 1024, 2, 8192, 8) == 32
    assert grad_accum_for(1000, 4, 512, 8) == 1
    # 3 last + 2 best checkpoints of 12 B/param, plus final/ and best/ exports of 4 B/param
    p = shape.total_params()
    assert storage_bytes(shape, 3, 2) == 5 * 12 * p + 2 * 4 * p
    # sharding divides weights, grads and AdamW states by the GPU count
    ddp = estimate_memory(shape, seq_len=8192, micro_batch=1, strategy="ddp", gpus=8)
    fsdp = estimate_memory(shape, seq_len=8192, micro_batch=1, strategy="fsdp", gpus=8)
    off = estimate_memory(shape, seq_len=8192, micro_batch=1, strategy="fsdp_offload", gpus=8)
    assert fsdp.optimizer == ddp.optimizer / 8 == 8 * p / 8
    assert off.optimizer == 0 and off.host == 16 * p / 8
    assert ddp.peak > fsdp.peak > off.peak


def test_tokens_from_manifests_and_mfu_from_run(tmp_path: Path) -> None:
    from cpt.data.sources import write_raw_tokens

    write_raw_tokens(tmp_path / "dom.bin", np.arange(1000) % 50)
    plan = estimate(
        "135M", manifests=[tmp_path / "dom.bin"], epochs=2, alpha=0.5, gpu="l4", gpus=1, mfu=0.3
    )
    assert plan.tokens == 4000  # 1000 domain tokens x 2 epochs / 0.5 domain share
    run = tmp_path / "run"
    run.mkdir()
    lines = [{"event": "start"}] + [{"step": i, "loss": 1.0, "mfu": m} for i, m in
                                    enumerate([0.1, 0.3, 0.2])]  # fmt: skip
    (run / "log.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert mfu_from_run(run) == pytest.approx(0.2)
    plan = estimate("1B", tokens="1B", gpu="h100", gpus=1, from_run=run)
    assert plan.mfu == pytest.approx(0.2)
    assert plan.effective_tflops_per_gpu == pytest.approx(0.2 * 989.4)
    (run / "log.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    with pytest.raises(ConfigError, match="no step record has an 'mfu'"):
        mfu_from_run(run)


def test_cli_prints_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cpt.plan.__main__ import main

    out = tmp_path / "plan.json"
    rc = main(
        ["--model", "smollm2-135m", "--tokens", "1B", "--gpu", "l4", "--gpus", "2",
         "--seq-len", "2048", "--price", "0.8", "--json", str(out)]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["gpus"] == 2 and data["loader_measured_tokens_per_s"] > 0
    assert "GPU-hours" in text and "fsdp_offload" in text and "cpt's loader gives" in text
    assert data["cost"] == pytest.approx(data["gpu_hours"] * 0.8)
    assert main(["--model", "8B", "--tokens", "1B", "--gpu", "v100"]) == 2
    assert "known: a100-40gb" in capsys.readouterr().err
    assert math.isfinite(data["flops"])


@pytest.mark.parametrize("module", ["cpt.plan", "cpt.sweep", "cpt.mixture"])
def test_help(module: str) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"python -m {module}" in out.stdout


def test_plan_from_a_recipe_with_a_typed_model_init(tmp_path: Path) -> None:
    """``python -m cpt.plan --config`` / the sweep's full-run cost on a ``model.init`` recipe."""
    from cpt.plan.estimate import kwargs_from_config
    from cpt.train.config import load_config

    init = {"arch": "llama", "hidden_size": 64, "layers": 2, "heads": 4, "kv_heads": 2,
            "intermediate_size": 128, "vocab_size": 512, "max_position": 128}  # fmt: skip
    cfg = load_config(data={
        "model": {"init": init},
        "data": {"domain": [{"path": str(tmp_path / "d.bin")}],
                 "general": [{"path": str(tmp_path / "g.bin")}], "seq_len": 64},
        "schedule": {"total_tokens": 5_000_000},
        "eval": {"heldout": {"domain": [str(tmp_path / "h.bin")]}, "select": {"keep_best": 1}},
    })  # fmt: skip
    kw = kwargs_from_config(cfg)
    assert kw["keep_best"] == 1 and kw["tokens"] == 5_000_000 and kw["seq_len"] == 64
    got = resolve_model(kw["model"])
    assert got.total_params() == resolve_model(init).total_params()
    assert (got.hidden, got.layers, got.kv_heads, got.vocab) == (64, 2, 2, 512)
    plan = estimate(gpu="l4", gpus=1, price=1.0, **kw)
    assert plan.tokens == 5e6 and plan.cost > 0
