"""Build the small JSONL data of the shipped evaluation tasks from the shared held-out corpora.

Run from a checkout that has ``../shared/data`` (the files it writes are committed and shipped):

    python -m cpt.tasks.build_data --shared ../shared/data

Deterministic: documents are chosen and distractors drawn with a fixed seed, so a rerun on the same
inputs writes byte-identical files.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
from pathlib import Path
from typing import Any

import zstandard

HERE = Path(__file__).resolve().parent
SEED = 20261123
TEXT_CHARS = 2000  # each rolling-loglikelihood passage is cut near this length, at a paragraph end
CONTEXT_WORDS = 48
CONTINUATION_WORDS = 16


def read_jsonl_zst(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        text = io.TextIOWrapper(reader, encoding="utf-8")
        return [json.loads(line) for line in text if line.strip()]


def passage(text: str, limit: int = TEXT_CHARS) -> str:
    """The leading paragraphs of ``text``, stopping once ``limit`` characters are reached."""
    out: list[str] = []
    size = 0
    for para in re.split(r"\n\s*\n", text.strip()):
        para = para.strip()
        if not para:
            continue
        out.append(para)
        size += len(para) + 2
        if size >= limit:
            break
    return "\n\n".join(out)


def words(text: str) -> list[str]:
    return text.split()


def mc_items(
    docs: list[dict[str, Any]], per_doc: int, prefix: str, rng: random.Random
) -> list[dict]:
    """Passage-continuation items: the true next words vs. three spans from other documents."""
    spans: list[tuple[int, list[str], list[str]]] = []  # (doc index, context, continuation)
    for d, doc in enumerate(docs):
        w = words(doc["text"])
        need = CONTEXT_WORDS + CONTINUATION_WORDS
        if len(w) < need + 10:
            continue
        # evenly spaced positions through the document, away from its very start
        for k in range(per_doc):
            start = 5 + (len(w) - need - 5) * k // max(1, per_doc)
            ctx = w[start : start + CONTEXT_WORDS]
            cont = w[start + CONTEXT_WORDS : start + need]
            spans.append((d, ctx, cont))
    items = []
    for i, (d, ctx, cont) in enumerate(spans):
        others = [s for s in spans if s[0] != d]
        distractors = [" ".join(s[2]) for s in rng.sample(others, 3)]
        truth = " ".join(cont)
        label = rng.randrange(4)
        choices = distractors[:label] + [truth] + distractors[label:]
        if len(set(choices)) < 4:
            continue
        items.append(
            {
                "id": f"{prefix}-{i:04d}",
                "source": docs[d]["id"],
                "context": " ".join(ctx),
                "choices": choices,
                "label": label,
            }
        )
    return items


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True, help="the shared/data directory")
    parser.add_argument("--out", type=Path, default=HERE / "data", help="output directory")
    args = parser.parse_args(argv)
    sotu = read_jsonl_zst(args.shared / "general" / "sotu-heldout.jsonl.zst")
    lic = read_jsonl_zst(args.shared / "domain" / "licenses-heldout.jsonl.zst")
    sotu.sort(key=lambda d: d["id"])
    lic.sort(key=lambda d: d["id"])
    # licenses: keep substantial texts only, every third one, so the set stays small
    lic_long = [d for d in lic if len(words(d["text"])) >= 150][::3]
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    write_jsonl(
        args.out / "sotu_text.jsonl",
        [{"id": d["id"], "text": passage(d["text"])} for d in sotu],
    )
    write_jsonl(
        args.out / "license_text.jsonl",
        [{"id": d["id"], "text": passage(d["text"])} for d in lic_long[:40]],
    )
    write_jsonl(args.out / "sotu_continuation.jsonl", mc_items(sotu, 5, "sotu", rng))
    write_jsonl(args.out / "license_continuation.jsonl", mc_items(lic_long, 2, "license", rng))


if __name__ == "__main__":
    main()
