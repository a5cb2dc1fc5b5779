"""``python -m cpt.eval``: score a saved model (checkpoint export, final, best or base model).

The same scoring as during training: perplexity on held-out token datasets and lm-eval tasks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cpt.evaluate.config import EvalConfigError
from cpt.evaluate.lmeval import LMEvalError, LMEvaluator
from cpt.evaluate.perplexity import combine, open_heldout, perplexity


def _list(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cpt.eval", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="HF model directory (save_pretrained)")
    p.add_argument(
        "--tasks",
        default="",
        help="comma-separated lm-eval tasks (shipped: "
        "cpt_sotu_text, cpt_license_text, cpt_sotu_continuation, "
        "cpt_license_continuation)",
    )
    p.add_argument("--include-path", action="append", default=[], help="extra task YAML directory")
    p.add_argument(
        "--heldout-domain",
        action="append",
        default=[],
        help="domain token data: manifest.json or raw .bin",
    )
    p.add_argument(
        "--heldout-general",
        action="append",
        default=[],
        help="general token data: manifest.json or raw .bin",
    )
    p.add_argument(
        "--raw-dtype",
        default="uint16",
        choices=["uint16", "uint32"],
        help="token id type of raw .bin held-out files",
    )
    p.add_argument(
        "--tokenizer-hash",
        default=None,
        help="expected tokenizer hash of the manifests (default: not checked)",
    )
    p.add_argument("--limit", type=float, default=None, help="documents per lm-eval task")
    p.add_argument("--ppl-tokens", type=int, default=32768, help="tokens scored per held-out set")
    p.add_argument("--seq-len", type=int, default=512, help="perplexity window (tokens)")
    p.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="lm-eval context length (default: the model's maximum)",
    )
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, default=None, help="also write the scores to this file")
    return p.parse_args(argv)  # fmt: skip


def score(args: argparse.Namespace) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (args.model / "config.json").is_file():
        raise EvalConfigError(f"--model {args.model}: not a model directory (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).to(args.device)
    model.eval()
    metrics: dict[str, float] = {}
    for group, manifests in (("domain", args.heldout_domain), ("general", args.heldout_general)):
        if manifests:
            parts = [
                perplexity(
                    model,
                    open_heldout(Path(m), args.tokenizer_hash, args.raw_dtype),
                    seq_len=args.seq_len,
                    max_tokens=args.ppl_tokens,
                    batch_size=args.batch_size,
                )  # fmt: skip
                for m in manifests
            ]
            metrics[f"ppl/{group}"] = combine(parts).perplexity
    tasks = _list(args.tasks)
    if tasks:
        limit = args.limit
        if limit is not None and limit >= 1:
            limit = int(limit)
        lm = LMEvaluator(
            tasks, include_paths=[Path(p) for p in args.include_path], limit=limit,
            batch_size=args.batch_size, max_length=args.max_length,
        )  # fmt: skip
        metrics.update(lm.evaluate(model, tokenizer).metrics)
    return {"model": str(args.model), "metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.tasks or args.heldout_domain or args.heldout_general):
        print("error: nothing to score: give --tasks and/or --heldout-*", file=sys.stderr)
        return 2
    try:
        result = score(args)
    except (EvalConfigError, LMEvalError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    width = max(len(k) for k in result["metrics"]) if result["metrics"] else 10
    print(f"{'metric':<{width}}  value")
    for name, value in sorted(result["metrics"].items()):
        print(f"{name:<{width}}  {value:.6g}")
    if args.json is not None:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
