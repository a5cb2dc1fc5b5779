"""Model and tokenizer: a base HF causal LM from a directory, or a fresh tiny one from a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from cpt import ConfigError, TokenizerError
from cpt.train.config import InitConfig, ModelConfig

# ``model.init`` keys and the Hugging Face config names they stand for.
_INIT_NAMES = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "layers": "num_hidden_layers",
    "heads": "num_attention_heads",
    "kv_heads": "num_key_value_heads",
    "intermediate_size": "intermediate_size",
    "max_position": "max_position_embeddings",
    "tie_word_embeddings": "tie_word_embeddings",
}


def init_kwargs(init: InitConfig) -> dict[str, Any]:
    """The Hugging Face config keywords of ``model.init`` (unset fields left to the arch)."""
    kwargs = {hf: getattr(init, key) for key, hf in _INIT_NAMES.items()}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kwargs.setdefault("intermediate_size", 4 * int(kwargs.get("hidden_size", 64)))
    return kwargs


def model_config(cfg: ModelConfig) -> Any:
    """The model's Hugging Face config, read or built without loading any weights."""
    from transformers import AutoConfig

    if cfg.path is not None:
        path = Path(cfg.path)
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"config key 'model.path': {path} is not a Hugging Face model "
                "directory (no config.json)"
            )
        try:
            return AutoConfig.from_pretrained(path)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"config key 'model.path': {path}/config.json: {exc}") from None
    init = cfg.init
    assert init is not None  # load_config requires model.path or model.init
    try:
        default = AutoConfig.for_model(init.arch)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"config key 'model.init.arch': {exc}") from None
    known = set(default.to_dict()) | set(vars(default))
    for key in init.extra:
        if key in _INIT_NAMES.values():
            short = next(k for k, v in _INIT_NAMES.items() if v == key)
            raise ConfigError(f"config key 'model.init.extra.{key}': set 'model.init.{short}'")
        if key not in known:
            raise ConfigError(
                f"config key 'model.init.extra.{key}': not a key of the {init.arch} config"
            )
    try:
        hf_cfg = AutoConfig.for_model(init.arch, **init_kwargs(init), **init.extra)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"config key 'model.init': {exc}") from None
    hf_cfg._attn_implementation = cfg.attn_implementation
    return hf_cfg


def build_model(cfg: ModelConfig, hf_cfg: Any | None = None) -> nn.Module:
    """Load ``cfg.path`` (safetensors) or build from ``cfg.init``; call after seeding."""
    from transformers import AutoModelForCausalLM

    if hf_cfg is None:
        hf_cfg = model_config(cfg)
    if cfg.path is not None:
        return AutoModelForCausalLM.from_pretrained(
            Path(cfg.path), attn_implementation=cfg.attn_implementation, dtype=torch.float32
        )
    return AutoModelForCausalLM.from_config(hf_cfg, attn_implementation=cfg.attn_implementation)


def load_tokenizer(cfg: ModelConfig) -> Any | None:
    """The tokenizer from ``model.tokenizer`` (file or dir) or the model dir; None if neither.
    A file that does not load is a ``TokenizerError`` naming it."""
    try:
        return _load_tokenizer(cfg)
    except (ConfigError, TokenizerError):
        raise
    except Exception as exc:  # transformers/tokenizers raise bare Exception on a bad file
        first = (str(exc).strip().splitlines() or [""])[0]
        raise TokenizerError(
            f"config key 'model.tokenizer': cannot load {cfg.tokenizer or cfg.path}"
            f": {type(exc).__name__}: {first}"
        ) from None


def _load_tokenizer(cfg: ModelConfig) -> Any | None:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    source = cfg.tokenizer or cfg.path
    if source is None:
        return None
    path = Path(source)
    if path.is_file():
        # A bare tokenizer.json does not say which token is EOS: the trainer takes it from the
        # token manifest (``cpt.train.eos``), never from a guess here.
        return PreTrainedTokenizerFast(tokenizer_file=str(path))
    if path.is_dir():
        if cfg.tokenizer is None and not any(
            (path / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json")
        ):
            return None
        return AutoTokenizer.from_pretrained(path)
    raise ConfigError(f"config key 'model.tokenizer': {path} not found")


def tokenizer_hash(cfg: ModelConfig) -> str:
    """The identity token shards record for tokenizer.json ('' if there is no tokenizer file),
    computed by the shard reader so both sides agree."""
    source = cfg.tokenizer or cfg.path
    if source is None:
        return ""
    path = Path(source)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        return ""
    from cpt.data.shards import tokenizer_hash as shard_tokenizer_hash

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
