"""``python -m cpt.eval`` on a saved tiny model: the same numbers as the in-process scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_eval_common import task_rows, tiny_model, token_ids, tokenizer

from cpt.data.sources import ArraySource
from cpt.eval import main
from cpt.evaluate.perplexity import perplexity


def test_cli_scores_a_saved_model(tmp_path, capsys):
    model = tiny_model(seed=9, max_positions=4096)
    model.save_pretrained(tmp_path / "m")
    tokenizer().save_pretrained(tmp_path / "m")
    ids = np.array(token_ids(task_rows("license_text.jsonl")[0]["text"]), dtype=np.uint16)
    ids.tofile(tmp_path / "dom.bin")
    out = tmp_path / "scores.json"
    rc = main([
        "--model", str(tmp_path / "m"), "--tasks", "cpt_sotu_continuation", "--limit", "3",
        "--heldout-domain", str(tmp_path / "dom.bin"), "--seq-len", "64", "--ppl-tokens", "256",
        "--json", str(out),
    ])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert "lm/cpt_sotu_continuation/acc" in printed and "ppl/domain" in printed
    scores = json.loads(out.read_text())["metrics"]
    model.eval()
    direct = perplexity(model, ArraySource(ids), seq_len=64, max_tokens=256, batch_size=4)
    assert scores["ppl/domain"] == pytest.approx(direct.perplexity, rel=1e-5)
    assert 0.0 <= scores["lm/cpt_sotu_continuation/acc"] <= 1.0


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["--model", str(tmp_path), "--tasks", "cpt_sotu_text"]) == 2
    assert "not a model directory" in capsys.readouterr().err
    assert main(["--model", str(tmp_path)]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err


def test_cli_heldout_of_another_tokenizer_is_one_line(tmp_path, capsys, shared_data):
    from cpt.curate import tokenize

    model = tiny_model(seed=9, max_positions=256)
    model.save_pretrained(tmp_path / "m")
    tokenizer().save_pretrained(tmp_path / "m")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"text": "Permission is hereby granted."}) + "\n")
    tokenize([docs], shared_data / "tokenizers" / "smollm2-135m.tokenizer.json", tmp_path / "ds")
    capsys.readouterr()  # drop the progress output of the saves above
    rc = main([
        "--model", str(tmp_path / "m"), "--heldout-domain", str(tmp_path / "ds"),
        "--tokenizer-hash", "xxh3_64:0000000000000000",
    ])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("cpt.eval: error: config key 'eval.heldout.domain.0': ")
    assert "was tokenized with tokenizer xxh3_64:" in err and len(err.strip().splitlines()) == 1
