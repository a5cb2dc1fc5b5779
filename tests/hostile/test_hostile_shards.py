"""Hostile manifests and shards against the Python shard reader (``cpt.data.shards``): each is
refused with ``cpt.ShardError`` (or ``cpt.TokenizerError``) naming the file and the field."""

from __future__ import annotations

import json
import os
import signal
import struct
from pathlib import Path
from typing import Any, Callable

import pytest
import xxhash
import zstandard
from shardkit import copy_dataset, edit_manifest, make_dataset, rehash, replace_frame

import cpt
from cpt.data.shards import TokenDataset


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    return make_dataset(shared_data, tmp_path_factory.mktemp("base") / "ds")


@pytest.fixture
def ds(base: Path, tmp_path: Path) -> Path:
    return copy_dataset(base, tmp_path / "ds")


@pytest.fixture(autouse=True)
def _no_hang() -> Any:
    """A case that blocks (a FIFO opened for reading) fails after 20 s instead of hanging."""

    def boom(*_: Any) -> None:
        raise TimeoutError("the reader hung")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def open_full(manifest: Path) -> Callable[[], None]:
    """Open as the trainer does (file checksums on) and read every token."""

    def run() -> None:
        d = TokenDataset(manifest, verify_files=True)
        d.read(0, d.num_tokens)

    return run


