"""``python -m cpt.bench train`` runs end to end and reports its figures (tiny settings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # three short training runs


def test_bench_train_reports_figures(tmp_path: Path) -> None:
    from cpt.bench.train import main

    out = tmp_path / "figures.json"
    assert (
        main(
            [
                "--synthetic",
                "--steps",
                "3",
                "--warmup",
                "1",
                "--seq-len",
                "64",
                "--batch",
                "2",
                "--hidden",
                "32",
                "--layers",
                "1",
                "--repeats",
                "2",
                "--clock",
                "cpu",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    for key in (
        "cpt_tokens_per_s",
        "cpt_own_loss_tokens_per_s",
        "hf_packed_tokens_per_s",
        "hf_padded_tokens_per_s",
        "loader_tokens_per_s",
    ):
        assert figures[key] > 0
    # the loader must never be what training waits for (DESIGN: >= 20x the training rate)
    assert figures["loader_vs_training"] >= 20
    # cpt's loop on the very rows and loss HF's Trainer gets is not slower than it by more than
    # a third (per CPU-second, best of two rounds: steady on a shared machine)
    assert figures["cpt_own_loss_vs_hf_packed"] >= 0.67, figures
    assert figures["cpt_vs_hf_packed"] == pytest.approx(
        figures["cpt_tokens_per_s"] / figures["hf_packed_tokens_per_s"]
    )
