"""A real token dataset (written by cpt's Rust tokenizer from shared data) and ways to damage it."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import xxhash

from cpt.tokenize import tokenize


def make_dataset(shared_data: Path, out: Path, docs: int = 40, shard_tokens: int = 8000) -> Path:
    """Shards of several frames each, from ``docs`` license texts; returns the manifest."""
    import zstandard

    raw = zstandard.decompress(
        (shared_data / "domain" / "licenses-heldout.jsonl.zst").read_bytes(),
        max_output_size=1 << 30,
    )
    src = out.parent / "docs.jsonl"
    src.write_bytes(b"\n".join(raw.splitlines()[:docs]) + b"\n")
    tok = shared_data / "tokenizers" / "smollm2-135m.tokenizer.json"
    tokenize(src, tok, out, frame_tokens=512, shard_tokens=shard_tokens, threads=1)
    return out / "manifest.json"


def copy_dataset(manifest: Path, dest: Path) -> Path:
    shutil.copytree(manifest.parent, dest)
    return dest / "manifest.json"


def edit_manifest(manifest: Path, change: Any) -> None:
    m = json.loads(manifest.read_text())
    change(m)
    manifest.write_text(json.dumps(m))


def rehash(m: dict[str, Any], root: Path) -> None:
    """Make the manifest's per-shard bytes/checksum and totals match the files again."""
    for e in m["shards"]:
        data = (root / e["file"]).read_bytes()
        e["bytes"], e["checksum"] = len(data), "xxh3_64:" + xxhash.xxh3_64_hexdigest(data)
    m["totals"]["bytes"] = sum(e["bytes"] for e in m["shards"])


def replace_frame(shard: Path, i: int, data: bytes) -> None:
    """Put ``data`` in place of frame ``i`` with every checksum made valid again, so that only
    the frame's content is wrong (what a buggy writer, not a bit flip, would produce)."""
    buf = bytearray(shard.read_bytes())
    index_offset = struct.unpack_from("<Q", buf, 40)[0]
    num_frames = struct.unpack_from("<Q", buf, 32)[0]
    entries = [
        list(struct.unpack_from("<QQQQ", buf, index_offset + 32 * k)) for k in range(num_frames)
    ]
    frames = [bytes(buf[e[0] : e[0] + e[1]]) for e in entries]
    docs = bytes(buf[index_offset + 32 * num_frames :])
    frames[i] = data
    offset, index = 64, b""
    for k, f in enumerate(frames):
        index += struct.pack("<QQQQ", offset, len(f), entries[k][2], xxhash.xxh3_64_intdigest(f))
        offset += len(f)
    index += docs
    head = bytearray(buf[:64])
    struct.pack_into("<Q", head, 40, offset)
    struct.pack_into("<Q", head, 48, xxhash.xxh3_64_intdigest(index))
    struct.pack_into("<Q", head, 56, xxhash.xxh3_64_intdigest(bytes(head[:56])))
    shard.write_bytes(bytes(head) + b"".join(frames) + index)


def reseal(b: bytearray) -> bytes:
    """Recompute every checksum the (possibly damaged) layout points at: frame checksums for
    entries inside the file, the index checksum and the header checksum. The result is what a
    crafted file looks like, so the reader's structural checks get exercised."""
    if len(b) < 64:
        return bytes(b)
    index_offset, num_frames = (
        struct.unpack_from("<Q", b, 40)[0],
        struct.unpack_from("<Q", b, 32)[0],
    )
    if index_offset > len(b):
        return bytes(b)
    for i in range(min(num_frames, (len(b) - index_offset) // 32)):
        e = index_offset + 32 * i
        off, length = struct.unpack_from("<QQ", b, e)
        if off + length <= len(b):
            struct.pack_into(
                "<Q", b, e + 24, xxhash.xxh3_64_intdigest(bytes(b[off : off + length]))
            )
    struct.pack_into("<Q", b, 48, xxhash.xxh3_64_intdigest(bytes(b[index_offset:])))
    struct.pack_into("<Q", b, 56, xxhash.xxh3_64_intdigest(bytes(b[:56])))
    return bytes(b)
