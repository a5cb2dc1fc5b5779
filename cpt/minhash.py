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

import os
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Mapping

import numpy as np

from cpt import _engine

__all__ = [
    "DEFAULTS",
    "DedupResult",
    "LSHIndex",
    "dedup",
    "dedup_jsonl",
    "jaccard_estimate",
    "lsh_params",
    "plan",
    "signatures",
]

# The engine's `minhash` config defaults: the keyword defaults below are read from it, so
# they are written once, in Rust (`MinHashConfig::default`).
DEFAULTS: Mapping[str, Any] = _engine.minhash_defaults()
_D = DEFAULTS


def _config(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The engine config from a call's arguments: every argument that is a config key."""
    return {k: v for k, v in arguments.items() if k in DEFAULTS}


def _dtype(hash_bits: int) -> np.dtype[Any]:
    """The numpy dtype of signature values (the engine has checked ``hash_bits``)."""
    return np.dtype(np.uint32 if hash_bits == 32 else np.uint64).newbyteorder("<")


def _texts(texts: Iterable[str]) -> list[str]:
    out = texts if isinstance(texts, list) else list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    return out


def signatures(
    texts: Iterable[str],
    num_perm: int = _D["num_perm"],
    ngram: int = _D["ngram"],
    shingle: str = _D["shingle"],
    seed: int = _D["seed"],
    hash_bits: int = _D["hash_bits"],
    threads: int = 0,
) -> np.ndarray:
    """MinHash signatures of raw texts: an array of shape ``(len(texts), num_perm)``,
    ``uint32`` (or ``uint64`` with ``hash_bits=64``). Texts are normalized inside.
    ``threads=0`` uses one thread per core; results do not depend on it."""
    cfg = _config(locals())
    items = _texts(texts)
    raw = _engine.minhash_signatures(items, cfg, threads)
    return np.frombuffer(raw, dtype=_dtype(hash_bits)).reshape(len(items), num_perm)


def jaccard_estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures: the fraction of equal positions."""
    a, b = np.asarray(sig_a), np.asarray(sig_b)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"signatures must be 1-D and of the same length, got {a.shape} and {b.shape}"
        )
    return float(np.count_nonzero(a == b)) / a.size


def lsh_params(
    threshold: float = _D["threshold"], num_perm: int = _D["num_perm"], checked: bool = False
) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the weighted false-positive and
    false-negative areas of the S-curve; ``checked`` weighs recall up because every
    candidate is confirmed afterwards."""
    cfg = {"threshold": threshold, "num_perm": num_perm, "sample_check": checked}
    info = _engine.minhash_plan(cfg)
    return int(info["bands"]), int(info["rows"])


class LSHIndex:
    """A MinHash LSH index: ``insert(key, signature)``, then ``query(signature)`` returns the
    keys that share at least one band (candidates of Jaccard >= ``threshold``)."""

    def __init__(
        self,
        threshold: float = _D["threshold"],
        num_perm: int = _D["num_perm"],
        bands: int | None = None,
        rows: int | None = None,
        hash_bits: int = _D["hash_bits"],
    ) -> None:
        self._index = _engine.LshIndex(_config(locals()))
        self._dtype = _dtype(hash_bits)
        self._keys: list[Hashable] = []
        self._slots: dict[Hashable, int] = {}
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands: int = self._index.bands
        self.rows: int = self._index.rows

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
        return self._index.plan()


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


def _result(out: Mapping[str, Any]) -> DedupResult:
    """A DedupResult from the engine's summary (removed documents as columns)."""
    n = int(out["docs"])
    removed = out["removed"]
    ordinal = np.asarray(removed["ordinal"], dtype=np.int64)
    kept = np.asarray(removed["kept"], dtype=np.int64)
    duplicate_of = np.full(n, -1, dtype=np.int64)
    cluster_ids = np.full(n, -1, dtype=np.int64)
    duplicate_of[ordinal] = kept
    cluster_ids[ordinal] = removed["cluster"]
    cluster_ids[kept] = removed["cluster"]
    kept_idx = np.flatnonzero(duplicate_of < 0).tolist()
    return DedupResult(kept_idx, duplicate_of, cluster_ids, out["stats"], out["plan"])


def plan(n_docs: int, **config: Any) -> str:
    """The printable LSH plan (bands x rows, S-curve points, memory) for a config."""
    return str(_engine.minhash_plan(config, n_docs)["text"])


def dedup(
    texts: Iterable[str],
    threshold: float = _D["threshold"],
    num_perm: int = _D["num_perm"],
    ngram: int = _D["ngram"],
    shingle: str = _D["shingle"],
    seed: int = _D["seed"],
    hash_bits: int = _D["hash_bits"],
    verify: bool = _D["verify"],
    sample_check: bool = _D["sample_check"],
    bands: int | None = _D["bands"],
    rows: int | None = _D["rows"],
    max_cluster_size: int | None = _D["max_cluster_size"],
    refuse_oversize: bool = _D["refuse_oversize"],
    mem_limit: int | str | None = _D["mem_limit"],
    spill_dir: str | os.PathLike[str] | None = None,
    threads: int = 0,
) -> DedupResult:
    """Near-duplicate removal over a list of raw texts (normalized inside).

    ``verify=True`` confirms every LSH candidate by the exact Jaccard of the shingle sets;
    otherwise ``sample_check`` confirms it by the signature estimate. Band tables spill to
    ``spill_dir`` above ``mem_limit`` (bytes or e.g. ``"2GiB"``). Deterministic for any
    ``threads``."""
    cfg = _config(locals())
    spill = None if spill_dir is None else os.fspath(spill_dir)
    return _result(_engine.minhash_dedup(_texts(texts), cfg, threads, spill))


def dedup_jsonl(
    path: str | os.PathLike[str],
    threshold: float = _D["threshold"],
    num_perm: int = _D["num_perm"],
    ngram: int = _D["ngram"],
    shingle: str = _D["shingle"],
    seed: int = _D["seed"],
    hash_bits: int = _D["hash_bits"],
    verify: bool = _D["verify"],
    sample_check: bool = _D["sample_check"],
    bands: int | None = _D["bands"],
    rows: int | None = _D["rows"],
    max_cluster_size: int | None = _D["max_cluster_size"],
    refuse_oversize: bool = _D["refuse_oversize"],
    mem_limit: int | str | None = _D["mem_limit"],
    spill_dir: str | os.PathLike[str] | None = None,
    threads: int = 0,
) -> DedupResult:
    """Like :func:`dedup`, reading the ``text`` field of a JSONL file (plain, .zst or .gz)
    entirely in Rust. Indices are record numbers (non-blank lines, from 0)."""
    cfg = _config(locals())
    spill = None if spill_dir is None else os.fspath(spill_dir)
    return _result(_engine.minhash_dedup_jsonl(os.fspath(path), cfg, threads, spill))
