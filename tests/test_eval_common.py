"""Tiny models and a tokenizer trained on the spot, shared by the evaluation tests (no hub)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TASK_DATA = Path(__file__).resolve().parent.parent / "cpt" / "tasks" / "data"


def task_rows(name: str) -> list[dict]:
    path = TASK_DATA / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@lru_cache(maxsize=1)
def tokenizer():
    """A byte-level BPE (300 tokens) trained on the shipped task texts; EOS only, no BOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [r["text"] for r in task_rows("sotu_text.jsonl") + task_rows("license_text.jsonl")]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>")


def tiny_model(seed: int = 0, max_positions: int = 2048, tie: bool = False):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer()),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=max_positions,
        eos_token_id=tokenizer().eos_token_id,
        bos_token_id=None,
        pad_token_id=None,
        tie_word_embeddings=tie,
    )
    return LlamaForCausalLM(cfg)


def token_ids(text: str) -> list[int]:
    return tokenizer().encode(text, add_special_tokens=False)
