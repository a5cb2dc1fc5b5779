"""cpt.minhash: signature accuracy, near-dup quality on the shared benchmark, determinism,
spilling, the LSH index, and clear errors."""

from __future__ import annotations

import inspect
import math
import random
from pathlib import Path

import numpy as np
import pytest
from neardup_reference import NearDupReference, precision_recall

import cpt
import cpt.minhash
from cpt import _engine
from cpt.minhash import LSHIndex, dedup, dedup_jsonl, jaccard_estimate, lsh_params, signatures


@pytest.fixture(scope="module")
def neardup(neardup_reference: NearDupReference) -> tuple[list[str], set[int]]:
    """Texts in file order and the reference removal set (see conftest)."""
    return neardup_reference.texts, set(neardup_reference.removed)


def _precision_recall(removed: list[int], truth: set[int]) -> tuple[float, float]:
    return precision_recall(set(removed), truth)


def test_signatures_shape_dtype_and_thread_independence() -> None:
    texts = [
        "The quick brown fox jumps over the lazy dog.",
        "",
        "short",
        "Ünïcode ＡＢＣ text, here!",
    ]
    one = signatures(texts, threads=1)
    two = signatures(texts, threads=2)
    assert one.shape == (4, 128) and one.dtype == np.uint32
    assert np.array_equal(one, two)
    assert (one[1] == np.iinfo(np.uint32).max).all()  # no shingles
    # Normalization happens inside: case and punctuation do not matter.
    same = signatures(["THE QUICK brown fox -- jumps over the lazy dog"])
    assert np.array_equal(same[0], one[0])
    wide = signatures(texts[:1], num_perm=64, hash_bits=64, shingle="char", ngram=4)
    assert wide.shape == (1, 64) and wide.dtype == np.uint64


@pytest.mark.parametrize("hash_bits", [32, 64])
def test_jaccard_estimate_within_statistical_bound(hash_bits: int) -> None:
    # Unigram shingles of distinct tokens: the exact Jaccard is known by construction.
    rng = random.Random(1234)
    k = 128
    errors = []
    for t in range(60):
        common, only_a, only_b = 40 + 9 * t, 5 + 7 * t % 200, 3 + 5 * t % 150
        words = [f"w{rng.getrandbits(48):x}" for _ in range(common + only_a + only_b)]
        a = words[:common] + words[common : common + only_a]
        b = words[:common] + words[common + only_a :]
        exact = common / (common + only_a + only_b)
        sigs = signatures([" ".join(a), " ".join(b)], num_perm=k, ngram=1, hash_bits=hash_bits)
        est = jaccard_estimate(sigs[0], sigs[1])
        sigma = math.sqrt(exact * (1 - exact) / k)
        assert abs(est - exact) <= 4.5 * sigma + 1e-9, (t, est, exact)
        errors.append(est - exact)
    assert abs(sum(errors) / len(errors)) < 0.01  # unbiased


def test_neardup_quality_against_exact_jaccard(neardup: tuple[list[str], set[int]]) -> None:
    texts, truth = neardup
    assert len(texts) == 4850 and len(truth) > 500
    res = dedup(texts, threshold=0.8, threads=2)
    p, r = _precision_recall(res.removed, truth)
    assert p >= 0.95 and r >= 0.95, (p, r)
    # Kept = first of its cluster; every removed doc points at an earlier kept doc.
    dup = res.duplicate_of
    removed = np.flatnonzero(dup >= 0)
    assert (dup[removed] < removed).all() and (dup[dup[removed]] == -1).all()
    assert len(res.kept) + len(removed) == len(texts)
    assert res.stats["duplicates"] == len(removed)
    assert "bands x" in res.plan

    verified = dedup(texts, threshold=0.8, verify=True, threads=2)
    pv, rv = _precision_recall(verified.removed, truth)
    assert pv >= 0.99 and rv >= 0.95, (pv, rv)
    assert verified.stats["check"] == "exact"
    assert 0 <= verified.stats["estimated_fp_rate"] < 1


def test_deterministic_across_threads_and_spill(
    neardup: tuple[list[str], set[int]], tmp_path: Path
) -> None:
    texts, _ = neardup
    one = dedup(texts, threads=1)
    two = dedup(texts, threads=2)
    assert one.kept == two.kept
    assert np.array_equal(one.cluster_ids, two.cluster_ids)
    assert one.stats == two.stats
    spilled = dedup(texts, threads=2, mem_limit="256KiB", spill_dir=tmp_path)
    assert spilled.stats["spilled"] and spilled.stats["spill_runs"] > 1
    assert spilled.kept == one.kept
    assert np.array_equal(spilled.duplicate_of, one.duplicate_of)
    assert list(tmp_path.iterdir()) == []  # spill files cleaned up
    # Index memory: 12 bytes per document per band.
    assert one.stats["index_bytes_per_doc"] == 12 * one.stats["bands"]


def test_dedup_jsonl_matches_dedup_of_texts(
    neardup: tuple[list[str], set[int]], shared_data: Path
) -> None:
    texts, _ = neardup
    from_file = dedup_jsonl(shared_data / "neardup/docs.jsonl.zst", threads=2)
    assert from_file.kept == dedup(texts, threads=2).kept


