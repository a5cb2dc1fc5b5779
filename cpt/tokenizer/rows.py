"""Which embedding rows an extended tokenizer adds, and what each new row starts as.

The extended tokenizer must be an extension of the base one: every base token keeps its id.
A new token's *pieces* are its base tokenization (for a merged token: the base BPE model's
encoding of its byte-level spelling, i.e. the pieces it was merged from; for an added token:
the base encoding of its content).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tokenizers import Tokenizer

INIT_MODES = ("subtoken", "mean", "random")


class ResizeError(ValueError):
    """A model, tokenizer or option that cannot be resized as asked."""


@dataclass(frozen=True)
class VocabDiff:
    base_size: int  # max base id + 1
    ext_size: int  # max extended id + 1
    new_ids: list[int]
    pieces: dict[int, list[int]]  # new id -> base ids of its base tokenization


def diff_vocab(base: Tokenizer, ext: Tokenizer, base_name: str, ext_name: str) -> VocabDiff:
    """The new ids of ``ext`` over ``base`` and their pieces; an error if ``ext`` moved any
    base token."""
    base_vocab = base.get_vocab(with_added_tokens=True)
    ext_vocab = ext.get_vocab(with_added_tokens=True)
    for token, idx in sorted(base_vocab.items(), key=lambda kv: kv[1]):
        if ext_vocab.get(token) != idx:
            raise ResizeError(
                f"{ext_name} is not an extension of {base_name}: base token {token!r} has id "
                f"{idx} there and {ext_vocab.get(token)} in the extension"
            )
    base_size = max(base_vocab.values()) + 1
    base_ids = set(base_vocab.values())
    new_ids = sorted(i for i in ext_vocab.values() if i not in base_ids)
    added = ext.get_added_tokens_decoder()
    pieces: dict[int, list[int]] = {}
    for i in new_ids:
        if i in added:
            ids = base.encode(added[i].content, add_special_tokens=False).ids
        else:
            ids = [t.id for t in base.model.tokenize(ext.id_to_token(i))]
        if not ids or any(p not in base_ids for p in ids):
            raise ResizeError(
                f"{ext_name}: new token {ext.id_to_token(i)!r} (id {i}) has no base tokenization"
            )
        pieces[i] = ids
    return VocabDiff(base_size, max(ext_vocab.values()) + 1, new_ids, pieces)


def init_rows(
    old: torch.Tensor,
    diff: VocabDiff,
    mode: str,
    *,
    std: float,
    generator: torch.Generator,
) -> dict[int, torch.Tensor]:
    """The starting value of each new row of one matrix (input embeddings or output head) whose
    first ``diff.base_size`` rows are the trained ones in ``old``."""
    trained = old[: diff.base_size].float()
    if mode == "subtoken":
        return {i: trained[diff.pieces[i]].mean(dim=0) for i in diff.new_ids}
    if mode == "mean":
        mean = trained.mean(dim=0)
        return {i: mean for i in diff.new_ids}
    if mode == "random":
        # One draw for all rows, in id order: the same seed gives the same rows.
        draw = torch.randn((len(diff.new_ids), old.shape[1]), generator=generator) * std
        return {i: draw[k] for k, i in enumerate(diff.new_ids)}
    raise ResizeError(f"init must be one of {', '.join(INIT_MODES)}, not {mode!r}")
