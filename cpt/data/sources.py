"""Token sources: the one interface the mixer and the perplexity evaluation read from.

A source is a flat stream of token ids (documents separated by EOS) that can be read at any offset.
Two formats are supported: cpt's own token shards (``cpt.data.shards.TokenDataset``, imported only
when used; its manifest records the EOS id) and raw files (a flat little-endian uint16/uint32
array, memory-mapped: nanoGPT's ``.bin``, or the ``.bin`` of the engine's Megatron export).
``open_source`` is the one opener of both.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cpt import ConfigError


@runtime_checkable
class TokenSource(Protocol):
    name: str
    identity: str  # changes when the data changes; checked on resume
    num_tokens: int
    eos_id: int | None  # the document separator the producer recorded (None: not recorded)

    def read(self, start: int, count: int) -> np.ndarray:
        """Tokens ``[start, start + count)``; the caller keeps the range inside ``num_tokens``."""
        ...


class RawTokenSource:
    """A nanoGPT-style ``.bin``: raw little-endian token ids, memory-mapped."""

    eos_id: int | None = None  # a raw file does not say which id separates documents

    def __init__(self, path: str | Path, dtype: str = "uint16", name: str = "") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"data source {self.path}: file not found")
        if self.path.suffix == ".json":
            raise ConfigError(
                f"data source {self.path}: a .json file (a cpt manifest?) cannot be read as raw "
                "tokens; use format cpt"
            )
        np_dtype = np.dtype(dtype).newbyteorder("<")
        size = self.path.stat().st_size
        if size == 0:
            raise ConfigError(f"data source {self.path}: file is empty")
        if size % np_dtype.itemsize:
            raise ConfigError(
                f"data source {self.path}: size {size} bytes is not a multiple of {dtype} "
                f"({np_dtype.itemsize} bytes); wrong dtype or truncated file?"
            )
        self._data = np.memmap(self.path, dtype=np_dtype, mode="r")
        self.num_tokens = int(self._data.shape[0])
        self.name = name or self.path.stem
        self.dtype = dtype
        self.identity = f"raw:{dtype}:{self.num_tokens}:{self._fingerprint()}"

    def _fingerprint(self) -> str:
        """Hash of the head and tail: cheap, and catches a swapped or re-tokenized file."""
        h = hashlib.sha256()
        raw = self._data.view(np.uint8)
        h.update(bytes(raw[: 1 << 16]))
        h.update(bytes(raw[-(1 << 16) :]))
        return h.hexdigest()[:16]

    def read(self, start: int, count: int) -> np.ndarray:
        return np.asarray(self._data[start : start + count])


class ShardTokenSource:
    """cpt token shards through the shard reader (``cpt.data.shards``)."""

    def __init__(
        self, manifest: str | Path, name: str = "", expected_tokenizer_hash: str | None = None
    ) -> None:
        from cpt.data.shards import TokenDataset  # lazy: the reader is its own module

        self.path = Path(manifest)
        if self.path.is_dir():  # a dataset directory stands for its manifest
            self.path = self.path / "manifest.json"
        if not self.path.exists():
            raise ConfigError(f"data source {self.path}: manifest not found")
        self._ds = TokenDataset(
            self.path, expected_tokenizer_hash=expected_tokenizer_hash, verify_files=True
        )
        self.num_tokens = int(self._ds.num_tokens)
        self.eos_id: int | None = int(self._ds.eos_id)
        self.eos_token: str | None = self._ds.manifest["tokenizer"].get("eos_token")
        self.name = name or self.path.parent.name
        self.identity = self._ds.identity  # tokenizer + every shard checksum

    @property
    def tokenizer_hash(self) -> str:
        return str(self._ds.tokenizer_hash)

    def read(self, start: int, count: int) -> np.ndarray:
        return np.asarray(self._ds.read(start, count))


class ArraySource:
    """Tokens already in memory (tests, benchmarks, small experiments)."""

    eos_id: int | None = None

    def __init__(self, tokens: Any, name: str = "array") -> None:
        self.tokens = np.asarray(tokens)
        self.num_tokens = int(self.tokens.shape[0])
        self.name = name
        self.identity = f"array:{name}:{self.num_tokens}"

    def read(self, start: int, count: int) -> np.ndarray:
        return self.tokens[start : start + count]


def open_source(
    path: str | Path,
    fmt: str = "auto",
    dtype: str = "uint16",
    name: str = "",
    expected_tokenizer_hash: str | None = None,
) -> TokenSource:
    """Open token data: ``fmt`` cpt (a manifest.json or its directory), raw (a flat ``.bin``) or
    auto (raw for a ``.bin`` file, cpt otherwise)."""
    if fmt == "auto":
        fmt = "raw" if Path(path).suffix == ".bin" else "cpt"
    if fmt == "raw":
        return RawTokenSource(path, dtype=dtype, name=name)
    if fmt == "cpt":
        return ShardTokenSource(path, name=name, expected_tokenizer_hash=expected_tokenizer_hash)
    raise ConfigError(f"data source {path}: unknown format {fmt!r} (cpt or raw)")


def write_raw_tokens(path: str | Path, tokens: np.ndarray, dtype: str = "uint16") -> Path:
    """Write a raw token file atomically (temp name + rename); used by tests, demos and benches."""
    path = Path(path)
    arr = np.asarray(tokens)
    info = np.iinfo(np.dtype(dtype))
    if arr.size and (arr.min() < 0 or arr.max() > info.max):
        raise ValueError(f"token ids do not fit {dtype}")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(arr.astype(np.dtype(dtype).newbyteorder("<")).tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return path
