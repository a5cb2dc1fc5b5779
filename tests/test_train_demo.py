"""The shipped demo config trains a tiny model on real text and the loss falls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cpt.data.raw import tokenize_files
from cpt.data.sources import write_raw_tokens
from cpt.train.config import load_config
from cpt.train.loop import train

REPO = Path(__file__).resolve().parents[1]


def test_demo_config_loss_falls(tmp_path: Path, shared_data: Path) -> None:
    tok = shared_data / "tokenizers" / "smollm2-135m.tokenizer.json"
    dom = tokenize_files(tok, [shared_data / "domain" / "licenses-train.jsonl.zst"], limit=60)
    gen = tokenize_files(tok, [shared_data / "general" / "sotu-train.jsonl.zst"], limit=6)
    assert dom.max() < 49152 and (dom == 0).sum() == 60  # <|endoftext|> = 0 after each doc
    write_raw_tokens(tmp_path / "domain.bin", dom)
    write_raw_tokens(tmp_path / "general.bin", gen)
    cfg = load_config(
        REPO / "configs" / "demo-cpu.yaml",
        [
            f"model.tokenizer={tok}",
            f"data.domain.0.path={tmp_path / 'domain.bin'}",
            f"data.general.0.path={tmp_path / 'general.bin'}",
            "data.seq_len=64",
            "data.micro_batch_size=4",
            "schedule.max_steps=30",
            "checkpoint.every=0",
            "logging.every=5",
            "logging.progress=off",
            f"run.dir={tmp_path / 'run'}",
            "run.threads=1",
        ],
    )
    result = train(cfg)
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 6
    assert losses[-1] < losses[0] - 2.0, losses  # from ~ln(49152) = 10.8 down well below
    alphas = [r["alpha"] for r in records if "alpha" in r]
    assert all(abs(a - 0.7) <= 1 / 4 for a in alphas)  # 4 sequences per step: within one
    # final model and tokenizer in HF layout, plots, TensorBoard events
    assert (run / "final" / "model.safetensors").is_file()
    assert (run / "final" / "tokenizer.json").is_file()
    assert all((run / f"{p}.png").stat().st_size > 1000 for p in ("loss", "lr", "alpha"))
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert result.final_dir == run / "final"
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(run / "final")
    assert model.config.vocab_size == 49152
    assert np.isfinite(losses).all()
