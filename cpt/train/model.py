"""Model and tokenizer: a base HF causal LM from a directory, or a fresh tiny one from a config."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cpt import ConfigError
from cpt.train.config import ModelConfig

# Short names for the usual keys of ``model.init``; anything else goes to the HF config as is.
_INIT_ALIASES = {
    "layers": "num_hidden_layers",
    "heads": "num_attention_heads",
    "kv_heads": "num_key_value_heads",
    "max_position": "max_position_embeddings",
}


# The usual end-of-document tokens (GPT-2/SmolLM, Llama 2, Gemma, Llama 3), in that order.
EOS_NAMES = ("<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>")


def build_model(cfg: ModelConfig) -> nn.Module:
    """Load ``cfg.path`` (safetensors) or build from ``cfg.init``; call after seeding."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if cfg.path is not None:
        path = Path(cfg.path)
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"config key 'model.path': {path} is not a Hugging Face model "
                "directory (no config.json)"
            )
        return AutoModelForCausalLM.from_pretrained(
            path, attn_implementation=cfg.attn_implementation, dtype=torch.float32
        )
    init = dict(cfg.init)
    arch = init.pop("arch", "llama")
    kwargs = {_INIT_ALIASES.get(k, k): v for k, v in init.items()}
    if "vocab_size" not in kwargs:
        raise ConfigError("config key 'model.init.vocab_size': missing")
    kwargs.setdefault("intermediate_size", 4 * int(kwargs.get("hidden_size", 64)))
    try:
        hf_cfg = AutoConfig.for_model(arch, **kwargs)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"config key 'model.init': {exc}") from None
    hf_cfg._attn_implementation = cfg.attn_implementation
    return AutoModelForCausalLM.from_config(hf_cfg, attn_implementation=cfg.attn_implementation)


def load_tokenizer(cfg: ModelConfig) -> Any | None:
    """The tokenizer from ``model.tokenizer`` (file or dir) or the model dir; None if neither."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    source = cfg.tokenizer or cfg.path
    if source is None:
        return None
    path = Path(source)
    if path.is_file():
        tok = PreTrainedTokenizerFast(tokenizer_file=str(path))
        if tok.eos_token is None:  # a bare tokenizer.json does not say which token is EOS
            vocab = tok.get_vocab()
            name = next((n for n in EOS_NAMES if n in vocab), None)
            if name is not None:
                tok.eos_token = name
        return tok
    if path.is_dir():
        if cfg.tokenizer is None and not any(
            (path / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json")
        ):
            return None
        return AutoTokenizer.from_pretrained(path)
    raise ConfigError(f"config key 'model.tokenizer': {path} not found")


def tokenizer_hash(cfg: ModelConfig) -> str:
    """The identity token shards record for tokenizer.json ('' if there is no tokenizer file).

    Uses the shard reader's own ``tokenizer_hash`` so both sides agree; sha256 if it is absent.
    """
    source = cfg.tokenizer or cfg.path
    if source is None:
        return ""
    path = Path(source)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        return ""
    try:
        from cpt.data.shards import tokenizer_hash as shard_tokenizer_hash
    except ImportError:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return str(shard_tokenizer_hash(path))


def optimizer_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay on matrices only; never on norms, biases or embeddings."""
    embed_ids = {
        id(p)
        for m in model.modules()
        if isinstance(m, nn.Embedding)
        for p in m.parameters(recurse=False)
    }
    decay, no_decay = [], []
    for _name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or id(p) in embed_ids else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
