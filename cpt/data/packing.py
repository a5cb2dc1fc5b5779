"""Packing: turn rows of contiguous tokens into model inputs.

Rows are read straight across document boundaries (no padding, no truncation waste). Position ids
restart after every EOS so each document sees positions 0, 1, ... as in pretraining.

Attention across documents (``mask_documents``):
- off (default): plain causal attention over the whole row; we pass an all-ones 2D attention mask
  so transformers does not infer packing from the restarting position ids.
- on: we pass no attention mask; transformers (>= 4.5x/5.x masking utils) then derives a
  block-diagonal causal mask from the restarting position ids: a 4D mask on ``sdpa``/``eager``,
  varlen kernels on ``flash_attention_2``. This inference only happens without a KV cache, so the
  model must be called with ``use_cache=False`` (the trainer does). The label of each document's
  first token is dropped (-100), since it cannot be predicted from the previous document any more.
"""

from __future__ import annotations

import numpy as np


def position_ids(tokens: np.ndarray, eos_id: int) -> np.ndarray:
    """Positions restarting at 0 after each EOS, for a [rows, seq_len] array."""
    rows, length = tokens.shape
    ar = np.broadcast_to(np.arange(length, dtype=np.int64), (rows, length))
    starts = np.zeros((rows, length), dtype=bool)
    starts[:, 0] = True
    starts[:, 1:] = tokens[:, :-1] == eos_id
    last_start = np.maximum.accumulate(np.where(starts, ar, 0), axis=1)
    return ar - last_start


def pack(tokens: np.ndarray, eos_id: int, mask_documents: bool) -> dict[str, np.ndarray]:
    """Model inputs (numpy, int64) for one micro-batch of rows."""
    ids = tokens.astype(np.int64, copy=False)
    pos = position_ids(ids, eos_id)
    labels = ids.copy()
    out = {"input_ids": ids, "labels": labels, "position_ids": pos}
    if mask_documents:
        doc_start = pos == 0
        doc_start[:, 0] = False
        labels[doc_start] = -100
    else:
        out["attention_mask"] = np.ones_like(ids)
    return out
