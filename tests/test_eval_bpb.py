"""Bits per byte in the evaluation (cpt.evaluate.perplexity / hook): byte counts per token, the
metric against a hand computation, and bpb instead of per-token ppl when the tokenizer changed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_eval_common import tiny_model, token_ids, tokenizer, torch

from cpt import ConfigError
from cpt.config import build
from cpt.data.sources import ArraySource
from cpt.evaluate.config import EvalConfig
from cpt.evaluate.hook import CPTEvaluationHook, Evaluator, tokenizer_changed
from cpt.evaluate.perplexity import predicted_bytes, token_byte_lengths, window_starts

TEXT = "Licensee shall not sublicense the Software; the State of the Union is strong. " * 5


def test_byte_lengths_add_up_to_the_text_bytes() -> None:
    tok = tokenizer()
    lengths = token_byte_lengths(tok)
    text = "Größe, naïve café — 日本語 text\n"  # multi-byte characters split across tokens
    ids = token_ids(text)
    assert int(lengths[ids].sum()) == len(text.encode("utf-8"))
    assert lengths[tok.eos_token_id] == 0  # a separator, not text
    # the same through the tokenizers object (what cpt.tokenizer writes)
    assert np.array_equal(token_byte_lengths(tok.backend_tokenizer), lengths)


def test_bits_per_byte_matches_a_hand_computation() -> None:
    model = tiny_model(seed=3)
    ids = np.array(token_ids(TEXT))
    seq_len, max_tokens = 32, 96
    cfg = build(EvalConfig, {"seq_len": seq_len, "ppl_tokens": max_tokens, "batch_size": 2}, "eval")
    ev = Evaluator(cfg, {"domain": [ArraySource(ids)]}, None)
    scores = ev(model, tokenizer())
    metrics, hib = scores.metrics, scores.higher_is_better
    # by hand: NLL in bits of every predicted token over the UTF-8 bytes those tokens decode to
    nll, nbytes = 0.0, 0
    with torch.no_grad():
        for start, length in window_starts(len(ids), seq_len, max_tokens):
            x = torch.tensor(ids[start : start + length])[None]
            logp = torch.log_softmax(model(input_ids=x).logits[0].double(), -1)
            nll -= sum(float(logp[t, x[0, t + 1]]) for t in range(length - 1))
            nbytes += len(tokenizer().decode(ids[start + 1 : start + length]).encode("utf-8"))
    assert nbytes == predicted_bytes(
        ArraySource(ids),
        seq_len=seq_len,
        max_tokens=max_tokens,
        byte_lengths=token_byte_lengths(tokenizer()),
    )
    assert metrics["bpb/domain"] == pytest.approx(nll / math.log(2) / nbytes, rel=1e-5)
    assert hib["bpb/domain"] is False
    assert "ppl/domain" in metrics  # the tokenizer is the base's: per-token ppl is comparable


def test_changed_tokenizer_reports_bits_per_byte_only(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    tokenizer().backend_tokenizer.save(str(base))
    from cpt.data.shards import tokenizer_hash

    cfg = build(EvalConfig, {"base_tokenizer": str(base), "heldout": {"general": ["x"]}}, "eval")
    assert not tokenizer_changed(cfg, str(tokenizer_hash(base)))
    assert tokenizer_changed(cfg, "another-hash")
    ids = np.array(token_ids(TEXT))
    ev = Evaluator(cfg, {"general": [ArraySource(ids)]}, None, tokenizer_changed=True)
    metrics = ev(tiny_model(), tokenizer()).metrics
    assert set(metrics) == {"bpb/general"}
    hook = CPTEvaluationHook(cfg, ev, tokenizer=tokenizer(), run_dir=tmp_path)
    assert hook.monitor.metrics == ["bpb/general"]  # the monitor watches bits per byte
    missing = build(EvalConfig, {"base_tokenizer": str(tmp_path / "nope")}, "eval")
    with pytest.raises(ConfigError, match=r"'eval\.base_tokenizer': .*nope.* not found"):
        tokenizer_changed(missing, "h")
