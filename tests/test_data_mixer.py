"""The replay mixer realises alpha exactly per global batch and source weights within a side."""

from __future__ import annotations

import numpy as np
import pytest
from test_train_util import ArraySource

from cpt.data.loader import MixedLoader
from cpt.data.mixer import Mixer, WeightedPicker, interleave, split_batch


def _sources(prefix: str, n: int, size: int = 5000) -> list[ArraySource]:
    return [ArraySource(f"{prefix}{i}", np.arange(size) % 50 + 1) for i in range(n)]


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.3, 0.5, 0.7, 0.77, 0.9, 1.0])
@pytest.mark.parametrize("batch", [1, 3, 8, 10, 32])
def test_split_exact_per_batch(alpha: float, batch: int) -> None:
    carry, total = 0.0, 0
    for step in range(1, 200):
        n, carry = split_batch(alpha, batch, carry)
        assert 0 <= n <= batch
        assert abs(n - alpha * batch) < 1.0  # within one sequence in every batch
        total += n
        assert abs(total - alpha * batch * step) < 1.0  # and the long run is exact


def test_split_round_numbers_are_exact() -> None:
    # 0.7 x 10 is 6.999... in floating point: still 7 in every batch, not 6 then 8.
    carry = 0.0
    for _ in range(50):
        n, carry = split_batch(0.7, 10, carry)
        assert n == 7


def test_interleave_spreads_evenly() -> None:
    slots = interleave(3, 12)
    assert sum(slots) == 3
    assert [i for i, s in enumerate(slots) if s] == [3, 7, 11]
    assert interleave(0, 4) == [False] * 4 and interleave(4, 4) == [True] * 4


@pytest.mark.parametrize("weights", [[1.0], [1.0, 1.0], [3.0, 1.0, 0.5], [0.2, 0.8]])
def test_picker_tracks_weights(weights: list[float]) -> None:
    picker = WeightedPicker(weights)
    counts = [0] * len(weights)
    share = np.array(weights) / sum(weights)
    for n in range(1, 500):
        counts[picker.pick()] += 1
        assert np.all(np.abs(np.array(counts) - share * n) < 1.0 + 1e-9)


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.7, 0.9])
@pytest.mark.parametrize("dom_w,gen_w", [([1.0], [1.0]), ([2.0, 1.0], [1.0, 1.0, 2.0])])
def test_loader_alpha_every_global_batch(
    alpha: float, dom_w: list[float], gen_w: list[float]
) -> None:
    dom, gen = _sources("d", len(dom_w)), _sources("g", len(gen_w))
    loader = MixedLoader(
        list(zip(dom, dom_w)),
        list(zip(gen, gen_w)),
        alpha=alpha,
        seq_len=16,
        micro_batch_size=3,
        grad_accum=2,
        eos_id=0,
    )
    tokens = {s.name: 0 for s in dom + gen}
    for _ in range(60):
        batch = loader.next_step()
        assert batch.global_sequences == 6
        assert abs(batch.domain_sequences - alpha * 6) < 1.0
        for name, n in batch.tokens_by_source.items():
            tokens[name] += n
    # within a side, the sources' token shares follow their weights (to one sequence)
    for side, weights in ((dom, dom_w), (gen, gen_w)):
        side_total = sum(tokens[s.name] for s in side)
        for src, w in zip(side, weights):
            assert abs(tokens[src.name] - side_total * w / sum(weights)) <= 16


def test_alpha_change_applies_from_next_batch() -> None:
    mixer = Mixer(0.7, [1.0], [1.0])
    assert sum(s == "domain" for s, _ in mixer.plan(10)) == 7
    mixer.set_alpha(0.4)
    assert sum(s == "domain" for s, _ in mixer.plan(10)) == 4
    with pytest.raises(ValueError):
        Mixer(0.5, [1.0], []).set_alpha(0.5)


def test_wraparound_is_reported_and_contiguous() -> None:
    src = ArraySource("d", np.arange(1, 41))  # 40 tokens, seq_len 16: wraps in the 3rd row
    wraps = []
    loader = MixedLoader(
        [(src, 1.0)],
        [],
        alpha=1.0,
        seq_len=16,
        micro_batch_size=3,
        eos_id=0,
        on_wrap=lambda name, epoch: wraps.append((name, epoch)),
    )
    batch = loader.next_step()
    rows = batch.micro_batches[0]["input_ids"]
    assert rows[2].tolist() == list(range(33, 41)) + list(range(1, 9))
    assert wraps == [("d", 1)] and batch.wrapped == ["d"]
