"""Split the license corpus into sub-sources by license family, one token file per family.

``python -m cpt.mixture.licenses --tokenizer tokenizer.json --out DIR licenses.jsonl.zst`` writes
``DIR/<family>.jsonl`` (the documents, every field kept) and ``DIR/<family>.bin`` (their tokens,
EOS after each document), and prints the ``data.domain`` entries for a recipe. The family comes
from the ScanCode license key in the ``id`` field (``license-<key>``), first rule that matches.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from cpt import CurateError

FAMILIES: list[tuple[str, str]] = [
    ("gpl", r"gpl"),  # GPL, LGPL, AGPL and their exceptions
    ("weak-copyleft", r"(^|-)(mpl|epl|cddl|eupl|cpl|osl)(-|$)"),
    ("apache", r"apache"),
    ("bsd", r"bsd"),
    ("mit", r"(^|-)mit(-|$)|x11"),
    ("creative-commons", r"^cc-"),
    ("proprietary", r"eula|proprietary|commercial|(^|-)tos(-|$)|sla|terms"),
]


def family(doc_id: str) -> str:
    key = doc_id.removeprefix("license-").lower()
    return next((name for name, rule in FAMILIES if re.search(rule, key)), "other")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cpt.mixture.licenses", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("input", type=Path, help="license documents (.jsonl.zst)")
    p.add_argument("--tokenizer", type=Path, required=True, help="tokenizer.json")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--min-docs", type=int, default=20, help="smaller families join 'other'")
    args = p.parse_args(argv)
    try:
        from cpt.data.raw import tokenize_files
        from cpt.data.sources import write_raw_tokens
        from cpt.demo.corpora import read_jsonl_zst
        from cpt.evaluate.report import atomic_write_text

        groups: dict[str, list[dict[str, Any]]] = {}
        for n, rec in enumerate(read_jsonl_zst(args.input), 1):
            doc_id = rec.get("id")
            if not isinstance(doc_id, str):
                raise CurateError(f"{args.input}: record {n} has no string 'id'")
            groups.setdefault(family(doc_id), []).append(rec)
        small = [f for f, recs in groups.items() if len(recs) < args.min_docs and f != "other"]
        for f in small:
            groups.setdefault("other", []).extend(groups.pop(f))
        args.out.mkdir(parents=True, exist_ok=True)
        entries = []
        for name in sorted(groups):
            jsonl = args.out / f"{name}.jsonl"
            # ASCII escapes: cpt.data.raw splits lines with str.splitlines (U+2028 would split)
            text = "".join(json.dumps(r) + "\n" for r in groups[name])
            atomic_write_text(jsonl, text)
            tokens = tokenize_files(args.tokenizer, [jsonl])
            write_raw_tokens(args.out / f"{name}.bin", tokens)
            entries.append({"path": str(args.out / f"{name}.bin"), "format": "raw",
                            "name": name, "weight": 1.0})  # fmt: skip
            print(f"{name:>18}: {len(groups[name]):5d} docs, {tokens.size:9d} tokens")
        print(json.dumps({"domain": entries}))
    except (CurateError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
