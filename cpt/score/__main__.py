"""``python -m cpt.score perplexity --model HF_DIR --input RUN_DIR``: reference-model
perplexity of a curated run's kept documents, merged into its attribute files."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cpt.score", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    pp = sub.add_parser(
        "perplexity",
        help="score kept documents with a Hugging Face causal LM (attribute ref_ppl)",
    )
    pp.add_argument("--model", required=True, help="Hugging Face model directory")
    pp.add_argument("--input", required=True, help="output directory of `cpt-curate run`")
    pp.add_argument("--name", default="ref_ppl", help="attribute name (default ref_ppl)")
    pp.add_argument("--batch-size", type=int, default=8)
    pp.add_argument("--max-tokens", type=int, default=512, help="truncation window in tokens")
    pp.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto)")
    pp.add_argument("--dtype", default=None, help="float32 (default), bfloat16, float16")
    pp.add_argument("--text-key", default="text")
    pp.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    args = p.parse_args(argv)
    from cpt.score.attributes import AttributesError
    from cpt.score.perplexity import score_perplexity

    try:
        summary = score_perplexity(
            args.model,
            args.input,
            name=args.name,
            batch_size=args.batch_size,
            max_tokens=args.max_tokens,
            device=args.device,
            dtype=args.dtype,
            text_key=args.text_key,
            progress=not args.quiet,
        )
    except (AttributesError, FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
