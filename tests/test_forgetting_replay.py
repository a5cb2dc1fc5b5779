"""The replay sources of scripts/forgetting_science.py stay apart from what the runs are scored on:
sotu-modern holds only the 1950-1999 speeches (the held-out ones are 2000 on), general-text no
LAMBADA passage (the probe's source) and none of general_text_jsonl.py's held-out passages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from cpt.demo.corpora import is_heldout_key, probe_records, read_jsonl_zst

pytestmark = pytest.mark.slow  # science-script checks, run with the sweep (seconds each)
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _science():
    sys.path.insert(0, str(SCRIPTS))  # the script imports its neighbour general_text_jsonl
    path = SCRIPTS / "forgetting_science.py"
    spec = importlib.util.spec_from_file_location("forgetting_science", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sotu_modern_is_the_1950_to_1999_speeches_in_hash_order(shared_data: Path) -> None:
    science = _science()
    records = science.replay_records("sotu-modern", shared_data)
    years = [int(r["id"].split("-")[1]) for r in records]
    assert len(records) == 66 and min(years) == 1950 and max(years) == 1999
    assert years != sorted(years)  # spread over the period, not Truman first
    assert records == science.replay_records("sotu-modern", shared_data)  # deterministic
    heldout = {r["text"] for r in read_jsonl_zst(shared_data / "general/sotu-heldout.jsonl.zst")}
    assert not heldout & {r["text"] for r in records}


def test_general_text_replay_has_no_probe_and_no_heldout_passage() -> None:
    records = _science().replay_records("general-text", Path("unused"))
    sources = {r["source"] for r in records}
    assert sources == {"boolq", "drop", "coqa"}, sources
    texts = [r["text"] for r in records]
    assert len(texts) == len(set(texts)) > 3000  # 3,481
    assert not any(is_heldout_key(t) for t in texts)
    probe = {r["text"].strip() for r in probe_records()}
    assert not probe & set(texts)
