"""The near-dup benchmark's exact-Jaccard answer, as a type the tests import by name.

Kept out of ``conftest.py``: ``from conftest import ...`` is ambiguous once a subdirectory
(``tests/hostile``) has a conftest of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Hashable


@dataclass(frozen=True)
class NearDupReference:
    """The near-dup benchmark (``neardup/docs.jsonl.zst``) and its exact-Jaccard answer."""

    path: Path
    ids: list[str]
    texts: list[str]
    removed: frozenset[int]
    """File positions an exact-Jaccard dedup at 0.8 removes: union-find over the true
    pairs >= 0.8 (``pairs.jsonl``), first document (file order) of each group kept."""

    @property
    def removed_ids(self) -> frozenset[str]:
        return frozenset(self.ids[i] for i in self.removed)


def precision_recall(
    got: AbstractSet[Hashable], truth: AbstractSet[Hashable]
) -> tuple[float, float]:
    tp = len(set(got) & set(truth))
    return tp / max(len(got), 1), tp / max(len(truth), 1)
