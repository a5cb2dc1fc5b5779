"""``manifest.json`` of a token dataset (FORMAT.md section 3), read as untrusted input.

Every field the reader relies on is type-checked, and every shard path must name a regular file
inside the dataset directory: no absolute paths, no ``..``, no symlink that leads out, no FIFO, no
shard listed twice. Each problem is a ``ShardFormatError`` naming the manifest and the field
(``shards[2].file``), so a user sees what to fix instead of a ``KeyError`` traceback.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpt import ShardError

FORMAT_NAME = "cpt-token-shards"
FORMAT_VERSION = 1
DTYPES = ("uint16", "uint32")
_CHECKSUM = re.compile(r"^xxh3_64:[0-9a-f]{16}$")
_UTF8_BOM = b"\xef\xbb\xbf"
# A manifest lists shards, not data: anything this large is not a manifest (and is not read).
_MAX_MANIFEST_BYTES = 64 << 20


class ShardFormatError(ShardError, ValueError):
    """A shard or manifest that is truncated, corrupt, unsafe, or of an unknown version.

    A ``cpt.ShardError`` (what the CLIs turn into one line); also a ``ValueError`` for callers
    written before cpt had its own classes."""


@dataclass(frozen=True)
class ShardEntry:
    path: Path  # resolved, inside the dataset directory
    file: str  # as written in the manifest
    tokens: int
    docs: int
    bytes: int
    checksum: str


@dataclass(frozen=True)
class Manifest:
    path: Path
    raw: dict[str, Any]
    dtype: str
    tokenizer_hash: str
    eos_id: int
    bos_id: int | None
    vocab_size: int
    shards: list[ShardEntry]


class _Fields:
    """Typed access to one JSON object, each error naming the manifest and the dotted key."""

    def __init__(self, manifest: Path, obj: Any, where: str) -> None:
        self.manifest, self.where = manifest, where
        if not isinstance(obj, dict):
            raise self.error(f"expected an object, got {_kind(obj)}")
        self.obj = obj

    def error(self, msg: str, key: str | None = None) -> ShardFormatError:
        name = f"{self.where}.{key}" if self.where and key else (key or self.where)
        field = f"field '{name}': " if name else ""
        return ShardFormatError(f"{self.manifest}: {field}{msg}")

    def get(self, key: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
        if key not in self.obj:
            if optional:
                return None
            raise self.error("missing", key)
        value = self.obj[key]
        if value is None and optional:
            return None
        # bool is an int subclass in Python; a count of `true` is a mistake, not 1.
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise self.error(f"expected {_names(kind)}, got a boolean", key)
        if not isinstance(value, kind):
            raise self.error(f"expected {_names(kind)}, got {_kind(value)}", key)
        return value

    def count(self, key: str, minimum: int = 0) -> int:
        value = int(self.get(key, int))
        if value < minimum:
            raise self.error(f"{value} is below {minimum}", key)
        return value

    def sub(self, key: str) -> _Fields:
        name = f"{self.where}.{key}" if self.where else key
        if key not in self.obj:
            raise self.error("missing", key)
        return _Fields(self.manifest, self.obj[key], name)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", list: "a list", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _read_regular(path: Path, limit: int) -> bytes:
    """Bytes of a regular file (O_NONBLOCK so that a FIFO is refused, not waited on)."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ShardFormatError(f"{path}: manifest not found") from None
    except OSError as e:
        raise ShardFormatError(f"{path}: cannot open the manifest: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ShardFormatError(f"{path}: the manifest is not a regular file")
        if st.st_size > limit:
            raise ShardFormatError(f"{path}: {st.st_size} bytes is too large for a manifest")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(limit + 1)
    finally:
        os.close(fd)


def _parse(path: Path) -> Any:
    raw = _read_regular(path, _MAX_MANIFEST_BYTES)
    if raw.startswith(_UTF8_BOM):
        raise ShardFormatError(
            f"{path}: starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without BOM"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ShardFormatError(f"{path}: not UTF-8 (byte {e.start}): {e.reason}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ShardFormatError(
            f"{path}: bad manifest JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None
    except RecursionError:
        raise ShardFormatError(f"{path}: bad manifest JSON: nested too deeply") from None


def _shard_path(root: Path, name: str, f: _Fields, key: str) -> Path:
    """``name`` resolved inside ``root`` (the real dataset directory), else an error."""
    if not name or "\x00" in name:
        raise f.error("empty or contains a NUL byte", key)
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        raise f.error(f"{name!r} is absolute; shard paths are relative to the manifest", key)
    if ".." in re.split(r"[\\/]", name):
        raise f.error(f"{name!r} contains '..'; shards must lie inside the dataset directory", key)
    resolved = Path(os.path.realpath(root / name))
    if not resolved.is_relative_to(root):
        raise f.error(
            f"{name!r} resolves to {resolved}, outside the dataset directory {root} (a symlink?)",
            key,
        )
    try:
        st = resolved.stat()
    except FileNotFoundError:
        raise f.error(f"shard {resolved} not found", key) from None
    except OSError as e:
        raise f.error(f"shard {resolved}: {e.strerror}", key) from None
    if not stat.S_ISREG(st.st_mode):
        raise f.error(f"shard {resolved} is not a regular file (a FIFO, device or directory)", key)
    return resolved


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and check ``manifest.json``; shard files are checked here only for where they are."""
    path = Path(path)
    top = _Fields(path, _parse(path), "")
    fmt, version = top.obj.get("format"), top.obj.get("format_version")
    if fmt != FORMAT_NAME or version != FORMAT_VERSION:
        raise ShardFormatError(
            f"{path}: manifest format {fmt!r} version {version!r}, expected {FORMAT_NAME!r} "
            f"version {FORMAT_VERSION}"
        )
    dtype = top.get("dtype", str)
    if dtype not in DTYPES:
        raise top.error(f"{dtype!r} is not one of {', '.join(DTYPES)}", "dtype")
    tok = top.sub("tokenizer")
    tok_hash = tok.get("hash", str)
    vocab = tok.count("vocab_size", 1)
    eos = tok.count("eos_id")
    if eos >= vocab:
        raise tok.error(f"{eos} is outside the vocabulary (vocab_size {vocab})", "eos_id")
    bos = tok.get("bos_id", int, optional=True)
    if bos is not None and not 0 <= bos < vocab:
        raise tok.error(f"{bos} is outside the vocabulary (vocab_size {vocab})", "bos_id")
    if dtype == "uint16" and vocab > 1 << 16:
        raise top.error(f"uint16 cannot hold a vocabulary of {vocab}", "dtype")

    root = Path(os.path.realpath(path.parent))
    items = top.get("shards", list)
    shards: list[ShardEntry] = []
    seen: dict[Path, int] = {}
    for i, item in enumerate(items):
        f = _Fields(path, item, f"shards[{i}]")
        name = f.get("file", str)
        resolved = _shard_path(root, name, f, "file")
        if resolved in seen:
            raise f.error(
                f"{name!r} is the same file as shards[{seen[resolved]}]; a shard is listed twice",
                "file",
            )
        seen[resolved] = i
        checksum = f.get("checksum", str)
        if not _CHECKSUM.match(checksum):
            raise f.error(f"{checksum!r} is not 'xxh3_64:' and 16 lowercase hex digits", "checksum")
        shards.append(
            ShardEntry(
                resolved, name, f.count("tokens"), f.count("docs"), f.count("bytes"), checksum
            )
        )
    totals = top.sub("totals")
    for key, got in (
        ("shards", len(shards)),
        ("tokens", sum(s.tokens for s in shards)),
        ("docs", sum(s.docs for s in shards)),
        ("bytes", sum(s.bytes for s in shards)),
    ):
        want = totals.count(key)
        if want != got:
            raise totals.error(f"says {want}, the shard entries add up to {got}", key)
    return Manifest(path, top.obj, dtype, tok_hash, eos, bos, vocab, shards)
