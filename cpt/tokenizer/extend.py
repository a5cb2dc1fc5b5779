"""Python face of vocabulary extension (``cpt-curate tokenizer extend``)."""

from __future__ import annotations

import os
from typing import Any, Sequence, Union

from cpt import _engine

PathLike = Union[str, "os.PathLike[str]"]


def _paths(p: PathLike | Sequence[PathLike] | None) -> list[str]:
    if p is None:
        return []
    if isinstance(p, (str, os.PathLike)):
        return [os.fspath(p)]
    return [os.fspath(x) for x in p]


def extend(
    tokenizer: PathLike,
    inputs: PathLike | Sequence[PathLike],
    output: PathLike,
    new_tokens: int,
    *,
    min_frequency: int | None = None,
    min_word_docs: int | None = None,
    eval_domain: PathLike | Sequence[PathLike] | None = None,
    eval_general: PathLike | Sequence[PathLike] | None = None,
    protect: PathLike | Sequence[PathLike] | None = None,
    protect_exact: bool = False,
    text_key: str | None = None,
    threads: int | None = None,
    allow_fewer: bool = False,
) -> dict[str, Any]:
    """Continue a byte-level BPE tokenizer's training on JSONL documents: learn ``new_tokens``
    merges from the corpus's pre-tokenized words and append them (and their tokens) after the
    existing ids, so every old id keeps its meaning.

    Writes ``output/tokenizer.json`` and ``output/extend_report.json`` and returns the report:
    old ids checked, the new tokens with their corpus frequency, and before/after tokens per
    document, chars per token, fertility, share of unchanged documents and round-trip failures
    on ``eval_domain`` (default: the training corpus) and ``eval_general``. Raises
    ``cpt._engine.TokenizerError`` for a tokenizer that is not byte-level BPE or a corpus that
    yields fewer merges than asked (unless ``allow_fewer``), ``InputError`` naming file and line
    for a malformed document. ``protect``: documents (general text, e.g. a general corpus's
    train split, never the text measured) whose words no new merge may touch, so they encode
    exactly as with the base tokenizer; each word also protects its ASCII case variants (lower,
    Capitalized, UPPER) with and without the leading space, unless ``protect_exact``.
    ``min_word_docs``: learn only from words found in at least that many corpus documents
    (domain terms, not names peculiar to a few documents; default 1 = every word).
    """
    return _engine.extend_tokenizer(
        os.fspath(tokenizer),
        _paths(inputs),
        os.fspath(output),
        new_tokens,
        min_frequency=min_frequency,
        min_word_docs=min_word_docs,
        eval_domain=_paths(eval_domain) or None,
        eval_general=_paths(eval_general) or None,
        protect=_paths(protect) or None,
        protect_exact=protect_exact,
        text_key=text_key,
        threads=threads,
        allow_fewer=allow_fewer,
    )
