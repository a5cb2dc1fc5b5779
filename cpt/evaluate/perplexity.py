"""Token-level perplexity of a causal LM on held-out token data (a ``cpt.data.sources`` source)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from cpt.data.sources import TokenSource


@dataclass(frozen=True)
class PerplexityResult:
    nll_sum: float  # summed negative log-likelihood (nats) over predicted tokens
    predicted: int  # number of predicted tokens (window length - 1 per window)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll_sum / self.predicted) if self.predicted else float("nan")


def window_starts(num_tokens: int, seq_len: int, max_tokens: int) -> list[tuple[int, int]]:
    """(start, length) of the windows scored: deterministic, evenly strided over the whole set.

    ``max_tokens // seq_len`` windows (at least one) of ``seq_len`` tokens, spread from the first to
    the last token so the estimate covers the whole held-out set; they never overlap. A set shorter
    than one window is scored as a single window of all its tokens.
    """
    if num_tokens < 2:
        raise ValueError(f"a held-out set needs at least 2 tokens, it has {num_tokens}")
    if num_tokens <= seq_len:
        return [(0, num_tokens)]
    n = max(1, min(max_tokens // seq_len, num_tokens // seq_len))
    if n == 1:
        return [(0, seq_len)]
    span = num_tokens - seq_len
    return [(i * span // (n - 1), seq_len) for i in range(n)]


def _window_losses(
    model: Any,
    source: TokenSource,
    windows: Sequence[tuple[int, int]],
    batch_size: int,
    device: Any,
) -> Iterator[tuple[list[tuple[int, int]], Any]]:
    """Per batch of windows: the windows and their per-token NLL (nats) as a float64 tensor
    [windows, length - 1]. The model is in eval mode while this runs and back in its mode after."""
    import torch
    import torch.nn.functional as F

    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for group in _batches(windows, batch_size):
                rows = [np.asarray(source.read(s, n), dtype=np.int64) for s, n in group]
                for (s, n), row in zip(group, rows):
                    if row.shape != (n,):
                        raise ValueError(f"token source returned {row.shape} for read({s}, {n})")
                ids = torch.from_numpy(np.stack(rows)).to(device)
                logits = model(input_ids=ids).logits.float()
                loss = F.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.shape[-1]),
                    ids[:, 1:].reshape(-1),
                    reduction="none",
                )
                yield group, loss.double().view(ids.shape[0], -1)
    finally:
        model.train(was_training)


def perplexity(
    model: Any,
    source: TokenSource,
    *,
    seq_len: int,
    max_tokens: int,
    batch_size: int,
    device: Any = None,
) -> PerplexityResult:
    """exp(mean NLL) of ``model`` over fixed windows of ``source``; restores the model's mode."""
    windows = window_starts(int(source.num_tokens), seq_len, max_tokens)
    nll = 0.0
    count = 0
    for _, loss in _window_losses(model, source, windows, batch_size, device):
        nll += float(loss.sum())  # float64 sum: no drift over many tokens
        count += loss.numel()
    return PerplexityResult(nll, count)


