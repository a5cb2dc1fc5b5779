"""Near-duplicate detection with MinHash LSH, usable on its own (``pip install cpt``).

All the work runs in Rust (``cpt._engine``) with the GIL released: text normalization
(NFKC, lowercase, punctuation folded), word n-gram shingles (each word hashed once) or
character n-grams (xxh3), MinHash permutations, LSH banding and clustering. The first
document of every cluster (input order) is kept.

>>> from cpt.minhash import dedup
>>> result = dedup(texts, threshold=0.8)        # doctest: +SKIP
>>> result.kept, result.duplicate_of, result.stats
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Sequence

import numpy as np

from cpt import _engine

__all__ = [
    "DedupResult",
    "LSHIndex",
    "dedup",
    "dedup_jsonl",
    "jaccard_estimate",
    "lsh_params",
    "plan",
    "signatures",
]

DEFAULT_SEED = 42


def _dtype(hash_bits: int) -> type[np.unsignedinteger]:
    if hash_bits not in (32, 64):
        raise _engine.ConfigError(f"config: minhash.hash_bits: must be 32 or 64, got {hash_bits}")
    return np.uint32 if hash_bits == 32 else np.uint64


def _texts(texts: Iterable[str]) -> list[str]:
    out = texts if isinstance(texts, list) else list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    return out


def signatures(
    texts: Iterable[str],
    num_perm: int = 128,
    ngram: int = 5,
    shingle: str = "word",
    seed: int = DEFAULT_SEED,
    hash_bits: int = 32,
    threads: int = 0,
) -> np.ndarray:
    """MinHash signatures of raw texts: an array of shape ``(len(texts), num_perm)``,
    ``uint32`` (or ``uint64`` with ``hash_bits=64``). Texts are normalized inside.
    ``threads=0`` uses one thread per core; results do not depend on it."""
    items = _texts(texts)
    dtype = _dtype(hash_bits)
    raw = _engine.minhash_signatures(items, num_perm, ngram, shingle, seed, hash_bits, threads)
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(len(items), num_perm)


def jaccard_estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures: the fraction of equal positions."""
    a, b = np.asarray(sig_a), np.asarray(sig_b)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"signatures must be 1-D and of the same length, got {a.shape} and {b.shape}"
        )
    return float(np.count_nonzero(a == b)) / a.size


def lsh_params(
    threshold: float = 0.8, num_perm: int = 128, checked: bool = False
) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the weighted false-positive and
    false-negative areas of the S-curve; ``checked`` weighs recall up because every
    candidate is confirmed afterwards."""
    return tuple(_engine.minhash_lsh_params(threshold, num_perm, checked))  # type: ignore[return-value]


class LSHIndex:
    """A MinHash LSH index: ``insert(key, signature)``, then ``query(signature)`` returns the
    keys that share at least one band (candidates of Jaccard >= ``threshold``)."""

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 128,
        bands: int | None = None,
        rows: int | None = None,
        hash_bits: int = 32,
    ) -> None:
        if (bands is None) != (rows is None):
            raise _engine.ConfigError("config: minhash.bands: give bands and rows together")
        if bands is None or rows is None:
            bands, rows = lsh_params(threshold, num_perm)
        self._dtype = np.dtype(_dtype(hash_bits)).newbyteorder("<")
        self._index = _engine.LshIndex(num_perm, bands, rows, hash_bits)
        self._keys: list[Hashable] = []
        self._slots: dict[Hashable, int] = {}
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands = bands
        self.rows = rows

    def _bytes(self, signature: np.ndarray) -> bytes:
        sig = np.ascontiguousarray(signature, dtype=self._dtype)
        if sig.shape != (self.num_perm,):
            raise ValueError(f"signature must have shape ({self.num_perm},), got {sig.shape}")
        return sig.tobytes()

    def insert(self, key: Hashable, signature: np.ndarray) -> None:
        if key in self._slots:
            raise KeyError(f"key {key!r} is already in the index")
        self._slots[key] = self._index.insert(self._bytes(signature))
        self._keys.append(key)

    def query(self, signature: np.ndarray) -> list[Hashable]:
        return [self._keys[slot] for slot in self._index.query(self._bytes(signature))]

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._slots

    @property
    def plan(self) -> dict[str, Any]:
        """Bands, rows and the S-curve at the threshold (as printed before a run)."""
        cfg = {
            "threshold": self.threshold,
            "num_perm": self.num_perm,
            "bands": self.bands,
            "rows": self.rows,
            "sample_check": False,
        }
        info, _ = _engine.minhash_plan(json.dumps(cfg), len(self))
        return json.loads(info)


@dataclass
class DedupResult:
    """Near-dup outcome for ``n`` documents.

    ``kept``: indices of documents kept, ascending. ``duplicate_of[i]``: index of the kept
    document that ``i`` duplicates, or -1. ``cluster_ids[i]``: cluster number of ``i`` (kept
    documents of a cluster included), or -1 for a document in no cluster. ``stats``: the
    engine's counters (candidate pairs, clusters, size histogram, ...)."""

    kept: list[int]
    duplicate_of: np.ndarray
    cluster_ids: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)
    plan: str = ""

    @property
    def removed(self) -> list[int]:
        return np.flatnonzero(self.duplicate_of >= 0).tolist()


