"""FORMAT.md as the contract: a dataset written here in plain Python straight from the spec is
read back by both readers (the Python one and the Rust one), and damage to each checked part is
refused with the shard file named."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import xxhash
import zstandard

import cpt
from cpt import _engine
from cpt.data.shards import ShardFormatError, TokenDataset


def spec_shard(path: Path, docs: list[list[int]], frame_tokens: int, width: int) -> None:
    """Write one shard following FORMAT.md section 2, independently of the Rust writer."""
    dtype = {2: "<u2", 4: "<u4"}[width]
    flat = np.array([t for d in docs for t in d], dtype=dtype)
    frames, entries, offset = [], b"", 64
    for i, first in enumerate(range(0, len(flat), frame_tokens)):
        data = zstandard.ZstdCompressor(level=1).compress(
            flat[first : first + frame_tokens].tobytes()
        )
        entries += struct.pack(
            "<QQQQ", offset, len(data), i * frame_tokens, xxhash.xxh3_64_intdigest(data)
        )
        frames.append(data)
        offset += len(data)
    starts = np.cumsum([0] + [len(d) for d in docs[:-1]]).astype("<u8").tobytes()
    index = entries + starts
    head = struct.pack(
        "<8sHBBIQQQQQ",
        b"CPTSHARD",
        1,
        width,
        0,
        frame_tokens,
        len(flat),
        len(docs),
        len(frames),
        offset,
        xxhash.xxh3_64_intdigest(index),
    )
    head += struct.pack("<Q", xxhash.xxh3_64_intdigest(head))
    path.write_bytes(head + b"".join(frames) + index)


def spec_dataset(
    root: Path, shards: list[list[list[int]]], width: int = 2, frame_tokens: int = 7
) -> Path:
    entries = []
    for i, docs in enumerate(shards):
        name = f"part-{i}.cpts"
        spec_shard(root / name, docs, frame_tokens, width)
        data = (root / name).read_bytes()
        entries.append(
            {
                "file": name,
                "tokens": sum(map(len, docs)),
                "docs": len(docs),
                "bytes": len(data),
                "checksum": "xxh3_64:" + xxhash.xxh3_64_hexdigest(data),
            }
        )
    manifest = {
        "format": "cpt-token-shards",
        "format_version": 1,
        "tool": {"name": "test", "version": "0"},
        "dtype": {2: "uint16", 4: "uint32"}[width],
        "frame_tokens": frame_tokens,
        "tokenizer": {
            "hash": "xxh3_64:0123456789abcdef",
            "file": "t.json",
            "vocab_size": 99,
            "eos_id": 0,
            "eos_token": "</s>",
            "bos_id": None,
            "bos_token": None,
        },
        "totals": {
            "shards": len(entries),
            "tokens": sum(e["tokens"] for e in entries),
            "docs": sum(e["docs"] for e in entries),
            "bytes": sum(e["bytes"] for e in entries),
        },
        "shards": entries,
        "inputs": [],
        "curation_config_hash": None,
        "options": {
            "shard_tokens": 1,
            "frame_tokens": frame_tokens,
            "zstd_level": 1,
            "text_key": "text",
        },
    }
    path = root / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def random_docs(rng: np.random.Generator, n: int, high: int) -> list[list[int]]:
    return [rng.integers(1, high, size=int(rng.integers(0, 30))).tolist() + [0] for _ in range(n)]


@pytest.mark.parametrize("width,high", [(2, 65_536), (4, 4_000_000_000)])
def test_spec_written_dataset_reads_back_in_both_readers(
    tmp_path: Path, width: int, high: int
) -> None:
    rng = np.random.default_rng(width)
    shards = [random_docs(rng, 40, high), random_docs(rng, 1, high), random_docs(rng, 25, high)]
    manifest = spec_dataset(tmp_path, shards, width=width)
    docs = [d for s in shards for d in s]
    flat = [t for d in docs for t in d]
    ds = TokenDataset(manifest, expected_tokenizer_hash="xxh3_64:0123456789abcdef")
    assert (ds.num_tokens, ds.num_docs) == (len(flat), len(docs))
    assert [d.tolist() for d in ds.iter_documents()] == docs
    assert ds.read(0, len(flat)).tolist() == flat
    ds.verify()
    assert _engine.read_tokens(str(manifest), 0, len(flat)) == flat
    for start in rng.integers(0, len(flat), size=50).tolist():
        count = min(40, len(flat) - start)
        assert _engine.read_tokens(str(manifest), start, count) == flat[start : start + count]


def test_reader_refuses_damage_to_each_checked_part(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    manifest = spec_dataset(tmp_path, [random_docs(rng, 30, 1000)])
    shard = tmp_path / "part-0.cpts"
    good = shard.read_bytes()
    index_offset = struct.unpack_from("<Q", good, 40)[0]
    cases = {
        0: "bad magic",  # magic
        8: "version",  # version
        20: "header checksum",  # a header count
        index_offset + 3: "index checksum",  # frame index
        len(good) - 3: "index checksum",  # document index
    }
    for at, what in cases.items():
        bad = bytearray(good)
        bad[at] ^= 0x02
        shard.write_bytes(bytes(bad))
        with pytest.raises(ShardFormatError, match=what) as e:
            TokenDataset(manifest)
        assert "part-0.cpts" in str(e.value)
        with pytest.raises(cpt.ShardError, match="part-0.cpts"):
            _engine.read_tokens(str(manifest), 0, 1)
    shard.write_bytes(good + b"\0")
    with pytest.raises(ShardFormatError, match="truncated or padded"):
        TokenDataset(manifest)
    shard.write_bytes(good)
    # A shard that disagrees with its manifest entry.
    m = json.loads(manifest.read_text())
    m["shards"][0]["tokens"] += 1
    m["totals"]["tokens"] += 1
    manifest.write_text(json.dumps(m))
    with pytest.raises(ShardFormatError, match=r"does not match.*'shards\[0\]\.tokens'"):
        TokenDataset(manifest)
    m["format_version"] = 2
    manifest.write_text(json.dumps(m))
    with pytest.raises(ShardFormatError, match="version 2"):
        TokenDataset(manifest)
