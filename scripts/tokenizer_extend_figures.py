"""Figures of vocabulary extension: tokens per document before/after for several merge counts.

    python scripts/tokenizer_extend_figures.py TOKENIZER TRAIN OUT_DIR \
        --eval-domain HELDOUT... --eval-general GENERAL... --merges 500 1000 2000 \
        [--protect GENERAL_REFERENCE... [--protect-exact]] [--min-word-docs K]

Runs ``cpt.tokenizer.extend`` once per merge count and prints one JSON line per run with the
domain and general before/after figures from the extension's own report, and for each general
file (``.jsonl.zst``) its own count of documents whose encoding changed, measured here with the
``tokenizers`` library (base against extended ids) and the words that changed them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tokenizers import Tokenizer

from cpt.demo.corpora import read_jsonl_zst
from cpt.tokenizer import extend

KEYS = (
    "docs",
    "tokens_per_doc_before",
    "tokens_per_doc_after",
    "token_reduction",
    "chars_per_token_before",
    "chars_per_token_after",
    "fertility_before",
    "fertility_after",
    "share_unchanged",
    "round_trip_failures_after",
    "changed_without_new_token",
)


def _ids(tok: Tokenizer, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False).ids


def changed_docs(base: Tokenizer, ext: Tokenizer, path: str) -> dict:
    """Documents of one file whose encoding differs, tokens per document, and the changed words."""
    docs = read_jsonl_zst(Path(path))
    before = after = changed = 0
    words: dict[str, int] = {}
    for doc in docs:
        b, a = _ids(base, doc["text"]), _ids(ext, doc["text"])
        before, after = before + len(b), after + len(a)
        if a == b:
            continue
        changed += 1
        assert base.pre_tokenizer is not None
        for _, (start, end) in base.pre_tokenizer.pre_tokenize_str(doc["text"]):
            word = doc["text"][start:end]
            if _ids(base, word) != _ids(ext, word):
                words[word] = words.get(word, 0) + 1
    n = len(docs)
    return {
        "file": Path(path).name,
        "docs": n,
        "unchanged": n - changed,
        "share_unchanged": round((n - changed) / n, 4) if n else None,
        "tokens_per_doc_before": round(before / n, 1) if n else None,
        "tokens_per_doc_after": round(after / n, 1) if n else None,
        "changed_words": sorted(words, key=lambda w: -words[w])[:10],
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("tokenizer")
    p.add_argument("train", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--eval-domain", nargs="+", required=True)
    p.add_argument("--eval-general", nargs="+", default=None)
    p.add_argument("--protect", nargs="+", default=None)
    p.add_argument("--protect-exact", action="store_true")
    p.add_argument("--min-word-docs", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--merges", nargs="+", type=int, default=[500, 1000, 2000])
    args = p.parse_args(argv)
    for n in args.merges:
        r = extend(
            args.tokenizer,
            args.train,
            Path(args.out) / f"n{n}",
            n,
            eval_domain=args.eval_domain,
            eval_general=args.eval_general,
            protect=args.protect,
            protect_exact=args.protect_exact,
            min_word_docs=args.min_word_docs,
            threads=args.threads,
        )
        row = {
            "new_tokens": r["learned"],
            "seconds": round(r["seconds"], 2),
            "protected_pairs": r["protected_pairs"],
            "words_below_min_docs": r["words_below_min_docs"],
        }
        for part in ("domain", "general"):
            if r.get(part):
                row[part] = {k: r[part][k] for k in KEYS}
        base = Tokenizer.from_file(args.tokenizer)
        ext = Tokenizer.from_file(str(Path(args.out) / f"n{n}" / "tokenizer.json"))
        row["general_files"] = [changed_docs(base, ext, f) for f in args.eval_general or []]
        row["first_tokens"] = [t["text"] for t in r["new_tokens"][:12]]
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
