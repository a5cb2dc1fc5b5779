"""Turn Debian translated manual pages (troff) into JSONL text for tokenizer measurements.

    apt-get download manpages-ru && dpkg -x manpages-ru_*.deb x
    python scripts/manpages_jsonl.py x/usr/share/man/ru OUT_DIR

Writes OUT_DIR/train.jsonl and OUT_DIR/heldout.jsonl (about 1 page in 10, chosen by a hash of
the page's path, so the split is stable). The troff markup is stripped with a few rules (macros
dropped or reduced to their text, font and character escapes replaced): plain enough text to
measure a tokenizer on, not a faithful renderer.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

# Macros whose arguments are text (section titles, fonts); every other request line is dropped.
TEXT_MACROS = {"SH", "SS", "B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "TP", "IP"}
ESCAPES = {
    r"\-": "-",
    r"\(em": "—",
    r"\(en": "–",
    r"\(aq": "'",
    r"\(dq": '"',
    r"\(lq": "“",
    r"\(rq": "”",
    r"\(bu": "•",
    r"\e": "\\",
    r"\&": "",
    r"\~": " ",
    r"\ ": " ",
    r"\|": "",
    r"\^": "",
    r"\c": "",
}
FONT = re.compile(r"\\f(\(..|\[[^\]]*\]|.)")
OTHER_ESCAPE = re.compile(r"\\(\(..|\*\(..|\*.|s[-+]?\d+|.)")


def strip_troff(src: str) -> str:
    out: list[str] = []
    ignore_until = None  # the line ending an `.ig` block: troff never prints its text
    for line in src.splitlines():
        if ignore_until is not None:
            if line.split(None, 1)[:1] == [ignore_until]:
                ignore_until = None
            continue
        if line.startswith(".ig") and line[3:4] in ("", " ", "\t"):
            ignore_until = "." + (line[3:].split() or ["."])[0]
            continue
        if line.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        line = line.split('\\"', 1)[0]
        if line.startswith((".", "'")):
            parts = line[1:].split(None, 1)
            if not parts or parts[0] not in TEXT_MACROS or len(parts) < 2:
                continue
            line = parts[1].replace('"', "")
        for k, v in ESCAPES.items():
            line = line.replace(k, v)
        line = OTHER_ESCAPE.sub("", FONT.sub("", line))
        out.append(line.strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def main(argv: list[str]) -> int:
    src, dst = Path(argv[0]), Path(argv[1])
    dst.mkdir(parents=True, exist_ok=True)
    files = {"train": [], "heldout": []}
    for page in sorted(src.rglob("*.gz")):
        rel = page.relative_to(src).as_posix()
        text = strip_troff(gzip.decompress(page.read_bytes()).decode("utf-8", "replace"))
        if not text:
            continue
        split = "heldout" if hashlib.sha256(rel.encode()).digest()[0] % 10 == 0 else "train"
        files[split].append(json.dumps({"id": rel, "text": text}, ensure_ascii=False))
    for split, lines in files.items():
        (dst / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines))
        print(f"{split}: {len(lines)} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
