"""MFU and TFLOP/s in the training log (per logging window) and in the run report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cpt.data.sources import write_raw_tokens
from cpt.plan.model import flops_per_token, resolve_model
from cpt.train.metrics import Throughput, throughput_summary

INIT = {"arch": "llama", "hidden_size": 64, "layers": 2, "heads": 4, "kv_heads": 2,
        "intermediate_size": 128, "vocab_size": 512, "max_position": 128,
        "tie_word_embeddings": True}  # fmt: skip


def test_window_arithmetic() -> None:
    t = Throughput(flops_per_token=1e9, peak_flops=100e12, peak_source="test", world=4)
    # 4e6 tokens over all 4 ranks in 2 s: 1e9 x 4e6 / 2 / 4 = 5e14 FLOP/s per device
    w = t.window(4_000_000, 2.0)
    assert w["tflops"] == pytest.approx(500.0)
    assert w["mfu"] == pytest.approx(5.0)  # arithmetic only: 500 / 100
    assert "mfu" not in Throughput(1e9, None, "unknown", 1).window(10, 1.0)
    assert throughput_summary(
        [{"tflops": 1.0, "mfu": 0.1}, {"tflops": 3.0, "mfu": 0.3}, {"tflops": 2.0, "mfu": 0.2}]
    ) == {  # fmt: skip
        "tflops": 2.0,
        "mfu": 0.2,
        "windows": 3.0,
    }
    assert throughput_summary([{"loss": 1.0}]) is None


def test_cpu_peak_is_the_best_seen_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cpt.plan.cpu_peak import _cpu_model, cache_path, cpu_peak

    monkeypatch.setenv("CPT_CACHE", str(tmp_path))
    key = f"{_cpu_model()} | 1 threads"
    cache_path().write_text("{not json")  # unreadable: measured afresh and rewritten
    cpu_peak.cache_clear()
    first = cpu_peak(1)
    assert first.flops == first.measured > 0 and first.dtype in ("float32", "bfloat16")
    assert json.loads(cache_path().read_text()) == {key: first.measured}
    # a better figure seen earlier on this CPU (e.g. when the machine was idle) is kept and used
    cache_path().write_text(json.dumps({key: 1e15, "other cpu | 8 threads": 2e12}))
    cpu_peak.cache_clear()
    again = cpu_peak(1)
    assert again.flops == 1e15 and again.measured < 1e15 and "cpu_peak" in again.source
    assert json.loads(cache_path().read_text())[key] == 1e15
    cpu_peak.cache_clear()


def test_mfu_in_log_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cpt.evaluate.report import write_report
    from cpt.plan.cpu_peak import _cpu_model, cpu_peak
    from cpt.train.config import load_config
    from cpt.train.loop import train

    # the trainer's CPU peak is the best seen on this CPU: seed that with a known 50 TFLOP/s
    monkeypatch.setenv("CPT_CACHE", str(tmp_path))
    (tmp_path / "cpu_peak.json").write_text(json.dumps({f"{_cpu_model()} | 1 threads": 5e13}))
    cpu_peak.cache_clear()
    rng = np.random.default_rng(0)
    for name in ("domain", "general"):
        write_raw_tokens(tmp_path / f"{name}.bin", rng.integers(0, 512, 20_000))
    cfg = load_config(
        data={
            "model": {"init": INIT},
            "data": {
                "domain": [{"path": str(tmp_path / "domain.bin"), "name": "d"}],
                "general": [{"path": str(tmp_path / "general.bin"), "name": "g"}],
                "alpha": 0.5,
                "seq_len": 64,
                "micro_batch_size": 4,
                "eos_id": 0,
            },
            "optim": {"mixed_precision": "no"},
            "schedule": {"max_steps": 6},
            "checkpoint": {"every": 0},
            "logging": {"every": 2, "tensorboard": False, "plots": False, "progress": "off"},
            "run": {"dir": str(tmp_path / "run"), "threads": 1},
        }  # fmt: skip
    )
    train(cfg)
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    start = next(r for r in rows if r.get("event") == "start")
    expected = flops_per_token(resolve_model(INIT), 64)
    assert start["flops_per_token"] == pytest.approx(expected)
    assert start["peak_tflops"] == pytest.approx(50.0) and "cpu_peak" in start["peak_source"]
    cpu_peak.cache_clear()
    steps = [r for r in rows if "loss" in r]
    assert len(steps) == 3
    for r in steps:
        # the same window: TFLOP/s = tokens/s x FLOPs per token; MFU = that / the peak
        assert r["tflops"] == pytest.approx(r["tokens_per_s"] * expected / 1e12, rel=1e-6)
        assert r["mfu"] == pytest.approx(r["tflops"] / start["peak_tflops"], rel=1e-6)
        assert 0 < r["mfu"] <= 1
    paths = write_report(
        tmp_path / "run",
        {"evaluations": [], "alerts": [], "actions": [], "best": None},
        plots=False,
    )
    report = json.loads(paths["json"].read_text())
    assert report["throughput"]["mfu"] == pytest.approx(
        sorted(r["mfu"] for r in steps)[1]  # the median of three windows
    )
    assert "MFU" in paths["markdown"].read_text()
