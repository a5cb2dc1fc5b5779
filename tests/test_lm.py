"""The n-gram LM's Python face: ``cpt.lm.train`` / ``cpt.lm.perplexity`` and ``python -m cpt.lm``
(the ``cpt-curate lm`` command line), and a bad model file as a clear error naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cpt
from cpt import lm


def _corpus(path: Path) -> None:
    lines = [
        json.dumps({"text": f"the licensee shall keep the notice {i % 4} with every copy"})
        for i in range(40)
    ]
    path.write_text("\n".join(lines) + "\n")


def test_train_and_score_from_python(tmp_path: Path):
    src = tmp_path / "ref.jsonl"
    _corpus(src)
    model = tmp_path / "m.cptlm"
    report = lm.train(src, model, order=3, min_count=1)
    assert report["order"] == 3 and report["docs"] == 40
    assert report["ngrams"][0] == report["vocab_size"]
    seen, unseen = lm.perplexity(
        model, ["the licensee shall keep the notice 2 with every copy", "zebra quantum piano"]
    )
    assert seen < unseen
    assert lm.main(["score", "-m", str(model), "-i", str(src), "--summary"]) == 0


def test_bad_model_is_an_error_naming_the_file(tmp_path: Path):
    bad = tmp_path / "broken.cptlm"
    bad.write_bytes(b"CPTNGRAM" + b"\0" * 20)
    with pytest.raises(cpt.CurateError, match="broken.cptlm"):
        lm.perplexity(bad, ["some text"])
    with pytest.raises(cpt.ConfigError, match="smoothing"):
        lm.train(tmp_path / "x.jsonl", tmp_path / "o.cptlm", smoothing="witten-bell")
