"""Language id, the domain classifier and re-applied selection through the Python face."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard

from cpt import ConfigError, InputError, curate

LANGID = Path(__file__).parent / "data" / "langid" / "manpages.jsonl.zst"


def read_zst(path: Path) -> list[dict]:
    raw = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def test_detect_languages_on_the_labelled_set():
    docs = read_zst(LANGID)
    got = curate.detect_languages([d["text"] for d in docs])
    right = sum(g == d["lang"] for (g, _), d in zip(got, docs))
    assert right / len(docs) >= 0.95
    assert curate.detect_languages(["12345 !!!"]) == [("und", 0.0)]


def _docs(path: Path, texts: list[str], prefix: str) -> None:
    path.write_text(
        "".join(json.dumps({"id": f"{prefix}{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    )


LEGAL = (
    "the licensee shall not distribute the software without the written permission of the "
    "licensor and this warranty"
)
SPEECH = (
    "my fellow citizens the state of our union is strong and congress must act for the people "
    "of this nation today"
)


def test_classifier_scores_select_and_reapply(tmp_path):
    pos, neg = tmp_path / "pos.jsonl", tmp_path / "neg.jsonl"
    _docs(pos, [f"{LEGAL} clause {i}" for i in range(20)], "p")
    _docs(neg, [f"{SPEECH} year {i}" for i in range(20)], "n")
    model = tmp_path / "clf.bin"
    report = curate.train_classifier(pos, neg, model, bits=14)
    assert report["positives"] == 20 and report["train_accuracy"] == 1.0
    ev = curate.evaluate_classifier(model, pos, neg)
    assert ev["precision"] == 1.0 and ev["recall"] == 1.0
    pool = tmp_path / "pool.jsonl"
    texts = [((LEGAL if i % 2 else SPEECH) + " ") * 3 + f"document number {i}" for i in range(30)]
    _docs(pool, texts, "d")
    run = curate.run(
        pool,
        tmp_path / "run",
        quiet=True,
        minhash={"enabled": False},
        filters={"repetition": {"enabled": False}, "quality": {"enabled": False}},
        language={"enabled": True},
        domain_classifier={"enabled": True, "model": str(model)},
    )
    hist = run["selection"]["attributes"]
    assert hist["domain_score"]["count"] == 30 and hist["lang"]["labels"] == {"eng": 30}
    sel = curate.select(tmp_path / "run" / "attributes", ["domain_score:min=0.5"], tmp_path / "sel")
    kept = [d["id"] for d in read_zst(next((tmp_path / "sel" / "kept").glob("*.zst")))]
    assert kept == [f"d{i}" for i in range(1, 30, 2)]
    assert sel["rejected"]["domain_score"]["docs"] == 15
    with pytest.raises(ConfigError, match="overwrite"):
        curate.select(tmp_path / "run" / "attributes", "domain_score:top=0.5", tmp_path / "sel")
    with pytest.raises(ConfigError, match="not a fraction"):
        curate.select(tmp_path / "run" / "attributes", "domain_score:top=5", tmp_path / "x")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"CPTCLF\0\0" + b"\0" * 100)
    with pytest.raises(InputError, match="bad.bin"):
        curate.evaluate_classifier(bad, pos, neg)


def _stdlib_docstrings(limit: int) -> list[str]:
    """Docstrings of >= 50 words from the Python standard library on this machine, in sorted
    module order: real technical prose that is neither a license nor a speech."""
    import ast
    import sysconfig

    out: list[str] = []
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc.split()) >= 50:
                    out.append(doc)
                    if len(out) == limit:
                        return out
    return out


def test_classifier_mines_licenses_hidden_in_a_mixed_pool(shared_data, tmp_path):
    """eBay's mining step: the negatives are a sample of the general pool (the training speeches
    and half of the docstrings); the pool hides the held-out licenses among held-out speeches,
    the other half of the docstrings and English manual pages (a kind never seen in training)."""
    docstrings = _stdlib_docstrings(600)
    train_docstrings, docstrings = docstrings[1::2], docstrings[::2]
    negatives = tmp_path / "negatives.jsonl"
    train_speeches = [d["text"] for d in read_zst(shared_data / "general/sotu-train.jsonl.zst")]
    _docs(negatives, train_speeches + train_docstrings, "n")
    model = tmp_path / "clf.bin"
    curate.train_classifier(shared_data / "domain/licenses-train.jsonl.zst", negatives, model)
    held = curate.evaluate_classifier(
        model,
        shared_data / "domain/licenses-heldout.jsonl.zst",
        shared_data / "general/sotu-heldout.jsonl.zst",
    )
    assert held["precision"] >= 0.95 and held["recall"] >= 0.95, held
    manpages = [d["text"] for d in read_zst(LANGID) if d["lang"] == "eng"]
    speeches = [d["text"] for d in read_zst(shared_data / "general/sotu-heldout.jsonl.zst")]
    assert len(docstrings) == 300 and len(manpages) >= 40
    others = tmp_path / "others.jsonl"
    _docs(others, docstrings + manpages + speeches, "o")
    mined = curate.evaluate_classifier(
        model, shared_data / "domain/licenses-heldout.jsonl.zst", others
    )
    print(f"held-out {held}\nmixed pool {mined}")
    assert mined["negatives"] == len(docstrings) + len(manpages) + len(speeches)
    assert mined["precision"] >= 0.9 and mined["recall"] >= 0.9, mined
