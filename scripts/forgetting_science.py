"""Issue 15's training-side science at a small budget: general drift of SmolLM2-135M under
(a) alpha 1.0 vs 0.7, (b) beta 1.0 vs 0.1, (c) EWC on vs off at alpha 1.0.

    python -m cpt.tokenize ...   # or cpt.tokenize.tokenize(): domain/, general/, heldout/ shards
    python scripts/forgetting_science.py WORK_DIR [--steps 12] [--seq-len 128]

WORK_DIR holds cpt token shards made with the model's tokenizer: domain/ (licenses-train),
general/ (sotu-train, the replay source) and heldout/ (sotu-heldout). The metric is the general
perplexity of the held-out speeches (first 512 tokens of each document); its standard error and
the paired differences come from a bootstrap over documents (the same resamples for every run).
Results accumulate in WORK_DIR/results.json, so an interrupted sweep continues.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from cpt.data.sources import open_source
from cpt.train.config import load_config
from cpt.train.loop import train

MODEL = str(Path.home() / ".cache/cpt/models/smollm2-135m-instruct")
RUNS = {  # name: (alpha, beta, ewc)
    "a1_alpha1.0_beta1.0": (1.0, 1.0, None),
    "a2_alpha0.7_beta1.0": (0.7, 1.0, None),
    "b_alpha0.7_beta0.1": (0.7, 0.1, None),
    "c_alpha1.0_beta1.0_ewc": (1.0, 1.0, {"lambda": 1.0, "fisher_samples": 16}),
}
PAIRS = [
    ("a1_alpha1.0_beta1.0", "a2_alpha0.7_beta1.0"),
    ("a2_alpha0.7_beta1.0", "b_alpha0.7_beta0.1"),
    ("a1_alpha1.0_beta1.0", "c_alpha1.0_beta1.0_ewc"),
]


def run_config(work: Path, name: str, steps: int, seq_len: int) -> object:
    alpha, beta, ewc = RUNS[name]
    optim: dict = {"base_lr": 3e-3, "beta": beta, "grad_accum": 1}
    if ewc:
        optim["ewc"] = ewc
    return load_config(data={
        "model": {"path": MODEL},
        "data": {"domain": [{"path": str(work / "domain/manifest.json"), "format": "cpt"}],
                 "general": [{"path": str(work / "general/manifest.json"), "format": "cpt"}],
                 "alpha": alpha, "seq_len": seq_len, "micro_batch_size": 4},
        "optim": optim,
        "schedule": {"max_steps": steps, "warmup_frac": 0.1},
        "checkpoint": {"every": 0},
        "logging": {"every": 4, "tensorboard": False, "plots": False, "progress": "off"},
        "run": {"dir": str(work / "runs" / name), "seed": 1},
    })  # fmt: skip


def document_nll(work: Path, model_dir: str, max_tokens: int = 512) -> list[list[float]]:
    """Per held-out document: [sum of NLL in nats, predicted tokens]."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    src = open_source(str(work / "heldout/manifest.json"), "cpt", "uint16", "")
    tokens = src.read(0, src.num_tokens).astype(np.int64)
    out, start = [], 0
    with torch.no_grad():
        for end in np.flatnonzero(tokens == 0):
            doc, start = tokens[start:end][:max_tokens], int(end) + 1
            if len(doc) < 16:
                continue
            ids = torch.from_numpy(doc)[None]
            loss = float(model(input_ids=ids, labels=ids).loss)
            out.append([loss * (len(doc) - 1), float(len(doc) - 1)])
    return out


def report(results: dict[str, list[list[float]]], resamples: int = 2000) -> str:
    arrays = {k: np.array(v) for k, v in results.items()}
    n = len(arrays["base"])
    idx = np.random.default_rng(0).integers(0, n, (resamples, n))

    def ppl(a: np.ndarray, i: object = slice(None)) -> float:
        return math.exp(a[i, 0].sum() / a[i, 1].sum())

    boot = {k: np.array([ppl(a, i) for i in idx]) for k, a in arrays.items()}
    lines = [f"{n} held-out documents, document bootstrap B={resamples}"]
    for k, a in arrays.items():
        drift = 100 * (boot[k] / boot["base"] - 1)
        mean = 100 * (ppl(a) / ppl(arrays["base"]) - 1)
        lines.append(f"{k:26s} ppl {ppl(a):8.3f} +- {boot[k].std():.3f}   drift "
                     f"{mean:+6.2f} % +- {drift.std():.2f}")  # fmt: skip
    for x, y in PAIRS:
        if x in arrays and y in arrays:
            d = ppl(arrays[x]) - ppl(arrays[y])
            se = float((boot[x] - boot[y]).std())
            verdict = "within noise" if abs(d) < 2 * se else "beyond 2 s.e."
            lines.append(f"paired {x} - {y}: {d:+.3f} +- {se:.3f} ppl ({verdict})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args()
    path = args.work / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    if "base" not in results:
        results["base"] = document_nll(args.work, MODEL)
        path.write_text(json.dumps(results))
    for name in RUNS:
        if name in results:
            continue
        t0 = time.time()
        train(run_config(args.work, name, args.steps, args.seq_len))
        results[name] = document_nll(args.work, str(args.work / "runs" / name / "final"))
        path.write_text(json.dumps(results))
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    print(report(results))


if __name__ == "__main__":
    main()
