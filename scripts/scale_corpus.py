"""Build a corpus about ``--copies`` times the shared corpora, for the scale-out figures.

Every document of ``shared/data`` (speeches, licenses, the near-dup set) is written
``--copies`` times: copy 0 as is, each later copy with a deterministic fraction of its words
replaced (``--edit``, default 10 %, so copies are near-duplicates of each other but not exact
ones) and a new id. Output: ``--files`` zstd JSONL files of about equal size, documents spread
round-robin. Usage: ``python scripts/scale_corpus.py --copies 10 --files 8 -o /tmp/scale/in``.
"""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

import zstandard
from tqdm import tqdm

SOURCES = [
    "general/sotu-train.jsonl.zst",
    "domain/licenses-train.jsonl.zst",
    "neardup/docs.jsonl.zst",
]


def docs(shared: Path) -> list[dict]:
    out = []
    for rel in SOURCES:
        raw = zstandard.ZstdDecompressor().stream_reader((shared / rel).open("rb"))
        out += [
            json.loads(line) for line in io.TextIOWrapper(raw, encoding="utf-8") if line.strip()
        ]
    return out


def edited(text: str, rng: random.Random, frac: float) -> str:
    words = text.split(" ")
    for i in range(len(words)):
        if rng.random() < frac:
            words[i] = f"w{rng.randrange(1 << 20):x}"
    return " ".join(words)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--shared", type=Path, default=Path(__file__).parents[2] / "shared/data")
    p.add_argument("--copies", type=int, default=10)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--edit", type=float, default=0.1, help="fraction of words replaced per copy")
    p.add_argument("-o", "--out", type=Path, required=True)
    a = p.parse_args()
    base = docs(a.shared)
    a.out.mkdir(parents=True, exist_ok=True)
    # One compressor per file: a zstd context drives one stream at a time.
    writers = [
        zstandard.ZstdCompressor(level=3).stream_writer(
            (a.out / f"part-{i:03}.jsonl.zst").open("wb")
        )
        for i in range(a.files)
    ]
    n = 0
    for copy in tqdm(range(a.copies), desc="copies"):
        rng = random.Random(copy)
        for j, d in enumerate(base):
            text = d["text"] if copy == 0 else edited(d["text"], rng, a.edit)
            rec = {"id": f"c{copy}-{j}", "source": d.get("source", ""), "text": text}
            writers[n % a.files].write((json.dumps(rec) + "\n").encode())
            n += 1
    for w in writers:
        w.close()
    print(f"{n} documents in {a.files} files under {a.out}")


if __name__ == "__main__":
    main()