# The keyword arguments of `dedup` / `dedup_jsonl` that form the engine's `minhash` config.
_CONFIG_KEYS = (
    "threshold",
    "num_perm",
    "ngram",
    "shingle",
    "seed",
    "hash_bits",
    "verify",
    "sample_check",
    "bands",
    "rows",
    "max_cluster_size",
    "refuse_oversize",
    "mem_limit",
)


def _config(arguments: dict[str, Any]) -> str:
    """The engine config (JSON) from a call's arguments; None leaves the engine's default."""
    return json.dumps({k: arguments[k] for k in _CONFIG_KEYS if arguments[k] is not None})


def _result(
    n: int, hits: Sequence[tuple[int, int, int]], stats_json: str, plan_text: str
) -> DedupResult:
    duplicate_of = np.full(n, -1, dtype=np.int64)
    cluster_ids = np.full(n, -1, dtype=np.int64)
    if hits:
        ordinal, cluster, kept = np.asarray(hits, dtype=np.int64).T
        duplicate_of[ordinal] = kept
        cluster_ids[ordinal] = cluster
        cluster_ids[kept] = cluster
    kept_idx = np.flatnonzero(duplicate_of < 0).tolist()
    return DedupResult(kept_idx, duplicate_of, cluster_ids, json.loads(stats_json), plan_text)


def plan(n_docs: int, **config: Any) -> str:
    """The printable LSH plan (bands x rows, S-curve points, memory) for a config."""
    _, text = _engine.minhash_plan(json.dumps(config), n_docs)
    return text


def dedup(
    texts: Iterable[str],
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    shingle: str = "word",
    seed: int = DEFAULT_SEED,
    hash_bits: int = 32,
    verify: bool = False,
    sample_check: bool = True,
    bands: int | None = None,
    rows: int | None = None,
    max_cluster_size: int | None = None,
    refuse_oversize: bool = False,
    mem_limit: int | str | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
    threads: int = 0,
) -> DedupResult:
    """Near-duplicate removal over a list of raw texts (normalized inside).

    ``verify=True`` confirms every LSH candidate by the exact Jaccard of the shingle sets;
    otherwise ``sample_check`` confirms it by the signature estimate. Band tables spill to
    ``spill_dir`` above ``mem_limit`` (bytes or e.g. ``"2GiB"``). Deterministic for any
    ``threads``."""
    cfg = _config(locals())
    items = _texts(texts)
    _, plan_text = _engine.minhash_plan(cfg, len(items))
    spill = None if spill_dir is None else os.fspath(spill_dir)
    hits, stats = _engine.minhash_dedup(items, cfg, threads, spill)
    return _result(len(items), hits, stats, plan_text)


def dedup_jsonl(
    path: str | os.PathLike[str],
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    shingle: str = "word",
    seed: int = DEFAULT_SEED,
    hash_bits: int = 32,
    verify: bool = False,
    sample_check: bool = True,
    bands: int | None = None,
    rows: int | None = None,
    max_cluster_size: int | None = None,
    refuse_oversize: bool = False,
    mem_limit: int | str | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
    threads: int = 0,
) -> DedupResult:
    """Like :func:`dedup`, reading the ``text`` field of a JSONL file (plain, .zst or .gz)
    entirely in Rust. Indices are record numbers (non-blank lines, from 0)."""
    cfg = _config(locals())
    spill = None if spill_dir is None else os.fspath(spill_dir)
    n, hits, stats = _engine.minhash_dedup_jsonl(os.fspath(path), cfg, threads, spill)
    _, plan_text = _engine.minhash_plan(cfg, n)
    return _result(n, hits, stats, plan_text)
