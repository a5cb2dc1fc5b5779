"""The shipped demo config: its documented preparation (the engine's tokenizer) works on the
shared corpora, and training on the result makes the loss fall."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from cpt.train.config import load_config
from cpt.train.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "demo-cpu.yaml"


def documented_preparation() -> list[list[str]]:
    """The ``cpt-curate tokenize`` commands written at the top of demo-cpu.yaml."""
    header = [ln[1:].strip() for ln in CONFIG.read_text().splitlines() if ln.startswith("#")]
    text = " ".join(header).replace("\\ ", " ")
    commands = []
    for chunk in text.split("cpt-curate tokenize")[1:]:
        words = shlex.split(chunk.split("python -m", 1)[0].split("(", 1)[0])
        commands.append(["tokenize", *words])
    return commands


def test_demo_preparation_and_loss_falls(tmp_path: Path, shared_data: Path) -> None:
    commands = documented_preparation()
    assert len(commands) == 2
    for args in commands:
        # runs/demo-data -> tmp; ../shared/data is found from the repository root as documented
        args = [a.replace("runs/demo-data", str(tmp_path / "demo-data")) for a in args]
        proc = subprocess.run(
            [sys.executable, "-m", "cpt.curate", *args, "--quiet"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
    licenses = json.loads((tmp_path / "demo-data/licenses/manifest.json").read_text())
    # every license text is there, the 44 holding U+2028 too (a splitlines() reader cut them)
    assert licenses["totals"]["docs"] == 2022
    assert licenses["tokenizer"]["eos_id"] == 0  # <|endoftext|>

    cfg = load_config(
        CONFIG,
        [
            f"model.tokenizer={shared_data / 'tokenizers' / 'smollm2-135m.tokenizer.json'}",
            f"data.domain.0.path={tmp_path / 'demo-data/licenses/manifest.json'}",
            f"data.general.0.path={tmp_path / 'demo-data/sotu/manifest.json'}",
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
    trainer = Trainer(cfg)
    result = trainer.run()
    assert trainer.loader.eos_id == 0  # taken from the manifests (the config names none)
    assert trainer.tokenizer.eos_token == "<|endoftext|>"
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
