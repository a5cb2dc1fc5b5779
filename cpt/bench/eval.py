"""``python -m cpt.bench eval``: lm-eval requests/s on a real model, as cpt ran it before issue 15
(a new HFLM wrapper per evaluation, batch ``--before-batch``) and now (batch ``--batch``, requests
sorted by length by lm-eval's collator, the wrapper around the in-memory model reused), on the
very same tasks and fixed items.

Each configuration runs ``--evals`` evaluations in a row (as the trainer does every N steps);
timings are the best of ``--repeat`` rounds, the configurations alternating so that load from
other processes hits both alike. Example::

    python -m cpt.bench eval --model ~/.cache/cpt/models/smollm2-135m-instruct \\
        --tasks arc_easy,piqa --limit 20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def run_config(
    ev: Any, model: Any, tokenizer: Any, evals: int, reuse: bool
) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all threads) and lm-eval requests of ``evals`` evaluations."""
    requests = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(evals):
        if not reuse:
            ev.reset_wrapper()
        ev.evaluate(model, tokenizer)
        requests += ev.last_requests
    return time.perf_counter() - t0, time.process_time() - c0, requests


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cpt.bench eval", description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, required=True, help="HF model directory")
    p.add_argument("--tasks", default="arc_easy,piqa", help="comma-separated lm-eval tasks")
    p.add_argument("--limit", type=int, default=20, help="fixed items per task")
    p.add_argument("--before-batch", type=int, default=1, help="batch size of the old path")
    p.add_argument("--batch", type=int, default=16, help="batch size of the new path")
    p.add_argument("--evals", type=int, default=2, help="evaluations per configuration")
    p.add_argument("--repeat", type=int, default=1, help="rounds (best is kept)")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cpt.evaluate.lmeval import LMEvaluator

    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.model / "config.json").is_file():
        print(f"cpt.bench eval: error: --model {args.model}: no config.json", file=sys.stderr)
        return 2
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    tasks = [t for t in args.tasks.split(",") if t]
    before = LMEvaluator(tasks, limit=args.limit, batch_size=args.before_batch)
    samples = before.samples()
    after = LMEvaluator(tasks, samples=samples, batch_size=args.batch)
    best: dict[str, tuple[float, float, int]] = {}
    configs = {
        f"before: batch {args.before_batch}, new wrapper per eval": (before, False),
        f"after: batch {args.batch}, wrapper reused": (after, True),
    }
    for _ in range(args.repeat):
        for name, (ev, reuse) in configs.items():
            secs, cpu, reqs = run_config(ev, model, tokenizer, args.evals, reuse)
            if name not in best or secs < best[name][0]:
                best[name] = (secs, cpu, reqs)
    rows = {n: {"seconds": round(s, 2), "cpu_seconds": round(c, 2), "requests": r,
                "requests_per_s": round(r / s, 2), "requests_per_cpu_s": round(r / c, 2)}
            for n, (s, c, r) in best.items()}  # fmt: skip
    names = list(rows)
    ratio = rows[names[1]]["requests_per_s"] / rows[names[0]]["requests_per_s"]
    cpu_ratio = rows[names[1]]["requests_per_cpu_s"] / rows[names[0]]["requests_per_cpu_s"]
    items = sum(len(v) for v in samples.values())
    print(f"model {args.model.name}, tasks {tasks}, {items} fixed items, {args.evals} evals each")
    for n, r in rows.items():
        print(f"  {n:<40} {r['requests']:>6} requests {r['seconds']:>8} s "
              f"{r['requests_per_s']:>8} requests/s {r['cpu_seconds']:>8} CPU s "
              f"{r['requests_per_cpu_s']:>8} requests/CPU s")  # fmt: skip
    print(f"  speed-up: {ratio:.2f}x wall, {cpu_ratio:.2f}x per CPU second")
    if args.json is not None:
        out = {"tasks": tasks, "limit": args.limit, "evals": args.evals, "results": rows,
               "speedup": round(ratio, 3), "cpu_speedup": round(cpu_ratio, 3)}  # fmt: skip
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
