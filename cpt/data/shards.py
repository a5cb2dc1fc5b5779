"""Reader of cpt token shards, written from FORMAT.md alone (a second implementation that keeps
the Rust writer honest): plain Python with ``zstandard``, ``xxhash`` and numpy.

    ds = TokenDataset("out/manifest.json", expected_tokenizer_hash=tokenizer_hash("tok.json"))
    ds.read(start, count)        # np.ndarray of the stored dtype, any range across shards
    for doc in ds.iter_documents(): ...

Every frame's XXH3-64 is checked before it is decompressed; a damaged shard raises
``ShardFormatError`` naming the file and the frame. Reads use ``os.pread``, so a dataset opened
before a ``fork`` (DataLoader workers) stays correct in every process.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Iterator, Union

import numpy as np
import xxhash
import zstandard

from cpt import TokenizerError
from cpt.data.manifest import FORMAT_VERSION, ShardFormatError, load_manifest

__all__ = [
    "FORMAT_VERSION",
    "Shard",
    "ShardFormatError",
    "TokenDataset",
    "TokenizerMismatchError",
    "tokenizer_hash",
]

PathLike = Union[str, "os.PathLike[str]"]

MAGIC = b"CPTSHARD"
HEADER_LEN = 64
MAX_FRAME_TOKENS = 1 << 26  # 256 MiB of u32 per frame; the writer's default is 262,144 tokens
FRAME_ENTRY_LEN = 32
_HEADER = struct.Struct("<8sHBBIQQQQQQ")
_DTYPES = {2: np.dtype("<u2"), 4: np.dtype("<u4")}


class TokenizerMismatchError(TokenizerError, ValueError):
    """A dataset tokenized with another tokenizer than the one expected."""


def _checksum(data: bytes) -> str:
    return "xxh3_64:" + xxhash.xxh3_64_hexdigest(data)


def tokenizer_hash(path: PathLike) -> str:
    """The identity of a tokenizer as manifests record it: XXH3-64 of its tokenizer.json bytes."""
    return _checksum(Path(path).read_bytes())


class Shard:
    """One shard file: header and indexes are read and checked on open, frames on demand."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._pid = -1
        self._fd = -1
        size = self._open_regular()
        self.size = size
        head = self._pread(min(HEADER_LEN, size), 0)
        if len(head) < HEADER_LEN:
            raise self._error(f"truncated: {size} bytes, shorter than the 64-byte header")
        (
            magic,
            version,
            width,
            _reserved,
            frame_tokens,
            num_tokens,
            num_docs,
            num_frames,
            index_offset,
            index_sum,
            header_sum,
        ) = _HEADER.unpack(head)
        if magic != MAGIC:
            raise self._error("not a cpt token shard (bad magic)")
        if version != FORMAT_VERSION:
            raise self._error(f"format version {version}, this reader knows {FORMAT_VERSION}")
        if xxhash.xxh3_64_intdigest(head[:56]) != header_sum:
            raise self._error("header checksum mismatch (corrupt header)")
        if width not in _DTYPES or frame_tokens == 0:
            raise self._error(f"bad header (token width {width}, frame_tokens {frame_tokens})")
        if frame_tokens > MAX_FRAME_TOKENS:
            # A frame is decompressed into one buffer of frame_tokens x width bytes.
            raise self._error(
                f"frame_tokens {frame_tokens} exceeds this reader's limit of {MAX_FRAME_TOKENS}"
            )
        if num_frames != -(-num_tokens // frame_tokens):
            raise self._error(f"header says {num_frames} frames for {num_tokens} tokens")
        index_len = num_frames * FRAME_ENTRY_LEN + num_docs * 8
        if size != index_offset + index_len:
            raise self._error(
                f"truncated or padded: file is {size} bytes, its header implies "
                f"{index_offset + index_len}"
            )
        index = self._pread(index_len, index_offset)
        if xxhash.xxh3_64_intdigest(index) != index_sum:
            raise self._error("index checksum mismatch (corrupt frame or document index)")
        split = num_frames * FRAME_ENTRY_LEN
        frames = np.frombuffer(index[:split], dtype="<u8").reshape(num_frames, 4)
        # Checked as unsigned before any int64 arithmetic: a crafted index with valid checksums
        # must not wrap around into negative offsets or lengths.
        if num_frames and (frames[:, 0].max() >= size or frames[:, 1].max() >= size):
            raise self._error("frame index points outside the file")
        self.dtype: np.dtype = _DTYPES[width]
        self.frame_tokens = int(frame_tokens)
        self.num_tokens = int(num_tokens)
        self.num_docs = int(num_docs)
        self.num_frames = int(num_frames)
        self._offsets = frames[:, 0].astype(np.int64)
        self._lengths = frames[:, 1].astype(np.int64)
        self._checksums = frames[:, 3].copy()
        expect_offsets = HEADER_LEN + np.concatenate(([0], np.cumsum(self._lengths)[:-1]))
        if num_frames and (
            not np.array_equal(self._offsets, expect_offsets)
            or not np.array_equal(
                frames[:, 2], np.arange(num_frames, dtype=np.uint64) * frame_tokens
            )
            or int(self._offsets[-1] + self._lengths[-1]) != index_offset
        ):
            raise self._error("frame index out of place")
        self.doc_starts = np.frombuffer(index[split:], dtype="<u8").astype(np.int64)
        if num_docs and (
            self.doc_starts[0] != 0
            or np.any(np.diff(self.doc_starts) <= 0)
            or self.doc_starts[-1] >= num_tokens
        ):
            raise self._error("document index is not strictly increasing from 0")

    def _error(self, msg: str) -> ShardFormatError:
        return ShardFormatError(f"{self.path}: {msg}")

    def _open_regular(self) -> int:
        """Open the file and return its size; refuse anything but a regular file.

        O_NONBLOCK: opening a FIFO without a writer would otherwise block forever; on a regular
        file the flag has no effect."""
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path, flags)
        except OSError as e:
            raise self._error(f"cannot open: {e.strerror}") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise self._error("not a regular file (a FIFO, device or directory)")
        self._fd, self._pid = fd, os.getpid()
        return int(st.st_size)

    def _pread(self, n: int, offset: int) -> bytes:
        if self._pid != os.getpid():  # a fork (DataLoader worker) gets its own descriptor
            self._open_regular()
        if hasattr(os, "pread"):
            return os.pread(self._fd, n, offset)
        os.lseek(self._fd, offset, os.SEEK_SET)
        return os.read(self._fd, n)

    def file_checksum(self) -> str:
        """XXH3-64 of the whole file, as the manifest writes it."""
        h = xxhash.xxh3_64()
        offset = 0
        while offset < self.size:
            block = self._pread(min(1 << 20, self.size - offset), offset)
            if not block:
                raise self._error(f"truncated while hashing at byte {offset}")
            h.update(block)
            offset += len(block)
        return "xxh3_64:" + h.hexdigest()

    def frame(self, i: int, dctx: zstandard.ZstdDecompressor | None = None) -> np.ndarray:
        """Tokens of frame ``i``, after checking its checksum and size."""
        n = min(self.frame_tokens, self.num_tokens - i * self.frame_tokens)
        length = int(self._lengths[i])
        data = self._pread(length, int(self._offsets[i]))
        if len(data) != length:
            raise self._error(f"frame {i}: truncated ({len(data)} of {length} bytes)")
        if xxhash.xxh3_64_intdigest(data) != int(self._checksums[i]):
            raise self._error(f"frame {i}: checksum mismatch (corrupt data)")
        want = n * self.dtype.itemsize
        try:
            raw = (dctx or zstandard.ZstdDecompressor()).decompress(data, max_output_size=want)
        except zstandard.ZstdError as e:
            raise self._error(f"frame {i}: zstd: {e}") from e
        if len(raw) != want:
            raise self._error(f"frame {i}: decompressed to {len(raw)} bytes, expected {want}")
        return np.frombuffer(raw, dtype=self.dtype)

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, -1

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class TokenDataset:
    """A tokenized dataset (``manifest.json`` and its shards) addressed by global token position."""

    def __init__(
        self,
        manifest_path: PathLike,
        expected_tokenizer_hash: str | None = None,
        cache_frames: int = 32,
        verify_files: bool = False,
    ) -> None:
        """``verify_files``: also hash every shard file against its manifest checksum on open
        (one sequential read; the trainer does). Without it, each frame is still checked
        against its own checksum when it is read."""
        self.manifest_path = Path(manifest_path)
        m = load_manifest(self.manifest_path)
        self.manifest = m.raw
        self.tokenizer_hash: str = m.tokenizer_hash
        if expected_tokenizer_hash is not None and expected_tokenizer_hash != self.tokenizer_hash:
            raise TokenizerMismatchError(
                f"{self.manifest_path} was tokenized with tokenizer {self.tokenizer_hash}, "
                f"but tokenizer {expected_tokenizer_hash} was expected"
            )
        self.eos_id: int = m.eos_id
        self.bos_id: int | None = m.bos_id
        self.vocab_size: int = m.vocab_size
        self.dtype: np.dtype = np.dtype({"uint16": "<u2", "uint32": "<u4"}[m.dtype])
        self.shards: list[Shard] = []
        for i, entry in enumerate(m.shards):
            shard = Shard(entry.path)
            self.shards.append(shard)
            got = {"tokens": shard.num_tokens, "docs": shard.num_docs, "bytes": shard.size}
            for key, value in got.items():
                if value != getattr(entry, key):
                    raise ShardFormatError(
                        f"{shard.path}: does not match its entry in {self.manifest_path}: "
                        f"field 'shards[{i}].{key}' says {getattr(entry, key)}, the shard has "
                        f"{value}"
                    )
            if shard.dtype != self.dtype:
                raise ShardFormatError(
                    f"{shard.path}: does not match its entry in {self.manifest_path}: tokens "
                    f"are {shard.dtype.itemsize * 8}-bit, field 'dtype' says {m.dtype}"
                )
            if verify_files:
                got_sum = shard.file_checksum()
                if got_sum != entry.checksum:
                    raise ShardFormatError(
                        f"{shard.path}: file checksum {got_sum} differs from field "
                        f"'shards[{i}].checksum' ({entry.checksum}) in {self.manifest_path}"
                    )
        self._checksums = [e.checksum for e in m.shards]
        self._token_starts = np.cumsum([0] + [s.num_tokens for s in self.shards])
        self._doc_starts = np.cumsum([0] + [s.num_docs for s in self.shards])
        self.num_tokens = int(self._token_starts[-1])
        self.num_docs = int(self._doc_starts[-1])
        self._cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._cache_frames = max(1, cache_frames)
        self._dctx = zstandard.ZstdDecompressor()
        self._dctx_pid = os.getpid()

    def __len__(self) -> int:
        return self.num_tokens

    def _frame(self, s: int, f: int) -> np.ndarray:
        key = (s, f)
        arr = self._cache.get(key)
        if arr is not None:
            self._cache.move_to_end(key)
            return arr
        if self._dctx_pid != os.getpid():
            self._dctx, self._dctx_pid = zstandard.ZstdDecompressor(), os.getpid()
        arr = self.shards[s].frame(f, self._dctx)
        self._cache[key] = arr
        if len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)
        return arr

    def read(self, start: int, count: int) -> np.ndarray:
        """Tokens ``[start, start + count)`` (global positions, across frames and shards)."""
        start, count = int(start), int(count)
        if start < 0 or count < 0 or start + count > self.num_tokens:
            raise IndexError(
                f"read of {count} tokens at {start} outside {self.manifest_path} "
                f"({self.num_tokens} tokens)"
            )
        out = np.empty(count, dtype=self.dtype)
        pos, end, filled = start, start + count, 0
        while pos < end:
            s = int(np.searchsorted(self._token_starts, pos, side="right")) - 1
            shard = self.shards[s]
            local = pos - int(self._token_starts[s])
            f = local // shard.frame_tokens
            frame = self._frame(s, f)
            lo = local - f * shard.frame_tokens
            n = min(len(frame) - lo, end - pos)
            out[filled : filled + n] = frame[lo : lo + n]
            filled += n
            pos += n
        return out

    def document_span(self, i: int) -> tuple[int, int]:
        """Global token range ``[start, end)`` of document ``i`` (EOS included)."""
        if not 0 <= i < self.num_docs:
            raise IndexError(f"document {i} outside {self.manifest_path} ({self.num_docs} docs)")
        s = int(np.searchsorted(self._doc_starts, i, side="right")) - 1
        shard, j = self.shards[s], i - int(self._doc_starts[s])
        begin = int(shard.doc_starts[j])
        stop = int(shard.doc_starts[j + 1]) if j + 1 < shard.num_docs else shard.num_tokens
        base = int(self._token_starts[s])
        return base + begin, base + stop

    def document(self, i: int) -> np.ndarray:
        """Tokens of document ``i`` (EOS included)."""
        begin, stop = self.document_span(i)
        return self.read(begin, stop - begin)

    def iter_documents(self) -> Iterator[np.ndarray]:
        """Every document in order, decoding each frame once."""
        for s, shard in enumerate(self.shards):
            base = int(self._token_starts[s])
            bounds = list(shard.doc_starts) + [shard.num_tokens]
            for j in range(shard.num_docs):
                yield self.read(base + int(bounds[j]), int(bounds[j + 1] - bounds[j]))

    def verify(self) -> None:
        """Check every frame and every shard's whole-file checksum against the manifest."""
        for i, (shard, want) in enumerate(zip(self.shards, self._checksums)):
            for f in range(shard.num_frames):
                shard.frame(f, self._dctx)
            if shard.file_checksum() != want:
                raise ShardFormatError(
                    f"{shard.path}: file checksum differs from field 'shards[{i}].checksum' "
                    f"in {self.manifest_path}"
                )

    @property
    def identity(self) -> str:
        """Changes when any shard's content changes: tokenizer and every shard checksum."""
        h = hashlib.sha256(self.tokenizer_hash.encode())
        for c in self._checksums:
            h.update(c.encode())
        return f"cpt:{self.num_tokens}:{self.num_docs}:{h.hexdigest()[:16]}"
