"""Checks between the config and what it names, run before any weights load.

``load_config`` checks each key on its own; these need the model's Hugging Face config (read from
``config.json`` or built from ``model.init``, no weights), the opened token sources or the
tokenizer. The EOS id is decided here, once: the token manifests record the id the engine put
between documents, and every other claim (``data.eos_id``, the tokenizer's EOS) must agree.
"""

from __future__ import annotations

from typing import Any, Sequence

from cpt import ConfigError
from cpt.data.sources import TokenSource
from cpt.train.config import TrainConfig


def _source_label(src: TokenSource) -> str:
    return str(getattr(src, "path", src.name))


def resolve_eos(
    cfg: TrainConfig, sources: Sequence[TokenSource], tokenizer: Any, vocab_size: int
) -> int:
    """The document separator: the manifests' ``eos_id``; config and tokenizer must agree."""
    recorded = [(src, src.eos_id) for src in sources if getattr(src, "eos_id", None) is not None]
    tok_eos = getattr(tokenizer, "eos_token_id", None) if tokenizer is not None else None
    if recorded:
        first, eos = recorded[0]
        for src, other in recorded[1:]:
            if other != eos:
                raise ConfigError(
                    f"data sources disagree on EOS: {_source_label(first)} records eos_id {eos}, "
                    f"{_source_label(src)} records {other}; tokenize them with the same tokenizer"
                )
        where = f"the manifest {_source_label(first)}"
        if cfg.data.eos_id is not None and cfg.data.eos_id != eos:
            raise ConfigError(
                f"config key 'data.eos_id': {cfg.data.eos_id} disagrees with eos_id {eos} "
                f"recorded in {where}; drop data.eos_id (the manifest decides)"
            )
        if tok_eos is not None and tok_eos != eos:
            raise ConfigError(
                f"the tokenizer's EOS id {tok_eos} ({tokenizer.eos_token!r}) disagrees with eos_id "
                f"{eos} recorded in {where}; re-tokenize with --eos-token {tokenizer.eos_token!r} "
                "or point model.tokenizer at a tokenizer that agrees"
            )
        eos_token = getattr(first, "eos_token", None)
        if tokenizer is not None and tok_eos is None and eos_token:
            tokenizer.eos_token = eos_token  # a bare tokenizer.json learns it from the manifest
    elif cfg.data.eos_id is not None:
        eos = cfg.data.eos_id
        if tok_eos is not None and tok_eos != eos:
            raise ConfigError(
                f"config key 'data.eos_id': {eos} disagrees with the tokenizer's EOS id {tok_eos} "
                f"({tokenizer.eos_token!r})"
            )
    elif tok_eos is not None:
        eos = int(tok_eos)  # raw token files record nothing: the tokenizer's declared EOS
    else:
        raise ConfigError(
            "config key 'data.eos_id': not set, no token manifest records one (raw sources) and "
            "the tokenizer declares no EOS token; give data.eos_id"
        )
    if not 0 <= eos < vocab_size:
        key = "data.eos_id" if cfg.data.eos_id is not None else "EOS"
        raise ConfigError(
            f"config key '{key}': {eos} is outside the model's vocabulary of {vocab_size} tokens"
        )
    return int(eos)


def check_seq_len(cfg: TrainConfig, hf_cfg: Any, sources: Sequence[TokenSource]) -> None:
    """A packed sequence must fit the model's positions and each source must hold one."""
    seq_len = cfg.data.seq_len
    max_pos = getattr(hf_cfg, "max_position_embeddings", None)
    if isinstance(max_pos, int) and seq_len > max_pos:
        raise ConfigError(
            f"config key 'data.seq_len': {seq_len} is longer than the model's "
            f"max_position_embeddings = {max_pos}"
        )
    for src in sources:
        if 0 < src.num_tokens < seq_len:
            raise ConfigError(
                f"config key 'data.seq_len': {seq_len} is longer than the whole data source "
                f"'{src.name}' ({_source_label(src)}: {src.num_tokens} tokens)"
            )


def resolve_mixed_precision(choice: str) -> str:
    """``auto`` = bf16 on a GPU that has it, else no mixed precision (CPU autocast rarely pays)."""
    import torch

    if choice != "auto":
        return choice
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def check_fsdp(acc: Any) -> None:
    """Accelerate enables FSDP only for GPU-like devices: on CPU an FSDP launch config would
    silently train plain DDP. Refuse it, naming why."""
    import os

    from accelerate.utils import DistributedType

    asked = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    if asked and acc.distributed_type != DistributedType.FSDP:
        raise ConfigError(
            f"the launch config asks for FSDP, but Accelerate set up "
            f"{acc.distributed_type.value} on {acc.device}: Accelerate "
            "only applies FSDP on GPU-like devices (AcceleratorState enables it for "
            "MULTI_GPU/XPU/NPU/..., never for MULTI_CPU); use a GPU or the DDP config"
        )
