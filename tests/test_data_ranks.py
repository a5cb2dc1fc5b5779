"""Data-parallel ranks read disjoint slots that together are exactly one rank's stream."""

from __future__ import annotations

import numpy as np
import pytest
from test_train_util import ArraySource, corpus

from cpt.data.loader import MixedLoader


def _loader(rank: int, world: int, micro: int, accum: int) -> MixedLoader:
    dom = [
        ArraySource("law", corpus(1, 50, 5, 40, 1, 100)),
        ArraySource("med", corpus(3, 50, 5, 40, 1, 100)),
    ]
    gen = [ArraySource("web", corpus(2, 80, 5, 40, 100, 250))]
    return MixedLoader(
        [(dom[0], 2.0), (dom[1], 1.0)],
        [(gen[0], 1.0)],
        alpha=0.6,
        seq_len=24,
        micro_batch_size=micro,
        grad_accum=accum,
        eos_id=0,
        rank=rank,
        world_size=world,
    )


def _rows(batch) -> list[np.ndarray]:
    return [row for mb in batch.micro_batches for row in mb["input_ids"]]


@pytest.mark.parametrize("world,micro,accum", [(2, 2, 1), (2, 1, 3), (4, 2, 2)])
def test_ranks_partition_the_single_rank_stream(world: int, micro: int, accum: int) -> None:
    single = _loader(0, 1, micro * world, accum)
    ranks = [_loader(r, world, micro, accum) for r in range(world)]
    for _ in range(25):
        ref = _rows(single.next_step())
        per_rank = [_rows(lo.next_step()) for lo in ranks]
        assert all(len(rows) == micro * accum for rows in per_rank)
        # global slot j belongs to rank j % world; the union in slot order is the reference
        merged = [per_rank[j % world][j // world] for j in range(len(ref))]
        assert all(np.array_equal(a, b) for a, b in zip(merged, ref))
    # the ranks' loader states agree (every rank plans the whole global batch)
    states = [lo.state_dict() for lo in ranks]
    assert all(s["consumed"] == states[0]["consumed"] for s in states)
    assert states[0]["consumed"] == single.state_dict()["consumed"]


class RecordingSource(ArraySource):
    def __init__(self, name: str, tokens: np.ndarray) -> None:
        super().__init__(name, tokens)
        self.positions: list[int] = []

    def read(self, start: int, count: int) -> np.ndarray:
        self.positions.extend(range(start, start + count))
        return super().read(start, count)


def _recording_loader(rank: int, world: int, micro: int) -> tuple[MixedLoader, list]:
    srcs = [
        RecordingSource("d", corpus(1, 400, 5, 40, 1, 100)),
        RecordingSource("g", corpus(2, 400, 5, 40, 100, 250)),
    ]
    loader = MixedLoader(
        [(srcs[0], 1.0)],
        [(srcs[1], 1.0)],
        alpha=0.7,
        seq_len=16,
        micro_batch_size=micro,
        eos_id=0,
        rank=rank,
        world_size=world,
    )
    return loader, srcs


def test_ranks_read_disjoint_positions() -> None:
    """Each rank touches only its own token positions; together exactly the single rank's."""
    single, single_srcs = _recording_loader(0, 1, 6)
    pairs = [_recording_loader(r, 3, 2) for r in range(3)]
    for _ in range(10):  # stays inside the first epoch of both sources
        single.next_step()
        for loader, _ in pairs:
            loader.next_step()
    for i, ref in enumerate(single_srcs):
        sets = [set(srcs[i].positions) for _, srcs in pairs]
        assert sum(len(s) for s in sets) == len(ref.positions) == len(set(ref.positions))
        assert set().union(*sets) == set(ref.positions)
        assert all(not (a & b) for k, a in enumerate(sets) for b in sets[k + 1 :])
