"""Packing: position ids restart after EOS; document masking drops cross-document labels."""

from __future__ import annotations

import numpy as np

from cpt.data.packing import pack, position_ids


def test_position_ids_reset_after_eos() -> None:
    toks = np.array([[5, 6, 0, 7, 8, 9, 0, 4], [0, 1, 2, 3, 0, 0, 5, 6]])
    assert position_ids(toks, 0).tolist() == [[0, 1, 2, 0, 1, 2, 3, 0], [0, 0, 1, 2, 3, 0, 0, 1]]


def test_pack_masks() -> None:
    toks = np.array([[5, 6, 0, 7, 8]])
    plain = pack(toks, 0, mask_documents=False)
    assert plain["labels"].tolist() == toks.tolist()
    assert plain["attention_mask"].tolist() == [[1] * 5]
    masked = pack(toks, 0, mask_documents=True)
    assert "attention_mask" not in masked  # transformers builds the block mask from positions
    assert masked["labels"].tolist() == [[5, 6, 0, -100, 8]]


def test_document_mask_blocks_attention_across_documents() -> None:
    """With mask_documents the second document's logits do not depend on the first one."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=32,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    model.eval()
    a = np.array([[3, 4, 5, 0, 7, 8, 9]])
    b = np.array([[6, 6, 2, 0, 7, 8, 9]])  # same second document, different first one
    outs = []
    for toks in (a, b):
        for masked in (True, False):
            inputs = {
                k: torch.from_numpy(v) for k, v in pack(toks, 0, masked).items() if k != "labels"
            }
            with torch.no_grad():
                outs.append(model(**inputs, use_cache=False).logits[0, 4:])
    a_masked, a_plain, b_masked, b_plain = outs
    assert torch.allclose(a_masked, b_masked, atol=1e-6)
    assert not torch.allclose(a_plain, b_plain, atol=1e-4)
