"""The Python face of the curation engine: cpt.curate.run, exceptions, the console script."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard
from neardup_reference import NearDupReference, precision_recall
from tokenizers import Tokenizer

import cpt
import cpt._engine
import cpt.curate
from cpt.data.shards import TokenDataset

PROSE = (
    "The council shall review the annual budget before spring and members vote on proposals "
    "about roads, schools, water and parks. Citizens may attend public hearings where their "
    "views are heard, recorded and considered carefully by the committee of the whole town. "
    "Each proposal that passes is published within a week, together with the minutes of "
    "the meeting and a short summary for residents who could not be present."
)
OTHER_PROSE = (
    "Our river valley has long depended on careful farming, patient trade and the work of "
    "many small families who settled here generations ago. Harvests were stored in wooden "
    "barns near the old mill, while merchants carried grain downstream to growing markets. "
    "Today visitors walk the same trails, read the weathered signs and imagine daily life."
)


def write_jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def read_shards(directory: Path) -> list[dict]:
    return read_shard_files(sorted(directory.glob("*.jsonl.zst")))


def read_shard_files(shards: list[Path]) -> list[dict]:
    docs: list[dict] = []
    for shard in shards:
        with zstandard.ZstdDecompressor().stream_reader(shard.open("rb")) as r:
            docs.extend(json.loads(line) for line in io.TextIOWrapper(r, encoding="utf-8"))
    return docs


def test_exception_classes_live_in_cpt_engine() -> None:
    names = "CurateError ConfigError InputError ShardError TokenizerError EngineIOError"
    for name in names.split():
        cls = getattr(cpt, name)
        assert cls is getattr(cpt._engine, name)
        assert cls.__module__ == "cpt._engine"
        assert cls.__qualname__ == name
        assert issubclass(cls, cpt.CurateError)


def test_run_dedups_filters_and_redacts(tmp_path: Path) -> None:
    docs = [
        {"id": "a", "text": PROSE, "source": "s1", "meta": {"year": 1999}},
        {"text": PROSE.upper(), "source": "s2"},
        {"id": "short", "text": "too short"},
        {"id": "pii", "text": OTHER_PROSE + " Mail clerk@town.gov or call 555-867-5309."},
        {"id": "near", "text": PROSE + " Minutes are also posted online."},
    ]
    src = write_jsonl(tmp_path / "docs.jsonl", docs)
    out = tmp_path / "out"
    report = cpt.curate.run(src, out, threads=1, filters={"length": {"min_words": 20}})
    assert report["input_docs"] == 5
    assert report["kept_docs"] == 2
    assert report["rejected"]["exact_duplicate"]["docs"] == 1
    assert report["rejected"]["length"]["docs"] == 1
    assert report["rejected"]["near_duplicate"]["docs"] == 1
    assert report["near_dedup"]["stats"]["clusters"] == 1
    assert report["pii"]["email"] == 1 and report["pii"]["phone"] == 1
    assert report["config"]["filters"]["length"]["min_words"] == 20
    assert json.loads((out / "report.json").read_text())["kept_docs"] == 2

    kept = read_shards(out / "kept")
    assert kept[0] == docs[0]
    assert kept[1]["text"].endswith("Mail <EMAIL> or call <PHONE>.")
    rejected = read_shards(out / "rejected")
    reasons = ["exact_duplicate", "length", "near_duplicate"]
    assert [d["reject_reason"] for d in rejected] == reasons
    assert rejected[0]["duplicate_of"] == "a" and rejected[0]["id"] == "docs:2"
    assert rejected[1]["reject_detail"] == "words 2 < 20"
    assert rejected[2]["id"] == "near" and rejected[2]["duplicate_of"] == "a"
    assert rejected[2]["cluster_id"] == 0


def test_dunder_keys_and_sets_reach_the_engine(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": "a b c"}])
    report = cpt.curate.run(
        [src], tmp_path / "o", filters__length__min_words=1, sets=["filters.quality.enabled=false"]
    )
    assert report["kept_docs"] == 1
    assert report["config"]["filters"]["quality"]["enabled"] is False


def test_unknown_key_is_a_config_error(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": PROSE}])
    with pytest.raises(cpt.ConfigError, match=r"filters\.length\.min_word"):
        cpt.curate.run(src, tmp_path / "o", filters={"length": {"min_word": 3}})
    with pytest.raises(cpt.ConfigError, match="threads"):
        cpt.curate.run(src, tmp_path / "o", threads="many")


def test_report_is_the_json_written_beside_the_output(tmp_path: Path) -> None:
    # One return form: the dict run() returns reads exactly as report.json does (string keys
    # of histograms included), not a JSON text to parse.
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": PROSE}, {"text": PROSE}])
    report = cpt.curate.run(src, tmp_path / "o", quiet=True)
    on_disk = json.loads((tmp_path / "o" / "report.json").read_text())
    assert isinstance(report, dict)
    assert report["config_hash"] == on_disk["config_hash"]
    assert report["exact_duplicates"] == on_disk["exact_duplicates"]
    assert report["exact_duplicates"]["size_histogram"] == {"2": 1}
    assert report["rejected"] == on_disk["rejected"] and report["kept_docs"] == 1


def test_keyword_that_is_not_config_data_is_a_config_error(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": PROSE}])
    with pytest.raises(cpt.ConfigError, match="keyword arguments"):
        cpt.curate.run(src, tmp_path / "o", filters={"length": {"min_words": object()}})
    with pytest.raises(cpt.ConfigError, match="keyword arguments"):
        cpt.curate.plan(src, tmp_path / "o", filters={"length": {"min_words": object()}})


def test_malformed_input_is_an_input_error_naming_the_line(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps({"text": PROSE}) + "\n{oops\n")
    with pytest.raises(cpt.InputError, match=r"bad\.jsonl:2: bad JSON"):
        cpt.curate.run(src, tmp_path / "o")
    report = cpt.curate.run(src, tmp_path / "o2", lenient=True)
    assert report["malformed_docs"] == 1 and report["kept_docs"] == 1


def test_plan_shows_resolved_config(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": PROSE}])
    text = cpt.curate.plan(src, tmp_path / "o", pii={"phone": False})
    assert "phone: false" in text and "d.jsonl" in text
    assert not (tmp_path / "o").exists()


def test_console_script_uses_the_rust_cli(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": PROSE}])
    code = "import sys, cpt.curate; sys.exit(cpt.curate.cli_main())"
    help_out = subprocess.run(
        [sys.executable, "-c", code, "run", "--help"], capture_output=True, text=True, check=True
    )
    assert "--set <KEY=VALUE>" in help_out.stdout and "filters.length.enabled" in help_out.stdout
    ok = subprocess.run(
        [sys.executable, "-c", code, "run", "-q", "-i", str(src), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "o" / "report.json").exists()
    bad = subprocess.run(
        [sys.executable, "-c", code, "run", "-i", str(tmp_path / "missing.jsonl"), "-o", "x"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "missing.jsonl" in bad.stderr
    assert cpt.curate.cli_main(["run", "--no-such-flag"]) == 2


def test_shared_corpus_same_output_for_1_and_2_threads(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "general"
    a = cpt.curate.run(src, tmp_path / "a", threads=1)
    b = cpt.curate.run(src, tmp_path / "b", threads=2)
    assert a["kept_docs"] == b["kept_docs"] > 0
    for sub in ["kept", "rejected"]:
        names = sorted(p.name for p in (tmp_path / "a" / sub).iterdir())
        assert names == sorted(p.name for p in (tmp_path / "b" / sub).iterdir())
        for name in names:
            a_bytes = (tmp_path / "a" / sub / name).read_bytes()
            assert a_bytes == (tmp_path / "b" / sub / name).read_bytes()


def test_truncated_zstd_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    body = "".join(json.dumps({"id": i, "text": PROSE + str(i)}) + "\n" for i in range(300))
    data = zstandard.ZstdCompressor().compress(body.encode())
    src = tmp_path / "cut.jsonl.zst"
    src.write_bytes(data[: len(data) // 2])
    with pytest.raises(cpt.InputError, match=r"cut\.jsonl\.zst: corrupt or truncated zstd"):
        cpt.curate.run(src, tmp_path / "o", lenient=True, quiet=True)


def test_near_dup_stage_on_the_benchmark(
    neardup_reference: NearDupReference, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Exact + near-duplicate rejections match an exact-Jaccard dedup at 0.8 (filters
    off, so the dedup stages alone are measured); same bytes for 1 and 2 threads."""
    no_filters = {k: {"enabled": False} for k in ("length", "repetition", "quality")}
    one = cpt.curate.run(neardup_reference.path, tmp_path / "one", threads=1, filters=no_filters)
    err = capfd.readouterr().err
    assert "bands x" in err and "P(candidate)" in err  # the LSH plan, before clustering
    assert one["kept_docs"] + one["rejected_docs"] == one["input_docs"] == 4850
    assert one["near_dedup"]["plan"]["bands"] * one["near_dedup"]["plan"]["rows"] <= 128
    assert one["timings"]["near_dedup"]["seconds"] >= 0
    rejected = read_shards(tmp_path / "one" / "rejected")
    dup_reasons = ("near_duplicate", "exact_duplicate")
    dups = {d["id"] for d in rejected if d["reject_reason"] in dup_reasons}
    p, r = precision_recall(dups, neardup_reference.removed_ids)
    assert p >= 0.95 and r >= 0.95, (p, r)
    kept = {d["id"] for d in read_shards(tmp_path / "one" / "kept")}
    near = [d for d in rejected if d["reject_reason"] == "near_duplicate"]
    assert len(near) == one["near_dedup"]["stats"]["duplicates"] > 100
    assert all(d["duplicate_of"] in kept and isinstance(d["cluster_id"], int) for d in near)

    cpt.curate.run(
        neardup_reference.path, tmp_path / "two", threads=2, filters=no_filters, quiet=True
    )
    for sub in ["kept", "rejected"]:
        names = sorted(p.name for p in (tmp_path / "one" / sub).iterdir())
        assert names == sorted(p.name for p in (tmp_path / "two" / sub).iterdir())
        for name in names:
            a_bytes = (tmp_path / "one" / sub / name).read_bytes()
            assert a_bytes == (tmp_path / "two" / sub / name).read_bytes()


