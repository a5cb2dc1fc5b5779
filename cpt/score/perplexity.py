"""Reference-model perplexity, the classic curator: a small Hugging Face causal LM scores
every kept document of a finished ``cpt-curate run`` and the score is written as the
attribute ``ref_ppl`` (by default) into the run's attribute files, beside the n-gram and
classifier scores, so the selection step can threshold on it without rescoring.

Each document is tokenized, cut to its first ``max_tokens`` tokens (the truncation window),
preceded by the tokenizer's BOS (else EOS) token so its first token is predicted too, and
scored as ``exp(mean negative log-likelihood per token)``. Documents are sorted by length
and batched (right padding, attention mask), on CPU or GPU. A document with no tokens gets
``null``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Union

from cpt.score.attributes import attribute_path, kept_shards, merge_attributes, read_docs

PathLike = Union[str, "os.PathLike[str]"]


def _device(device: str | None) -> Any:
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _batch_ppl(model: Any, batch: list[list[int]], pad_id: int, device: Any) -> list[float]:
    """Perplexity of each token sequence (its first token is the context only)."""
    import torch

    width = max(len(s) for s in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, seq in enumerate(batch):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    ids, mask = ids.to(device), mask.to(device)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    target = ids[:, 1:]
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none"
    ).view(target.shape)
    valid = mask[:, 1:].to(nll.dtype)
    per_doc = (nll * valid).sum(1) / valid.sum(1).clamp(min=1)
    return [math.exp(x) for x in per_doc.tolist()]


def score_perplexity(
    model: PathLike,
    curated: PathLike,
    *,
    name: str = "ref_ppl",
    batch_size: int = 8,
    max_tokens: int = 512,
    device: str | None = None,
    dtype: str | None = None,
    text_key: str = "text",
    progress: bool = True,
) -> dict[str, Any]:
    """Score every kept document of the run in ``curated`` with the causal LM in the HF
    directory ``model`` and merge the attribute ``name`` into ``curated/attributes/``
    (files created if the run wrote none; other attributes kept; alignment with the kept
    shards checked). Returns a summary (documents, tokens, mean and median perplexity,
    seconds, tokens per second, files written)."""
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    model_dir, run_dir = Path(model), Path(curated)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: not a Hugging Face model directory (no config.json)")
    shards = kept_shards(run_dir)
    started = time.perf_counter()
    dev = _device(device)
    tok = AutoTokenizer.from_pretrained(model_dir)
    torch_dtype = getattr(torch, dtype) if dtype else torch.float32
    lm = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype).to(dev).eval()
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    if start is None:
        raise ValueError(f"{model_dir}: the tokenizer has neither a BOS nor an EOS token")
    pad = tok.pad_token_id if tok.pad_token_id is not None else start

    docs_per_shard = [read_docs(run_dir / "kept" / rel, text_key) for rel in shards]
    total_docs = sum(len(d) for d in docs_per_shard)
    bar = tqdm(total=total_docs, desc="ref_ppl", unit="doc", disable=not progress, file=sys.stderr)
    all_ppl: list[float] = []
    tokens = 0
    written = []
    for rel, docs in zip(shards, docs_per_shard):
        seqs = []
        for _, text in docs:
            ids = tok(text, add_special_tokens=False)["input_ids"][:max_tokens]
            seqs.append([start, *ids] if ids else [])
        values: list[float | None] = [None] * len(docs)
        order = sorted((i for i, s in enumerate(seqs) if s), key=lambda i: (-len(seqs[i]), i))
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            for i, p in zip(idx, _batch_ppl(lm, [seqs[i] for i in idx], pad, dev)):
                values[i] = p
                all_ppl.append(p)
                tokens += len(seqs[i]) - 1
            bar.update(len(idx))
        bar.update(len(docs) - len(order))
        path = attribute_path(run_dir, rel)
        merge_attributes(path, [i for i, _ in docs], name, values, kept=run_dir / "kept" / rel)
        written.append(str(path))
    bar.close()
    seconds = time.perf_counter() - started
    srt = sorted(all_ppl)
    return {
        "model": str(model_dir),
        "name": name,
        "docs": total_docs,
        "scored": len(all_ppl),
        "tokens": tokens,
        "mean": sum(all_ppl) / len(all_ppl) if all_ppl else None,
        "median": srt[len(srt) // 2] if srt else None,
        "device": str(dev),
        "seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds > 0 else 0.0,
        "files": written,
    }