def _batches(windows: Sequence[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    # windows of different length (only a set shorter than seq_len) are never stacked together
    out: list[list[tuple[int, int]]] = []
    for w in windows:
        if out and len(out[-1]) < size and out[-1][0][1] == w[1]:
            out[-1].append(w)
        else:
            out.append([w])
    return out


def combine(results: Sequence[PerplexityResult]) -> PerplexityResult:
    """One perplexity over several sets: token-weighted, as if they were one set."""
    return PerplexityResult(sum(r.nll_sum for r in results), sum(r.predicted for r in results))


@dataclass(frozen=True)
class DocumentNLL:
    """Summed NLL (nats) and predicted tokens per held-out document, for bootstrap and tests.

    A document is the span between EOS separators of the source (the EOS that ends a document
    belongs to it); a window that crosses a boundary contributes to both documents. A source that
    records no EOS id is one unit per window.
    """

    nll: list[float]
    tokens: list[int]

    @property
    def result(self) -> PerplexityResult:
        return PerplexityResult(math.fsum(self.nll), int(sum(self.tokens)))


def eos_positions(source: TokenSource, chunk: int = 1 << 20) -> np.ndarray:
    """Sorted positions of the EOS id in ``source`` (empty when it records none)."""
    if source.eos_id is None:
        return np.zeros(0, dtype=np.int64)
    n = int(source.num_tokens)
    parts = []
    for start in range(0, n, chunk):
        block = np.asarray(source.read(start, min(chunk, n - start)))
        parts.append(np.flatnonzero(block == source.eos_id) + start)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def perplexity_by_document(
    model: Any,
    source: TokenSource,
    *,
    seq_len: int,
    max_tokens: int,
    batch_size: int,
    device: Any = None,
    eos: np.ndarray | None = None,
) -> DocumentNLL:
    """The windows of ``perplexity`` (same windows, same total), NLL kept per document."""
    windows = window_starts(int(source.num_tokens), seq_len, max_tokens)
    eos = eos_positions(source) if eos is None else eos
    per_doc: dict[int, list[float]] = {}
    for group, loss in _window_losses(model, source, windows, batch_size, device):
        for (s, n), row in zip(group, loss.cpu().numpy()):
            pos = np.arange(s + 1, s + n)  # positions of the predicted tokens
            if len(eos):
                docs = np.searchsorted(eos, pos, side="left")
            else:
                docs = np.full(len(pos), s, dtype=np.int64)  # one unit per window
            for d in np.unique(docs):
                acc = per_doc.setdefault(int(d), [0.0, 0])
                sel = docs == d
                acc[0] += float(row[sel].sum())
                acc[1] += int(sel.sum())
    keys = sorted(per_doc)
    return DocumentNLL([per_doc[k][0] for k in keys], [int(per_doc[k][1]) for k in keys])


# --- bits per byte: comparable across tokenizers ---------------------------------------------
# Separate from ``perplexity`` on purpose: the windows are the same deterministic ones, so the
# bytes they predict are counted from the token data alone, without the model.


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, inverted: the character that spells each byte -> the byte."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = list(printable)
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def token_byte_lengths(tokenizer: Any) -> np.ndarray:
    """UTF-8 bytes of text each token id stands for (0 for special tokens such as EOS).

    ``tokenizer``: a ``tokenizers.Tokenizer`` or a transformers fast tokenizer. Byte-level BPE
    tokens are measured through the byte-level alphabet (a token may be part of a character);
    other tokenizers through decoding each id on its own.
    """
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    vocab = backend.get_vocab(with_added_tokens=True)
    special = {t.content for t in backend.get_added_tokens_decoder().values() if t.special}
    byte_level = type(backend.decoder).__name__ == "ByteLevel"
    decoder = _byte_decoder()
    out = np.zeros(max(vocab.values(), default=-1) + 1, dtype=np.int64)
    for token, idx in vocab.items():
        if token in special:
            continue
        if byte_level and all(c in decoder for c in token):
            out[idx] = len(token)  # one character of the alphabet per byte
        else:
            out[idx] = len(backend.decode([idx], skip_special_tokens=False).encode("utf-8"))
    return out


def predicted_bytes(
    source: TokenSource, *, seq_len: int, max_tokens: int, byte_lengths: np.ndarray
) -> int:
    """UTF-8 bytes of the tokens ``perplexity`` predicts on ``source`` (same windows)."""
    total = 0
    for s, n in window_starts(int(source.num_tokens), seq_len, max_tokens):
        ids = np.asarray(source.read(s, n), dtype=np.int64)[1:]
        if ids.size and int(ids.max()) >= len(byte_lengths):
            raise ValueError(
                f"token id {int(ids.max())} is outside the tokenizer's {len(byte_lengths)} ids"
            )
        total += int(byte_lengths[ids].sum())
    return total


def bits_per_byte(nll_sum: float, nbytes: int) -> float:
    """Total NLL in bits over the UTF-8 bytes of the text it predicted."""
    return nll_sum / math.log(2) / nbytes if nbytes else float("nan")
