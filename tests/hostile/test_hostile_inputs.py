"""Hostile inputs for the Rust input layer (issue 11): corrupt zstd, documents changed on the way
through, over-deep lines, inputs read twice or from an output, colliding ids, inputs edited in
place, PII look-alikes and misses, tokenize into another dataset, manifest paths escaping the
dataset for the Rust reader, and a kill while ``report.json`` is written. Each case goes through
``cpt.curate`` / ``cpt.tokenize`` / ``cpt._engine`` (the engine behind ``cpt-curate``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import zstandard

import cpt
import cpt.curate
import cpt.tokenize
from cpt import _engine

WORDS = (
    "the council shall review annual budget before spring members vote on proposals about "
    "roads schools water and parks citizens may attend public hearings where views are heard"
).split()


def prose(seed: int, n: int = 80) -> str:
    return (
        " ".join(WORDS[(seed * 7 + i * (seed % 5 + 1)) % len(WORDS)] for i in range(n)) + f" {seed}"
    )


def doc(seed: int, **fields: Any) -> str:
    return json.dumps({**fields, "text": prose(seed)})


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def curate(inputs: Any, out: Path, **keys: Any) -> dict[str, Any]:
    keys.setdefault("minhash", {"enabled": False})
    # The synthetic prose cycles through a few words: the repetition filter would drop it.
    keys.setdefault("filters", {"repetition": {"enabled": False}})
    return cpt.curate.run(inputs, out, quiet=True, **keys)


def read_zst_lines(path: Path) -> list[str]:
    with open(path, "rb") as f:
        data = zstandard.ZstdDecompressor().stream_reader(f).read()
    return data.decode().splitlines()


def test_zstd_bit_flip_named(hostile: Any, tmp_path: Path) -> None:
    body = ("\n".join(doc(i) for i in range(40)) + "\n").encode()
    packed = bytearray(zstandard.ZstdCompressor(level=3, write_checksum=True).compress(body))
    packed[len(packed) // 2] ^= 0x08
    bad = tmp_path / "flip.jsonl.zst"
    bad.write_bytes(bytes(packed))
    hostile.check(lambda: curate([bad], tmp_path / "out"), cpt.InputError, "flip.jsonl.zst")


def test_own_shards_carry_checksums(hostile: Any, tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", [doc(i) for i in range(5)] + ['{"text": "short"}'])
    hostile.accepted(lambda: curate([src], tmp_path / "out"))
    for sub in ("kept", "rejected"):
        head = (tmp_path / "out" / sub / "part-00000-0000.jsonl.zst").read_bytes()[:5]
        assert head[4] & 0b100, f"{sub}: zstd frame without a content checksum"


def test_big_numbers_and_key_order_byte_exact(hostile: Any, tmp_path: Path) -> None:
    line = (
        '{"z": 123456789012345678901234567890, "text": "' + prose(1) + ' mail ann@example.org",'
        ' "f": 1.50e3, "m": {"b": 1, "a": 2}}'
    )
    src = write(tmp_path / "in.jsonl", [line])
    hostile.accepted(lambda: curate([src], tmp_path / "out"))
    (kept,) = read_zst_lines(tmp_path / "out/kept/part-00000-0000.jsonl.zst")
    assert kept == line.replace("ann@example.org", "<EMAIL>")[:-1] + ',"id":"in:1"}'


def test_deep_nesting_strict_is_an_error(hostile: Any, tmp_path: Path) -> None:
    deep = '{"text": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    src = write(tmp_path / "deep.jsonl", [doc(1), deep])
    hostile.check(
        lambda: curate([src], tmp_path / "out"), cpt.InputError, "deep.jsonl:2", "nested deeper"
    )


def test_deep_nesting_lenient_is_counted(hostile: Any, tmp_path: Path) -> None:
    deep = '{"text": "x", "meta": ' + "[" * 101 + "]" * 101 + "}"
    src = write(tmp_path / "deep.jsonl", [doc(1), deep])
    report = hostile.accepted(lambda: curate([src], tmp_path / "out", lenient=True))
    assert report["malformed_docs"] == 1 and report["kept_docs"] == 1


def test_dotdot_and_symlinked_file_read_once(hostile: Any, tmp_path: Path) -> None:
    src = write(tmp_path / "a" / "x.jsonl", [doc(i) for i in range(3)])
    os.symlink(src, tmp_path / "a" / "link.jsonl")
    dotted = tmp_path / "a" / ".." / "a" / "x.jsonl"
    report = hostile.accepted(lambda: curate([tmp_path / "a", dotted], tmp_path / "out"))
    assert report["input_docs"] == 3


@pytest.mark.parametrize("follow", [False, True])
def test_directory_symlink_loops_end(hostile: Any, tmp_path: Path, follow: bool) -> None:
    write(tmp_path / "r" / "s" / "x.jsonl", [doc(1), doc(2)])
    os.symlink(tmp_path / "r", tmp_path / "r" / "s" / "loop")
    os.symlink(tmp_path / "r" / "s", tmp_path / "r" / "loop2")
    report = hostile.accepted(
        lambda: curate([tmp_path / "r"], tmp_path / "out", follow_symlinks=follow)
    )
    assert report["input_docs"] == 2


def test_previous_output_in_the_tree_is_skipped(hostile: Any, tmp_path: Path) -> None:
    write(tmp_path / "data" / "x.jsonl", [doc(i) for i in range(4)])
    curate([tmp_path / "data"], tmp_path / "prev")
    (tmp_path / "prev").rename(tmp_path / "data" / "prev")
    report = hostile.accepted(lambda: curate([tmp_path / "data"], tmp_path / "out"))
    assert report["input_docs"] == 4


def test_output_equal_to_input_refused(hostile: Any, tmp_path: Path) -> None:
    write(tmp_path / "data" / "x.jsonl", [doc(1)])
    d = tmp_path / "data"
    hostile.check(lambda: curate([d], d), cpt.ConfigError, "is the output directory")


def test_output_inside_input_refused(hostile: Any, tmp_path: Path) -> None:
    write(tmp_path / "data" / "x.jsonl", [doc(1)])
    d = tmp_path / "data"
    hostile.check(
        lambda: curate([d], d / "out"), cpt.ConfigError, "inside the input directory", str(d)
    )


def test_generated_ids_unique_across_directories(hostile: Any, tmp_path: Path) -> None:
    write(tmp_path / "d" / "a" / "docs.jsonl", [doc(7)])
    write(tmp_path / "d" / "b" / "docs.jsonl", [doc(7)])
    report = hostile.accepted(lambda: curate([tmp_path / "d"], tmp_path / "out"))
    assert report["rejected"]["exact_duplicate"]["docs"] == 1
    (rej,) = [
        json.loads(x) for x in read_zst_lines(tmp_path / "out/rejected/part-00001-0000.jsonl.zst")
    ]
    assert rej["id"] == "b/docs:1" and rej["duplicate_of"] == "a/docs:1"


def test_duplicate_explicit_ids_counted(hostile: Any, tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", [doc(1, id="k")])
    b = write(tmp_path / "b.jsonl", [doc(2, id="k")])
    report = hostile.accepted(lambda: curate([a, b], tmp_path / "out"))
    assert report["duplicate_ids"] == 1 and report["duplicate_id_examples"] == ["k"]


def test_input_edited_in_place_refused_on_resume(hostile: Any, tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", [doc(i) for i in range(3)])
    curate([src], tmp_path / "out")
    text = src.read_text()
    src.write_text(text.replace("council", "councel", 1))
    assert len(src.read_text()) == len(text)
    hostile.check(
        lambda: curate([src], tmp_path / "out"),
        cpt.ConfigError,
        "in.jsonl",
        "input changed",
        "--overwrite",
    )


@pytest.mark.parametrize(
    "value",
    [
        "+15551234567",
        "+8613800138000",
        "+44 7700 900123",
        "+49 30 12345678",
        "+91 98765 43210",
        "1-555-123-4567",
        "josé@example.es",
        '"john doe"@example.com',
        "fe80::1%eth0",
        "2001:db8::",
    ],
)
def test_pii_formerly_missed_is_redacted(hostile: Any, tmp_path: Path, value: str) -> None:
    src = write(
        tmp_path / "in.jsonl", [json.dumps({"text": prose(3) + " contact " + value + " today"})]
    )
    report = hostile.accepted(lambda: curate([src], tmp_path / "out"))
    assert report["pii"]["docs_with_pii"] == 1
    (kept,) = read_zst_lines(tmp_path / "out/kept/part-00000-0000.jsonl.zst")
    assert value not in json.loads(kept)["text"]


@pytest.mark.parametrize(
    "value",
    [
        "v2.10.4",
        "2024-01-15",
        "$1,234.56",
        "ISBN 978-3-16-148410-0",
        "d41d8cd98f00b204e9800998ecf8427e",
        "std::io",
    ],
)
def test_pii_look_alikes_survive(hostile: Any, tmp_path: Path, value: str) -> None:
    src = write(tmp_path / "in.jsonl", [json.dumps({"text": prose(3) + " see " + value})])
    report = hostile.accepted(lambda: curate([src], tmp_path / "out"))
    assert report["pii"]["docs_with_pii"] == 0


def _tokenizer(shared_data: Path) -> Path:
    return shared_data / "tokenizers" / "smollm2-135m.tokenizer.json"


def test_tokenize_into_other_dataset_refused(
    hostile: Any, tmp_path: Path, shared_data: Path
) -> None:
    a = write(tmp_path / "a.jsonl", [doc(1)])
    b = write(tmp_path / "b.jsonl", [doc(2)])
    out = tmp_path / "tokens"
    cpt.tokenize.tokenize(a, _tokenizer(shared_data), out)
    hostile.check(
        lambda: cpt.tokenize.tokenize(b, _tokenizer(shared_data), out),
        cpt.ConfigError,
        "a.jsonl",
        "b.jsonl",
        "--overwrite",
    )
    hostile.accepted(lambda: cpt.tokenize.tokenize(b, _tokenizer(shared_data), out, overwrite=True))


@pytest.mark.parametrize(
    "name,why",
    [("../x.cpts", "contains '..'"), ("/etc/passwd", "is absolute"), ("dup", "listed twice")],
)
def test_rust_reader_refuses_escaping_shards(
    hostile: Any, tmp_path: Path, shared_data: Path, name: str, why: str
) -> None:
    out = tmp_path / "tokens"
    cpt.tokenize.tokenize(write(tmp_path / "a.jsonl", [doc(1)]), _tokenizer(shared_data), out)
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["shards"][0]
    if name == "dup":
        manifest["shards"] = [entry, dict(entry, file="./" + entry["file"])]
        for key in ("tokens", "docs", "bytes"):
            manifest["totals"][key] *= 2
        manifest["totals"]["shards"] = 2
    else:
        entry["file"] = name
    (out / "manifest.json").write_text(json.dumps(manifest))
    hostile.check(
        lambda: _engine.read_tokens(out / "manifest.json", 0, 1),
        cpt.ShardError,
        "manifest.json",
        why,
    )


def test_partial_report_temp_resumes(hostile: Any, tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", [doc(i) for i in range(6)])
    clean = curate([src], tmp_path / "clean")
    out = tmp_path / "out"
    curate([src], out)
    # A kill mid-write leaves half a temp report and (say) no report.json.
    (out / "report.json").unlink()
    (out / ".report.json.tmp").write_text('{"format": 1, "input_do')
    again = hostile.accepted(lambda: curate([src], out))
    assert not (out / ".report.json.tmp").exists()
    assert again["kept_docs"] == clean["kept_docs"] and again["resumed_writes"] == 1
    for sub in ("kept", "rejected"):
        for f in sorted((tmp_path / "clean" / sub).iterdir()):
            assert (out / sub / f.name).read_bytes() == f.read_bytes()
