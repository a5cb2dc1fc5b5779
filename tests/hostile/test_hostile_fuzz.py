"""Fuzzing the Python token-shard reader with hypothesis, on a real (Rust-written) dataset.

Mutations of shard bytes (bit flips, overwrites, inserts, deletes, truncation) and of the
manifest (raw bytes, or one JSON value replaced) must end in one of two ways: a documented
error (``cpt.ShardError`` / ``cpt.TokenizerError``), or a dataset whose tokens and documents are
exactly the original ones. Anything else (another exception, different tokens, a hang) fails.
The budget is small by default (a few seconds); ``CPT_FUZZ_EXAMPLES=5000`` runs longer.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shardkit import make_dataset, rehash, reseal

import cpt
from cpt.data.shards import TokenDataset

EXAMPLES = int(os.environ.get("CPT_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("CPT_FUZZ_RANDOM") != "1",  # reproducible in the default run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DOCUMENTED = (cpt.ShardError, cpt.TokenizerError)
STATS: Counter[str] = Counter()


class Fixture:
    """One real dataset; each example rewrites its first shard and manifest in place."""

    def __init__(self, root: Path, shared_data: Path) -> None:
        # Small (3 shards of a few frames): each example reads the whole dataset.
        self.manifest = make_dataset(shared_data, root / "ds", docs=6, shard_tokens=1500)
        self.shard = self.manifest.parent / "shard-00000.cpts"
        self.good_manifest = self.manifest.read_bytes()
        self.good_shard = self.shard.read_bytes()
        ds = TokenDataset(self.manifest, verify_files=True)
        self.tokens = ds.read(0, ds.num_tokens)
        self.docs = [ds.document_span(i) for i in range(ds.num_docs)]

    def write(self, shard: bytes, manifest: bytes) -> None:
        self.shard.write_bytes(shard)
        self.manifest.write_bytes(manifest)

    def outcome(self, verify_files: bool) -> str:
        """'rejected' (a documented error) or 'same' (identical data); else the test fails."""
        try:
            ds = TokenDataset(self.manifest, verify_files=verify_files)
            tokens = ds.read(0, ds.num_tokens)
            docs = [ds.document_span(i) for i in range(ds.num_docs)]
            if verify_files:
                ds.verify()
        except DOCUMENTED:
            return "rejected"
        assert np.array_equal(tokens, self.tokens), "a damaged dataset read as other tokens"
        assert docs == self.docs, "a damaged dataset read with other document boundaries"
        return "same"


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Fixture:
    return Fixture(tmp_path_factory.mktemp("fuzz"), shared_data)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Any:
    t0 = time.perf_counter()
    yield
    total = sum(STATS.values())
    print(
        f"\nshard reader fuzz: {total} executions in {time.perf_counter() - t0:.1f} s: "
        + ", ".join(f"{k} {v}" for k, v in sorted(STATS.items()))
    )


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` after 1-4 random edits."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not buf:
            break
        pos = draw(st.integers(0, len(buf) - 1))
        kinds = ["flip", "byte", "run", "insert", "delete", "truncate", "u64"]
        kind = draw(st.sampled_from(kinds))
        if kind == "u64":  # a whole count/offset/length field, extreme values included
            value = draw(st.sampled_from([0, 1, 2**64 - 1, 2**63, 2**61, 2**32 - 1]))
            at = min(pos, max(len(buf) - 8, 0)) & ~7
            buf[at : at + 8] = value.to_bytes(8, "little")[: len(buf[at : at + 8])]
        elif kind == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            buf[pos] = draw(st.integers(0, 255))
        elif kind == "run":
            run = draw(st.binary(min_size=1, max_size=64))
            buf[pos : pos + len(run)] = run
        elif kind == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del buf[pos : pos + draw(st.integers(1, 64))]
        else:
            del buf[pos:]
    return bytes(buf)


@settings(parent=FUZZ)
@given(data=st.data())
def test_fuzz_shard_bytes(fx: Fixture, data: st.DataObject) -> None:
    """Damaged shard, manifest unchanged: the whole-file checksum must refuse it."""
    bad = data.draw(mutated(fx.good_shard))
    fx.write(bad, fx.good_manifest)
    got = fx.outcome(verify_files=True)
    STATS[f"shard/{got}"] += 1
    if bad != fx.good_shard:
        assert got == "rejected", "a damaged shard passed the file checksum"


@settings(parent=FUZZ)
@given(data=st.data())
def test_fuzz_shard_bytes_manifest_rehashed(fx: Fixture, data: st.DataObject) -> None:
    """Damaged shard with a manifest made to match it: only the shard's own header, index and
    frame checksums stand in the way; reading every token must refuse it or give the original."""
    bad = data.draw(mutated(fx.good_shard))
    m = json.loads(fx.good_manifest)
    fx.write(bad, fx.good_manifest)
    rehash(m, fx.manifest.parent)
    fx.manifest.write_text(json.dumps(m))
    got = fx.outcome(verify_files=False)
    STATS[f"shard-rehashed/{got}"] += 1
    if bad != fx.good_shard:
        assert got == "rejected", "a damaged shard read back without an error"


@settings(parent=FUZZ)
@given(data=st.data())
def test_fuzz_shard_resealed(fx: Fixture, data: st.DataObject) -> None:
    """A crafted shard: damaged, then every checksum recomputed, manifest rehashed. It may be a
    well-formed shard of other content; it must never crash the reader or read inconsistently."""
    bad = reseal(bytearray(data.draw(mutated(fx.good_shard))))
    m = json.loads(fx.good_manifest)
    fx.write(bad, fx.good_manifest)
    rehash(m, fx.manifest.parent)
    fx.manifest.write_text(json.dumps(m))
    try:
        ds = TokenDataset(fx.manifest)
        tokens = ds.read(0, ds.num_tokens)
        spans = [ds.document_span(i) for i in range(ds.num_docs)]
        got = "read"
    except DOCUMENTED:
        got = "rejected"
    else:
        assert len(tokens) == ds.num_tokens
        assert all(0 <= a < b <= ds.num_tokens for a, b in spans)
    STATS[f"shard-resealed/{got}"] += 1


@settings(parent=FUZZ)
@given(data=st.data())
def test_fuzz_manifest_bytes(fx: Fixture, data: st.DataObject) -> None:
    bad = data.draw(mutated(fx.good_manifest))
    fx.write(fx.good_shard, bad)
    STATS[f"manifest-bytes/{fx.outcome(verify_files=True)}"] += 1


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["../x", "/etc/passwd", "shard-00001.cpts", "uint32", "xxh3_64:" + "0" * 16]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


@settings(parent=FUZZ)
@given(data=st.data())
def test_fuzz_manifest_values(fx: Fixture, data: st.DataObject) -> None:
    """One value anywhere in the manifest replaced (or a key deleted)."""
    m = json.loads(fx.good_manifest)
    where = data.draw(st.sampled_from(_paths(m)[1:]))
    node = m
    for k in where[:-1]:
        node = node[k]
    if data.draw(st.booleans()) and isinstance(node, dict):
        del node[where[-1]]
    else:
        node[where[-1]] = data.draw(JSON_VALUES)
    fx.write(fx.good_shard, json.dumps(m).encode())
    STATS[f"manifest-values/{fx.outcome(verify_files=True)}"] += 1
