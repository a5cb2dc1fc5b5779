"""``python -m cpt.tokenizer``: extend a tokenizer with domain merges, resize a model to it.

    python -m cpt.tokenizer extend --tokenizer tokenizer.json -i corpus.jsonl.zst \
        --new-tokens 1000 -o extended/ [--eval-domain ...] [--eval-general ...]
    python -m cpt.tokenizer resize --model MODEL_DIR --tokenizer extended/ -o MODEL_OUT \
        [--init subtoken|mean|random] [--pad-to-multiple-of 64]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from cpt import _engine
from cpt.tokenizer.extend import extend
from cpt.tokenizer.resize import INIT_MODES, ResizeError, resize

_SUMMARY_STATS = ("tokens_per_doc_before", "tokens_per_doc_after", "share_unchanged")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cpt.tokenizer", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("extend", help="learn new BPE merges from a domain corpus")
    e.add_argument("--tokenizer", "-t", required=True, help="base tokenizer.json (byte-level BPE)")
    e.add_argument("--input", "-i", nargs="+", required=True, help="domain JSONL files/dirs/globs")
    e.add_argument("--new-tokens", type=int, required=True, help="how many new tokens to learn")
    e.add_argument("--output", "-o", required=True, help="output directory")
    e.add_argument("--min-frequency", type=int, default=None, help="least pair count (default 2)")
    e.add_argument("--eval-domain", nargs="+", default=None, help="held-out domain documents")
    e.add_argument("--eval-general", nargs="+", default=None, help="general documents")
    e.add_argument("--protect", nargs="+", default=None, help="text whose words stay as before")
    e.add_argument("--text-key", default=None, help="JSON field of the text (default: text)")
    e.add_argument("--threads", type=int, default=None, help="worker threads (default: all)")
    e.add_argument("--allow-fewer", action="store_true", help="keep fewer merges than asked")

    r = sub.add_parser("resize", help="resize a model's embeddings to an extended tokenizer")
    r.add_argument("--model", required=True, help="Hugging Face model directory")
    r.add_argument("--tokenizer", required=True, help="extended tokenizer.json or its directory")
    r.add_argument("--output", "-o", required=True, help="output model directory")
    r.add_argument("--init", choices=INIT_MODES, default="subtoken", help="new-row init")
    r.add_argument("--pad-to-multiple-of", type=int, default=None, help="e.g. 64")
    r.add_argument("--base-tokenizer", default=None, help="default: MODEL/tokenizer.json")
    r.add_argument("--seed", type=int, default=0, help="seed of the random init")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "extend":
            report = extend(
                args.tokenizer,
                args.input,
                args.output,
                args.new_tokens,
                min_frequency=args.min_frequency,
                eval_domain=args.eval_domain,
                eval_general=args.eval_general,
                protect=args.protect,
                text_key=args.text_key,
                threads=args.threads,
                allow_fewer=args.allow_fewer,
            )
            summary = {k: report[k] for k in ("output", "requested", "learned", "merges")}
            for part in ("domain", "general"):
                if report.get(part):
                    s = report[part]
                    summary[part] = {k: s[k] for k in _SUMMARY_STATS}
        else:
            summary = resize(
                args.model,
                args.tokenizer,
                args.output,
                init=args.init,
                pad_to_multiple_of=args.pad_to_multiple_of,
                base_tokenizer=args.base_tokenizer,
                seed=args.seed,
            )
    except (ResizeError, _engine.CurateError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
