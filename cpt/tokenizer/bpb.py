"""Bits per byte of a causal LM on documents: the metric that stays comparable when the
tokenizer changes (per-token perplexity does not: a longer token carries more bytes)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class BitsPerByte:
    nll_nats: float  # summed negative log-likelihood of every content token
    tokens: int
    bytes: int  # UTF-8 bytes of the documents

    @property
    def bits_per_byte(self) -> float:
        return self.nll_nats / math.log(2) / self.bytes if self.bytes else float("nan")


def bits_per_byte(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    context_id: int,
    seq_len: int = 1024,
) -> BitsPerByte:
    """Score every token of every document (``tokenizer`` is a ``tokenizers.Tokenizer``).

    Each document starts after ``context_id`` (the EOS/BOS that separates documents in training
    data), so its first token is predicted too; long documents are cut into windows of
    ``seq_len`` whose first position is the previous window's last token.
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2, not {seq_len}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nll, tokens, nbytes = 0.0, 0, 0
    try:
        with torch.no_grad():
            for text in texts:
                ids = [context_id, *tokenizer.encode(text, add_special_tokens=False).ids]
                nbytes += len(text.encode("utf-8"))
                for start in range(0, len(ids) - 1, seq_len - 1):
                    window = torch.tensor([ids[start : start + seq_len]], device=device)
                    logits = model(input_ids=window).logits.float()
                    tokens += window.shape[1] - 1
                    nll += F.cross_entropy(logits[0, :-1], window[0, 1:], reduction="sum").item()
    finally:
        model.train(was_training)
    return BitsPerByte(nll, tokens, nbytes)
