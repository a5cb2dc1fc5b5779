"""Shared fixtures: where the project's shared test data lives, and the near-dup reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard
from neardup_reference import NearDupReference


def find_shared_data() -> Path | None:
    """``shared/data`` sits beside the checkout (``<checkout>/../shared/data``)."""
    # In or beside the checkout only: a stray shared/ higher up (e.g. in /tmp) is never taken.
    for parent in Path(__file__).resolve().parents[:3]:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = find_shared_data()
    if path is None:
        pytest.skip("shared/data not found beside the checkout")
    return path


@pytest.fixture(scope="session")
def neardup_reference(shared_data: Path) -> NearDupReference:
    path = shared_data / "neardup/docs.jsonl.zst"
    raw = zstandard.decompress(path.read_bytes(), max_output_size=1 << 31)
    recs = [json.loads(line) for line in raw.splitlines() if line.strip()]
    pos = {r["id"]: i for i, r in enumerate(recs)}
    parent = list(range(len(recs)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    with open(shared_data / "neardup/pairs.jsonl") as f:
        for line in f:
            p = json.loads(line)
            if p["jaccard"] >= 0.8:
                a, b = find(pos[p["a"]]), find(pos[p["b"]])
                if a != b:
                    parent[max(a, b)] = min(a, b)
    removed = frozenset(i for i in range(len(recs)) if find(i) != i)
    return NearDupReference(path, [r["id"] for r in recs], [r["text"] for r in recs], removed)
