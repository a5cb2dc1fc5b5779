"""The curation benchmark corpus: ~1.3 KB documents built from the shared corpora.

Every non-empty line of ``../shared/data/{general,domain}/*-train.jsonl.zst`` (State of
the Union speeches and license texts, ~25 MB) is shuffled with a seeded RNG, once per
round, and consecutive lines are packed into documents of at least ``DOC_BYTES`` bytes.
Each round mixes the lines differently, so rounds do not repeat documents; the corpus is
deterministic for a given size, and written once (atomically) per directory.
"""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path

import zstandard

DOC_BYTES = 1300
FILES = 4
SOURCES = ("general/sotu-train.jsonl.zst", "domain/licenses-train.jsonl.zst")


def shared_data() -> Path:
    """``../shared/data`` beside the repository root (the tests' convention)."""
    root = Path(__file__).resolve().parents[2]
    path = root.parent / "shared" / "data"
    if not path.is_dir():
        raise FileNotFoundError(f"shared data not found at {path} (see DESIGN.md)")
    return path


def _lines() -> list[str]:
    out: list[str] = []
    for rel in SOURCES:
        path = shared_data() / rel
        with path.open("rb") as f:
            text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), "utf-8")
            for n, raw in enumerate(text, 1):
                try:
                    doc = json.loads(raw)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: {e}") from e
                out.extend(line for line in doc["text"].split("\n") if line.strip())
    return out


def build(directory: Path, megabytes: int) -> list[Path]:
    """The corpus files in ``directory`` (built when missing); ``megabytes`` of JSONL."""
    directory = directory / f"docs-{megabytes}mb"
    paths = [directory / f"part-{i}.jsonl" for i in range(FILES)]
    if all(p.is_file() for p in paths):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    lines = _lines()
    target = megabytes * 1_000_000
    per_file = target // FILES
    n = 0
    rounds = 0
    for path in paths:
        tmp = path.with_name(f".{path.name}.tmp")
        written = 0
        with tmp.open("w", encoding="utf-8") as f:
            while written < per_file:
                rng = random.Random(rounds)
                rounds += 1
                order = list(range(len(lines)))
                rng.shuffle(order)
                doc: list[str] = []
                size = 0
                for i in order:
                    doc.append(lines[i])
                    size += len(lines[i]) + 1
                    if size >= DOC_BYTES:
                        n += 1
                        row = json.dumps({"id": f"d{n}", "text": "\n".join(doc)})
                        f.write(row + "\n")
                        written += len(row) + 1
                        doc, size = [], 0
                        if written >= per_file:
                            break
        os.replace(tmp, path)
    return paths