def set_field(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A manifest edit: ``shards.0.tokens`` = value."""

    def change(m: dict[str, Any]) -> None:
        keys = path.split(".")
        node: Any = m
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


# (case id, manifest field, value, words the message must contain)
FIELD_CASES = [
    ("tokens-string", "shards.0.tokens", "12", ["shards[0].tokens", "expected an integer"]),
    ("tokens-bool", "shards.0.tokens", True, ["shards[0].tokens", "boolean"]),
    ("tokens-negative", "shards.0.tokens", -5, ["shards[0].tokens", "below 0"]),
    ("tokens-float", "shards.0.tokens", 1.5, ["shards[0].tokens", "a number"]),
    ("docs-null", "shards.1.docs", None, ["shards[1].docs", "null"]),
    ("bytes-list", "shards.2.bytes", [1], ["shards[2].bytes", "a list"]),
    ("file-int", "shards.0.file", 7, ["shards[0].file", "expected a string"]),
    ("file-empty", "shards.0.file", "", ["shards[0].file", "empty"]),
    ("file-nul", "shards.0.file", "a\x00b", ["shards[0].file", "NUL"]),
    ("checksum-malformed", "shards.0.checksum", "md5:abc", ["shards[0].checksum", "xxh3_64"]),
    ("shards-object", "shards", {"a": 1}, ["'shards'", "expected a list"]),
    ("shard-entry-string", "shards.0", "shard-00000.cpts", ["shards[0]", "expected an object"]),
    ("tokenizer-missing", "tokenizer", None, ["tokenizer", "expected an object"]),
    ("eos-outside-vocab", "tokenizer.eos_id", 10**9, ["tokenizer.eos_id", "vocabulary"]),
    ("bos-outside-vocab", "tokenizer.bos_id", -1, ["tokenizer.bos_id", "vocabulary"]),
    ("vocab-zero", "tokenizer.vocab_size", 0, ["tokenizer.vocab_size", "below 1"]),
    ("tokenizer-hash-int", "tokenizer.hash", 5, ["tokenizer.hash", "expected a string"]),
    ("dtype-unknown", "dtype", "int8", ["'dtype'", "int8"]),
    ("dtype-too-small", "tokenizer.vocab_size", 70000, ["'dtype'", "uint16 cannot hold"]),
    ("totals-tokens", "totals.tokens", 1, ["totals.tokens", "add up to"]),
    ("totals-shards", "totals.shards", 99, ["totals.shards", "add up to"]),
    ("totals-missing", "totals", None, ["'totals'", "expected an object"]),
    ("format-version", "format_version", 2, ["format", "version 2"]),
    ("format-name", "format", "megatron", ["format", "megatron"]),
]


@pytest.mark.parametrize("case,field,value,words", FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_bad_field(hostile: Any, ds: Path, case: str, field: str, value: Any, words: list[str]):
    edit_manifest(ds, set_field(field, value))
    hostile.check(open_full(ds), cpt.ShardError, str(ds), *words)


def test_parent_dir_escape(hostile: Any, ds: Path) -> None:
    outside = ds.parent.parent / "outside.cpts"
    os.replace(ds.parent / "shard-00000.cpts", outside)
    edit_manifest(ds, set_field("shards.0.file", "../outside.cpts"))
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "shards[0].file", "'..'")


def test_absolute_path(hostile: Any, ds: Path) -> None:
    edit_manifest(ds, set_field("shards.0.file", str(ds.parent / "shard-00000.cpts")))
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "shards[0].file", "absolute")


def test_symlink_out_of_the_dataset(hostile: Any, ds: Path) -> None:
    outside = ds.parent.parent / "outside.cpts"
    os.replace(ds.parent / "shard-00000.cpts", outside)
    (ds.parent / "shard-00000.cpts").symlink_to(outside)
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "shards[0].file", "outside")


def test_symlink_inside_the_dataset_is_fine(hostile: Any, ds: Path) -> None:
    (ds.parent / "sub").mkdir()
    os.replace(ds.parent / "shard-00000.cpts", ds.parent / "sub" / "real.cpts")
    (ds.parent / "shard-00000.cpts").symlink_to(ds.parent / "sub" / "real.cpts")
    hostile.accepted(open_full(ds))


def test_fifo_as_shard_does_not_hang(hostile: Any, ds: Path) -> None:
    shard = ds.parent / "shard-00001.cpts"
    shard.unlink()
    os.mkfifo(shard)
    hostile.check(open_full(ds), cpt.ShardError, "shards[1].file", "not a regular file")


def test_fifo_as_manifest_does_not_hang(hostile: Any, ds: Path) -> None:
    ds.unlink()
    os.mkfifo(ds)
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "not a regular file")


def test_directory_as_shard(hostile: Any, ds: Path) -> None:
    (ds.parent / "dir.cpts").mkdir()
    edit_manifest(ds, set_field("shards.0.file", "dir.cpts"))
    hostile.check(open_full(ds), cpt.ShardError, "shards[0].file", "not a regular file")


def test_missing_shard(hostile: Any, ds: Path) -> None:
    (ds.parent / "shard-00003.cpts").unlink()
    hostile.check(open_full(ds), cpt.ShardError, "shards[3].file", "not found")


def test_missing_manifest(hostile: Any, tmp_path: Path) -> None:
    hostile.check(open_full(tmp_path / "manifest.json"), cpt.ShardError, "manifest not found")


@pytest.mark.parametrize("spelling", ["shard-00000.cpts", "./shard-00000.cpts", "x/../shard"])
def test_shard_listed_twice(hostile: Any, ds: Path, spelling: str) -> None:
    def dup(m: dict[str, Any]) -> None:
        m["shards"][1] = dict(m["shards"][0], file=spelling)

    edit_manifest(ds, dup)
    words = ["shards[1].file", "'..'"] if ".." in spelling else ["shards[1].file", "listed twice"]
    hostile.check(open_full(ds), cpt.ShardError, str(ds), *words)


@pytest.mark.parametrize("key", ["tokens", "docs", "bytes"])
def test_entry_count_disagrees_with_shard(hostile: Any, ds: Path, key: str) -> None:
    def change(m: dict[str, Any]) -> None:
        m["shards"][2][key] += 1
        m["totals"][key] += 1  # consistent totals: the shard itself must be compared

    edit_manifest(ds, change)
    hostile.check(open_full(ds), cpt.ShardError, "shard-00002.cpts", f"shards[2].{key}")


def test_checksum_disagrees_with_shard(hostile: Any, ds: Path) -> None:
    edit_manifest(ds, set_field("shards.4.checksum", "xxh3_64:0123456789abcdef"))
    hostile.check(open_full(ds), cpt.ShardError, "shard-00004.cpts", "shards[4].checksum")


def test_shards_swapped(hostile: Any, ds: Path) -> None:
    """Two valid shards of identical size exchanged: only the checksum can tell."""
    m = json.loads(ds.read_text())
    a, b = m["shards"][0], m["shards"][1]
    a["file"], b["file"] = b["file"], a["file"]
    a["tokens"], b["tokens"] = b["tokens"], a["tokens"]
    a["docs"], b["docs"] = b["docs"], a["docs"]
    a["bytes"], b["bytes"] = b["bytes"], a["bytes"]
    ds.write_text(json.dumps(m))
    hostile.check(open_full(ds), cpt.ShardError, "shards[0].checksum")


def test_utf8_bom(hostile: Any, ds: Path) -> None:
    ds.write_bytes(b"\xef\xbb\xbf" + ds.read_bytes())
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "byte-order mark (BOM)")


def test_not_utf8(hostile: Any, ds: Path) -> None:
    ds.write_bytes(ds.read_bytes().replace(b'"uint16"', b'"uint\xff16"'))
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "not UTF-8")


def test_truncated_manifest_json(hostile: Any, ds: Path) -> None:
    ds.write_bytes(ds.read_bytes()[:-20])
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "bad manifest JSON at line")


def test_empty_manifest(hostile: Any, ds: Path) -> None:
    ds.write_bytes(b"")
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "bad manifest JSON")


def test_manifest_is_a_list(hostile: Any, ds: Path) -> None:
    ds.write_text("[1, 2]")
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "expected an object")


def test_manifest_nested_deeply(hostile: Any, ds: Path) -> None:
    ds.write_text("[" * 200_000 + "]" * 200_000)
    hostile.check(open_full(ds), cpt.ShardError, str(ds), "nested too deeply")


def test_tokenizer_mismatch(hostile: Any, ds: Path) -> None:
    def run() -> None:
        TokenDataset(ds, expected_tokenizer_hash="xxh3_64:ffffffffffffffff")

    hostile.check(run, cpt.TokenizerError, str(ds), "xxh3_64:ffffffffffffffff")


def test_dtype_disagrees_with_shard(hostile: Any, ds: Path) -> None:
    edit_manifest(ds, set_field("dtype", "uint32"))
    hostile.check(open_full(ds), cpt.ShardError, "shard-00000.cpts", "'dtype' says uint32")


def _damage_shard(ds: Path, fn: Callable[[bytearray], bytes]) -> None:
    """Damage shard 3, then update the manifest so only the shard's own checks can object."""
    shard = ds.parent / "shard-00003.cpts"
    shard.write_bytes(fn(bytearray(shard.read_bytes())))
    edit_manifest(ds, lambda m: rehash(m, ds.parent))


def _lazy_read(ds: Path) -> Callable[[], None]:
    def run() -> None:
        d = TokenDataset(ds)  # no whole-file hash: the frame checks must catch it
        d.read(0, d.num_tokens)

    return run


@pytest.mark.parametrize(
    "case,cut,words",
    [
        ("header-only", 64, ["truncated or padded"]),
        ("mid-frames", 700, ["truncated or padded"]),
        ("short-of-header", 10, ["shorter than the 64-byte header"]),
        ("empty", 0, ["shorter than the 64-byte header"]),
    ],
)
def test_truncated_shard(hostile: Any, ds: Path, case: str, cut: int, words: list[str]) -> None:
    _damage_shard(ds, lambda b: bytes(b[:cut]))
    hostile.check(_lazy_read(ds), cpt.ShardError, "shard-00003.cpts", *words)


def test_flipped_frame_byte(hostile: Any, ds: Path) -> None:
    def flip(b: bytearray) -> bytes:
        b[200] ^= 0x10
        return bytes(b)

    _damage_shard(ds, flip)
    hostile.check(_lazy_read(ds), cpt.ShardError, "shard-00003.cpts", "frame 0", "checksum")


def test_frame_not_zstd(hostile: Any, ds: Path) -> None:
    shard = ds.parent / "shard-00003.cpts"
    replace_frame(shard, 1, b"\x00" * 300)
    edit_manifest(ds, lambda m: rehash(m, ds.parent))
    hostile.check(_lazy_read(ds), cpt.ShardError, "shard-00003.cpts", "frame 1", "zstd")


def test_frame_decompresses_to_wrong_size(hostile: Any, ds: Path) -> None:
    shard = ds.parent / "shard-00003.cpts"
    replace_frame(shard, 0, zstandard.ZstdCompressor().compress(b"\x01\x00" * 10))
    edit_manifest(ds, lambda m: rehash(m, ds.parent))
    hostile.check(_lazy_read(ds), cpt.ShardError, "shard-00003.cpts", "frame 0", "decompressed")


def test_frame_count_lies(hostile: Any, ds: Path) -> None:
    def lie(b: bytearray) -> bytes:
        struct.pack_into("<Q", b, 32, struct.unpack_from("<Q", b, 32)[0] + 1)
        return bytes(b)

    _damage_shard(ds, lie)
    hostile.check(_lazy_read(ds), cpt.ShardError, "shard-00003.cpts", "header checksum")


def _reseal_header(b: bytearray) -> None:
    struct.pack_into("<Q", b, 56, xxhash.xxh3_64_intdigest(bytes(b[:56])))


def test_crafted_index_with_valid_checksums(hostile: Any, ds: Path) -> None:
    """A frame length near 2**64 (wraps to negative in int64), every checksum made valid."""

    def craft(b: bytearray) -> bytes:
        index_offset = struct.unpack_from("<Q", b, 40)[0]
        struct.pack_into("<Q", b, index_offset + 8, 2**64 - 5)
        struct.pack_into("<Q", b, 48, xxhash.xxh3_64_intdigest(bytes(b[index_offset:])))
        _reseal_header(b)
        return bytes(b)

    _damage_shard(ds, craft)
    hostile.check(_lazy_read(ds), cpt.ShardError, "shard-00003.cpts", "outside the file")


def test_huge_frame_tokens_with_valid_checksum(hostile: Any, ds: Path) -> None:
    """A header asking for 4-billion-token frames (a decompression buffer of 16 GB)."""

    def craft(b: bytearray) -> bytes:
        struct.pack_into("<I", b, 12, 2**32 - 1)
        _reseal_header(b)
        return bytes(b)

    _damage_shard(ds, craft)
    hostile.check(_lazy_read(ds), cpt.ShardError, "shard-00003.cpts", "frame_tokens")