def test_lsh_index_finds_near_duplicates() -> None:
    base = " ".join(f"word{i}" for i in range(300))
    edited = base.replace("word150", "changed")
    other = " ".join(f"other{i}" for i in range(300))
    sigs = signatures([base, edited, other])
    assert jaccard_estimate(sigs[0], sigs[1]) > 0.9
    index = LSHIndex(threshold=0.8)
    index.insert("base", sigs[0])
    index.insert("other", sigs[2])
    assert index.query(sigs[1]) == ["base"]
    assert len(index) == 2 and "other" in index
    assert (index.bands, index.rows) == lsh_params(0.8, 128)
    plan = index.plan
    assert plan["bands"] * plan["rows"] <= 128 and 0 < plan["p_at_threshold"] < 1
    with pytest.raises(KeyError):
        index.insert("base", sigs[0])
    with pytest.raises(ValueError, match="shape"):
        index.query(sigs[0][:10])


def test_bad_config_and_input_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(cpt.ConfigError, match="minhash.threshold"):
        dedup(["a b c"], threshold=1.5)
    with pytest.raises(cpt.ConfigError, match="minhash.shingle"):
        signatures(["a b c"], shingle="sentence")
    with pytest.raises(cpt.ConfigError, match="minhash.bands"):
        dedup(["a b c"], bands=40, rows=4)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        dedup(["ok", 3])  # type: ignore[list-item]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": 1\n')
    with pytest.raises(cpt.InputError, match=r"bad\.jsonl:2"):
        dedup_jsonl(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"body": "no text"}\n')
    with pytest.raises(cpt.InputError, match="text"):
        dedup_jsonl(missing)


def test_python_defaults_are_the_engines() -> None:
    # cpt.minhash writes no default of its own: each keyword default is the engine's.
    defaults = _engine.minhash_defaults()
    assert defaults == cpt.minhash.DEFAULTS and defaults["num_perm"] == 128
    for fn in (dedup, dedup_jsonl, signatures, LSHIndex):
        for name, p in inspect.signature(fn).parameters.items():
            if name in defaults:
                assert p.default == defaults[name], (fn, name)
    assert lsh_params() == (LSHIndex().bands, LSHIndex().rows)
    # Candidates that are checked afterwards get recall-heavy bands (more, shorter).
    assert lsh_params(checked=True) != lsh_params(checked=False)


def test_engine_functions_name_bad_keys_and_return_dicts() -> None:
    with pytest.raises(cpt.ConfigError, match=r"minhash\.treshold: unknown field"):
        _engine.minhash_dedup(["a b c"], {"treshold": 0.7})
    with pytest.raises(cpt.ConfigError, match=r"minhash\.shingle: unknown variant"):
        dedup(["a b c"], shingle="sentence")
    with pytest.raises(cpt.ConfigError, match=r"minhash\.num_perm: invalid type"):
        _engine.minhash_signatures(["a"], {"num_perm": "many"})
    with pytest.raises(cpt.ConfigError, match=r"minhash\.rows"):
        LSHIndex(bands=8)
    index = _engine.LshIndex({"num_perm": 16, "bands": 4, "rows": 4})
    with pytest.raises(cpt.ConfigError, match="does not hold 16 values"):
        index.insert(b"\0" * 10)
    plan = _engine.minhash_plan({"threshold": 0.7}, 1000)
    assert plan["n_docs"] == 1000 and plan["text"].startswith("near-dup LSH")
    out = _engine.minhash_dedup(["x y z w", "x y z w"], {"ngram": 2})
    assert out["docs"] == 2 and out["removed"] == {"ordinal": [1], "cluster": [0], "kept": [0]}
    assert out["stats"]["cluster_sizes"] == {"2": 1}  # as in report.json


@pytest.mark.parametrize("verify", [False, True])
def test_empty_and_exact_copies(verify: bool) -> None:
    text = "the quick brown fox jumps over the lazy dog again and again"
    texts = ["", text, "  ...  ", text.upper(), "something else entirely here now"]
    res = dedup(texts, verify=verify)
    assert res.kept == [0, 1, 2, 4]
    assert res.duplicate_of.tolist() == [-1, -1, -1, 1, -1]
    assert res.cluster_ids.tolist() == [-1, 0, -1, 0, -1]
    assert res.stats["empty_docs"] == 2


@pytest.mark.slow  # about 10 s; the test command runs the gate itself right after pytest
def test_performance_gate_fails_below_its_bar(shared_data: Path) -> None:
    # The gate of scripts/test.sh on a small slice: a bar cpt cannot reach gives exit 1, one
    # it must reach gives 0 (cpt is about 10x rensa in CPU time; the gate asks 3x).
    from cpt.bench.minhash import gate

    corpus = shared_data / "neardup/docs.jsonl.zst"
    assert gate(corpus, 1000.0, docs=300, repeat=1) == 1
    assert gate(corpus, 1.0, docs=300, repeat=1) == 0
