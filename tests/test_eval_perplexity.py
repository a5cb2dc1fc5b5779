from __future__ import annotations

import math

import numpy as np
import pytest
from test_eval_common import tiny_model, token_ids, torch

from cpt.data.sources import ArraySource
from cpt.evaluate.perplexity import combine, perplexity, window_starts


def test_windows_are_strided_disjoint_and_deterministic():
    w = window_starts(1000, 100, 400)
    assert w == [(0, 100), (300, 100), (600, 100), (900, 100)]
    assert window_starts(50, 100, 400) == [(0, 50)]
    assert window_starts(1000, 100, 50) == [(0, 100)]
    with pytest.raises(ValueError, match="at least 2 tokens"):
        window_starts(1, 100, 400)


class Uniform(torch.nn.Module):
    """Logits all equal: the perplexity is exactly the vocabulary size."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids):
        from types import SimpleNamespace

        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab) + self.w)


def test_uniform_model_has_vocab_size_perplexity():
    src = ArraySource(np.arange(500) % 37)
    r = perplexity(Uniform(37), src, seq_len=64, max_tokens=256, batch_size=3)
    assert r.predicted == 4 * 63
    assert r.perplexity == pytest.approx(37.0, rel=1e-6)


def test_perplexity_matches_hand_computation_and_restores_mode():
    model = tiny_model(seed=1)
    model.train()
    ids = np.array(
        token_ids(
            "We the People of the United States, in Order to form a more perfect "
            "Union, establish Justice, insure domestic Tranquility ... " * 6
        )
    )
    seq_len = 32
    r = perplexity(model, ArraySource(ids), seq_len=seq_len, max_tokens=3 * seq_len, batch_size=2)
    assert model.training
    # by hand: each window on its own, log-softmax, sum the log-probs of the next tokens
    nll, n = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start, length in window_starts(len(ids), seq_len, 3 * seq_len):
            x = torch.tensor(ids[start : start + length])[None]
            logp = torch.log_softmax(model(input_ids=x).logits[0].double(), -1)
            for t in range(length - 1):
                nll -= float(logp[t, x[0, t + 1]])
                n += 1
    assert r.predicted == n == 3 * (seq_len - 1)
    assert r.perplexity == pytest.approx(math.exp(nll / n), rel=1e-5)
    both = combine([r, r])
    assert both.perplexity == pytest.approx(r.perplexity) and both.predicted == 2 * n


def test_perplexity_by_document_splits_the_same_windows_at_eos():
    from cpt.evaluate.perplexity import perplexity_by_document

    model = tiny_model(seed=2)
    eos = 0
    docs = [token_ids("Four score and seven years ago " * k) for k in (1, 3, 2, 5)]
    ids = np.concatenate([np.array(d + [eos]) for d in docs])

    class EosSource(ArraySource):
        eos_id = eos

    src = EosSource(ids)
    seq_len = 24
    kw = dict(seq_len=seq_len, max_tokens=4 * seq_len, batch_size=3)
    whole = perplexity(model, src, **kw)
    by_doc = perplexity_by_document(model, src, **kw)
    # the same windows and tokens; the total is split over the documents they touch
    assert by_doc.result.predicted == whole.predicted
    assert by_doc.result.perplexity == pytest.approx(whole.perplexity, rel=1e-9)
    # by hand: the document of a predicted position = EOS tokens before it
    bounds = np.flatnonzero(ids == eos)
    counts: dict[int, int] = {}
    for start, length in window_starts(len(ids), seq_len, 4 * seq_len):
        for p in range(start + 1, start + length):
            d = int(np.sum(bounds < p))
            counts[d] = counts.get(d, 0) + 1
    assert by_doc.tokens == [counts[k] for k in sorted(counts)]
    assert len(by_doc.nll) > 1
    # no EOS recorded: one unit per window
    plain = perplexity_by_document(model, ArraySource(ids), **kw)
    assert plain.tokens == [seq_len - 1] * 4
