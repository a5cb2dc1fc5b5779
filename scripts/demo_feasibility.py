"""Throwaway feasibility prototype for the CPU demo (plain PyTorch, not the cpt trainer).

Subcommands:
  bench   forward+backward tokens/s for a grid of seq_len x batch x dtype
  run     base eval, continued pretraining with replay, periodic evals; prints a JSON summary
Data: the shared corpora (or any JSONL.zst with a ``text`` field); model: the converted SmolLM2 dir.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import zstandard
from tokenizers import Tokenizer

SHARED = Path("/work/shared/data")
MODEL = Path.home() / ".cache/cpt/models/smollm2-135m-instruct"
EOS = 0  # <|endoftext|>: SmolLM2's document separator in pretraining


def read_jsonl_zst(path: Path) -> list[dict]:
    with open(path, "rb") as f:
        data = zstandard.ZstdDecompressor().stream_reader(f).read().decode("utf-8")
    return [json.loads(line) for line in data.split("\n") if line]


def tokenize_stream(tok: Tokenizer, docs: list[dict]) -> np.ndarray:
    enc = tok.encode_batch([d["text"] for d in docs], add_special_tokens=False)
    out: list[int] = []
    for e in enc:
        out.extend(e.ids)
        out.append(EOS)
    return np.asarray(out, dtype=np.int64)


def windows(stream: np.ndarray, seq_len: int) -> np.ndarray:
    n = len(stream) // seq_len
    return stream[: n * seq_len].reshape(n, seq_len)


def eval_windows(stream: np.ndarray, seq_len: int, budget: int) -> np.ndarray:
    """Evenly spaced windows over the whole held-out stream, ``budget`` tokens in total."""
    w = windows(stream, seq_len)
    k = min(len(w), max(1, budget // seq_len))
    idx = np.linspace(0, len(w) - 1, k).round().astype(int)
    return w[idx]


@torch.no_grad()
def perplexity(model, wins: np.ndarray, batch: int, dtype) -> float:
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(wins), batch):
        x = torch.from_numpy(wins[i : i + batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            logits = model(input_ids=x).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1), reduction="sum"
        )
        total += loss.item()
        count += x[:, 1:].numel()
    model.train()
    return math.exp(total / count)


def load_model(dtype: str):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32)
    model.config.use_cache = False
    return model


def cmd_bench(args) -> None:
    model = load_model("fp32")
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    for dtype in args.dtypes:
        for seq_len in args.seq_lens:
            for batch in args.batches:
                x = torch.randint(100, 40000, (batch, seq_len))
                times = []
                for step in range(args.steps + 1):
                    t = time.perf_counter()
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
                        loss = model(input_ids=x, labels=x).loss
                    loss.backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    if step:
                        times.append(time.perf_counter() - t)
                tps = batch * seq_len / (sum(times) / len(times))
                t = time.perf_counter()
                with (
                    torch.no_grad(),
                    torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"),
                ):
                    model(input_ids=x)
                fwd = batch * seq_len / (time.perf_counter() - t)
                print(
                    json.dumps(
                        {
                            "dtype": dtype,
                            "seq_len": seq_len,
                            "batch": batch,
                            "train_tok_s": round(tps, 1),
                            "fwd_tok_s": round(fwd, 1),
                        }
                    ),
                    flush=True,
                )


def cmd_run(args) -> None:
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    dom_train = tokenize_stream(tok, read_jsonl_zst(SHARED / "domain/licenses-train.jsonl.zst"))
    dom_held = tokenize_stream(tok, read_jsonl_zst(SHARED / "domain/licenses-heldout.jsonl.zst"))
    gen_train = tokenize_stream(tok, read_jsonl_zst(SHARED / "general/sotu-train.jsonl.zst"))
    gen_held = tokenize_stream(tok, read_jsonl_zst(SHARED / "general/sotu-heldout.jsonl.zst"))
    phases["tokenize"] = time.perf_counter() - t0
    print(
        f"tokens: dom train {len(dom_train)} held {len(dom_held)}; "
        f"gen train {len(gen_train)} held {len(gen_held)}",
        flush=True,
    )

    t = time.perf_counter()
    model = load_model(args.dtype)
    phases["load"] = time.perf_counter() - t
    ev_dom = eval_windows(dom_held, args.seq_len, args.eval_tokens)
    ev_gen = eval_windows(gen_held, args.seq_len, args.eval_tokens)

    def evaluate() -> dict:
        s = time.perf_counter()
        r = {
            "legal": perplexity(model, ev_dom, args.eval_batch, args.dtype),
            "general": perplexity(model, ev_gen, args.eval_batch, args.dtype),
        }
        r["secs"] = round(time.perf_counter() - s, 1)
        return r

    base = evaluate()
    phases["base_eval"] = base["secs"]
    print("base", json.dumps(base), flush=True)

    rng = np.random.default_rng(args.seed)
    dom_w = windows(dom_train, args.seq_len)
    gen_w = windows(gen_train, args.seq_len)
    dom_order = rng.permutation(len(dom_w))
    gen_order = rng.permutation(len(gen_w))
    n_dom = round(args.alpha * args.batch)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
    )
    warm = max(1, round(args.warmup * args.steps))

    def lr_at(step: int) -> float:
        if step < warm:
            return args.lr * (step + 1) / warm
        p = (step - warm) / max(1, args.steps - warm)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    history = [{"step": 0, **base}]
    model.train()
    train_secs = 0.0
    eval_secs = base["secs"]
    di = gi = 0
    for step in range(args.steps):
        s = time.perf_counter()
        rows = []
        for _ in range(n_dom):
            rows.append(dom_w[dom_order[di % len(dom_w)]])
            di += 1
        for _ in range(args.batch - n_dom):
            rows.append(gen_w[gen_order[gi % len(gen_w)]])
            gi += 1
        x = torch.from_numpy(np.stack(rows))
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        train_secs += time.perf_counter() - s
        print(
            f"step {step + 1} loss {loss.item():.4f} lr {lr_at(step):.2e} {train_secs:.0f}s",
            flush=True,
        )
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            r = evaluate()
            eval_secs += r["secs"]
            r.update(
                step=step + 1,
                legal_change=round(r["legal"] / base["legal"] - 1, 4),
                general_change=round(r["general"] / base["general"] - 1, 4),
            )
            history.append(r)
            print("eval", json.dumps(r), flush=True)
    phases["train"] = train_secs
    phases["evals"] = eval_secs
    phases["total"] = time.perf_counter() - t0
    print(
        "SUMMARY",
        json.dumps(
            {
                "args": vars(args),
                "phases": {k: round(v, 1) for k, v in phases.items()},
                "train_tok_s": round(args.steps * args.batch * args.seq_len / train_secs, 1),
                "history": history,
            }
        ),
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--seq-lens", type=int, nargs="+", default=[256, 512])
    b.add_argument("--batches", type=int, nargs="+", default=[4, 8])
    b.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    b.add_argument("--steps", type=int, default=2)
    r = sub.add_parser("run")
    r.add_argument("--seq-len", type=int, default=256)
    r.add_argument("--batch", type=int, default=8)
    r.add_argument("--steps", type=int, default=60)
    r.add_argument("--lr", type=float, default=3e-4)
    r.add_argument("--alpha", type=float, default=0.75)
    r.add_argument("--warmup", type=float, default=0.05)
    r.add_argument("--eval-tokens", type=int, default=16384)
    r.add_argument("--eval-batch", type=int, default=16)
    r.add_argument("--eval-every", type=int, default=20)
    r.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    r.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    {"bench": cmd_bench, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    main()
