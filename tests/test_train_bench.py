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
                "1",
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
    assert figures["loader_vs_training"] >= 20
