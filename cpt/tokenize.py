"""Python face of the tokenize stage: ``cpt.tokenize.tokenize(inputs, tokenizer, output)``
(also re-exported as ``cpt.curate.tokenize``), the tokenizer identity hash, and the
Megatron-LM export."""

from __future__ import annotations

import os
from typing import Any, Sequence, Union

from cpt import _engine

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["export_megatron", "tokenize", "tokenizer_hash"]


def tokenize(
    inputs: PathLike | Sequence[PathLike],
    tokenizer: PathLike,
    output: PathLike,
    *,
    threads: int | None = None,
    shard_tokens: int | None = None,
    frame_tokens: int | None = None,
    zstd_level: int | None = None,
    eos_token: str | None = None,
    text_key: str | None = None,
    megatron: PathLike | None = None,
    config_hash: str | None = None,
    top_words: int | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Tokenize JSONL documents (files, directories, globs; plain, zstd or gzip) with a
    ``tokenizer.json`` into compressed, seekable token shards in ``output`` (see FORMAT.md).

    Writes ``manifest.json`` (last, atomically) and ``tokenize_report.json``; returns the report.
    A rerun of the same job skips shards that are already complete and verified. Raises
    ``cpt.InputError`` naming file and line for a malformed document, ``cpt.TokenizerError`` for
    a tokenizer without EOS (pass ``eos_token``), ``cpt.ConfigError`` for bad options and for an
    ``output`` that holds a dataset of other inputs or another tokenizer (unless ``overwrite``).
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    options = {
        "threads": threads,
        "shard_tokens": shard_tokens,
        "frame_tokens": frame_tokens,
        "zstd_level": zstd_level,
        "eos_token": eos_token,
        "text_key": text_key,
        "megatron": None if megatron is None else os.fspath(megatron),
        "config_hash": config_hash,
        "top_words": top_words,
        "progress": progress,
        "overwrite": overwrite,
    }
    # None leaves the engine's default (`TokenizeOptions::default`).
    given = {k: v for k, v in options.items() if v is not None}
    return _engine.tokenize(
        [os.fspath(p) for p in inputs], os.fspath(tokenizer), os.fspath(output), **given
    )


def tokenizer_hash(path: PathLike) -> str:
    """XXH3-64 identity of a tokenizer.json, as recorded in manifests (``xxh3_64:<hex>``)."""
    return _engine.tokenizer_hash(os.fspath(path))


def export_megatron(manifest: PathLike, prefix: PathLike) -> tuple[str, str]:
    """Write Megatron-LM ``PREFIX.bin`` / ``PREFIX.idx`` from a tokenized dataset; returns
    the two paths."""
    files = _engine.export_megatron(os.fspath(manifest), os.fspath(prefix))
    return files["bin"], files["idx"]