def test_run_tokenizes_kept_docs_last(tmp_path: Path, shared_data: Path) -> None:
    tok_path = shared_data / "tokenizers" / "smollm2-135m.tokenizer.json"
    words = PROSE.split() + OTHER_PROSE.split()
    docs = [{"id": str(i), "text": " ".join(words[i:] + words[:i])} for i in range(24)]
    docs += [{"text": docs[3]["text"]}, {"text": "too short"}]  # an exact copy, a length reject
    src = write_jsonl(tmp_path / "in.jsonl", docs)
    out = tmp_path / "out"
    tokenize = {"enabled": True, "tokenizer": str(tok_path), "shard_tokens": 1500}
    plan = cpt.curate.plan(src, out, minhash={"enabled": False}, tokenize=tokenize)
    assert "[write] tokenize: " in plan and f"{out}/tokens/manifest.json" in plan
    # Rotations of one text are near-duplicates: keep them all with MinHash off.
    nodup = {"enabled": False}
    report = cpt.curate.run(src, out, quiet=True, threads=2, minhash=nodup, tokenize=tokenize)
    assert 0 < report["kept_docs"] < len(docs)
    summary = report["tokenize"]
    manifest = json.loads((out / "tokens" / "manifest.json").read_text())
    assert Path(summary["manifest"]) == out / "tokens" / "manifest.json"
    assert manifest["totals"]["docs"] == summary["docs"] == report["kept_docs"]
    assert manifest["curation_config_hash"] == report["config_hash"]
    assert manifest["totals"]["shards"] > 1
    assert report["timings"]["tokenize"]["seconds"] >= 0
    assert json.loads((out / "report.json").read_text())["tokenize"] == summary

    tok = Tokenizer.from_file(str(tok_path))
    eos = tok.token_to_id("<|endoftext|>")
    kept = read_shard_files([out / shard for shard in report["kept_shards"]])
    expected = [tok.encode(d["text"]).ids + [eos] for d in kept]
    ds = TokenDataset(out / "tokens" / "manifest.json")
    assert [d.tolist() for d in ds.iter_documents()] == expected

    # A rerun redoes neither curation nor tokenization.
    again = cpt.curate.run(src, out, quiet=True, threads=1, minhash=nodup, tokenize=tokenize)
    assert again["resumed_writes"] == 1
    assert again["tokenize"]["resumed_shards"] == manifest["totals"]["shards"]
    assert json.loads((out / "tokens" / "manifest.json").read_text()) == manifest


def test_run_tokenize_needs_a_tokenizer(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": PROSE}])
    with pytest.raises(cpt.ConfigError, match=r"tokenize\.tokenizer"):
        cpt.curate.run(src, tmp_path / "out", quiet=True, tokenize={"enabled": True})
    with pytest.raises(cpt.ConfigError, match=r"tokenize\.tokenizer"):
        missing = f"tokenize.tokenizer={tmp_path / 'missing.json'}"
        cpt.curate.run(src, tmp_path / "out", quiet=True, sets=["tokenize.enabled=true", missing])
    with pytest.raises(cpt.ConfigError, match=r"tokenize\.zstd_levl"):
        cpt.curate.run(src, tmp_path / "out", quiet=True, tokenize={"zstd_levl": 3})
