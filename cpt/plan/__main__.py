"""``python -m cpt.plan``: FLOPs, GPU-hours, wall-clock, cost, memory per GPU and storage of a run.

Examples::

    python -m cpt.plan --model 8B --tokens 50B --gpu a100-80gb --tflops 300 --price 2
    python -m cpt.plan --model /models/Meta-Llama-3-8B --tokens 10B --gpu h100 --gpus 8
    python -m cpt.plan --config configs/llama3-8b-fsdp-8gpu.yaml --gpu h100 --gpus 8
    python -m cpt.plan --model llama3.1-70b --tokens 1T --gpu h100 --gpus 480 --wall-days 30
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cpt import CurateError


def _args(argv: list[str] | None) -> argparse.Namespace:
    from cpt.plan.gpus import TABLE, default_mfu, known_gpus

    mfu, src = default_mfu()
    src = src.replace("%", "%%")  # argparse formats help strings with %
    p = argparse.ArgumentParser(
        prog="python -m cpt.plan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m = p.add_argument_group("model and data")
    m.add_argument(
        "--model", help="HF model directory, a known architecture (llama3-8b, smollm2-135m, ...) "
        "or a size (8B, 135M)",
    )  # fmt: skip
    m.add_argument("--config", type=Path, help="a cpt.train recipe: model, data, checkpoints")
    m.add_argument("--tokens", help="training tokens (50B, 1T, 5e10)")
    m.add_argument("--manifests", nargs="*", default=[], help="domain token manifests / .bin")
    m.add_argument("--epochs", type=float, default=1.0, help="passes over the domain manifests")
    m.add_argument("--alpha", type=float, default=None, help="domain share (default 0.7)")
    m.add_argument("--seq-len", type=int, default=None, help="sequence length (default 4096)")
    h = p.add_argument_group("hardware and rate")
    h.add_argument("--gpu", default="h100", help=f"one of {', '.join(known_gpus())} ({TABLE})")
    h.add_argument("--gpus", type=int, default=8, help="number of GPUs")
    h.add_argument("--mfu", type=float, help=f"model FLOPs utilisation (default {mfu}: {src})")
    h.add_argument("--tflops", type=float, help="effective TFLOP/s per GPU (instead of an MFU)")
    h.add_argument("--from-run", type=Path, help="use the MFU a cpt run measured (its run dir)")
    h.add_argument(
        "--wall-days", type=float, help="the run took this long: print the MFU it implies"
    )
    h.add_argument("--price", type=float, help="price per GPU-hour (USD)")
    t = p.add_argument_group("training setup")
    t.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    t.add_argument("--gradient-checkpointing", action="store_true", default=None)
    t.add_argument("--loss-chunk", type=int, default=None, help="cpt's chunked loss (0 = off)")
    t.add_argument("--global-batch-tokens", default="4M", help="target tokens per step")
    t.add_argument("--keep-last", type=int, default=None, help="checkpoint.keep_last")
    t.add_argument("--keep-best", type=int, default=None, help="best-K checkpoints kept")
    t.add_argument("--no-attention", action="store_true", help="plain 6ND, no attention term")
    t.add_argument("--no-loader-check", action="store_true", help="skip measuring the loader")
    p.add_argument("--json", type=Path, help="also write the plan as JSON here")
    p.add_argument("--list-gpus", action="store_true", help="print the GPU table and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        from cpt.plan.estimate import estimate, implied_mfu, kwargs_from_config
        from cpt.plan.gpus import get_gpu, known_gpus
        from cpt.plan.model import parse_count

        if args.list_gpus:
            for name in known_gpus():
                g = get_gpu(name)
                print(f"{name:>10}: {g.peak_bf16_tflops:g} TFLOP/s bf16 dense, {g.memory_gb:g} GB")
                print(f"{'':>12}{g.source}")
            return 0
        kw: dict[str, Any] = kwargs_from_config(args.config) if args.config else {}
        if args.model:
            kw["model"] = args.model
        if "model" not in kw:
            print("error: give --model or --config", file=sys.stderr)
            return 2
        flags = {
            "tokens": args.tokens, "alpha": args.alpha, "seq_len": args.seq_len,
            "checkpointing": args.gradient_checkpointing, "loss_chunk": args.loss_chunk,
            "keep_last": args.keep_last, "keep_best": args.keep_best, "mfu": args.mfu,
            "tflops": args.tflops, "from_run": args.from_run, "price": args.price,
        }  # fmt: skip
        kw.update({k: v for k, v in flags.items() if v is not None})
        plan = estimate(
            manifests=args.manifests,
            epochs=args.epochs,
            gpu=args.gpu,
            gpus=args.gpus,
            attention=not args.no_attention,
            precision=args.precision,
            global_batch_tokens=parse_count(args.global_batch_tokens, "--global-batch-tokens"),
            measure_loader=not args.no_loader_check,
            **kw,
        )
        print(plan.render())
        out = plan.to_dict()
        if args.wall_days is not None:
            mfu = implied_mfu(plan, args.wall_days * 24)
            out["implied_mfu"] = mfu
            print(
                f"implied by {plan.gpus} x {plan.gpu} for {args.wall_days:g} days: MFU {mfu:.1%} "
                f"({mfu * plan.gpu_peak_tflops:.0f} TFLOP/s per GPU; 6ND only: "
                f"{implied_mfu(plan, args.wall_days * 24, attention=False):.1%})"
            )
        if args.json:
            from cpt.evaluate.report import atomic_write_text

            atomic_write_text(args.json, json.dumps(out, indent=2, sort_keys=True) + "\n")
    except CurateError as exc:  # ConfigError / InputError: a user mistake
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
