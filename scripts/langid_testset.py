"""Build the labelled language-id test set (tests/data/langid/manpages.jsonl.zst) from Debian's
translated manual pages; the language is known from the package.

    mkdir x && cd x
    apt-get download manpages manpages-de manpages-fr manpages-es manpages-ru manpages-ja \
        manpages-it manpages-pt-br manpages-pl manpages-nl manpages-cs manpages-uk
    for f in *.deb; do d=$(echo "$f" | sed 's/_.*//'); mkdir -p "$d"; dpkg -x "$f" "$d"; done
    python scripts/langid_testset.py x tests/data/langid/manpages.jsonl.zst

Each page's troff is stripped (``manpages_jsonl.strip_troff``); only prose lines are kept (at
least 6 words, not an option list or a command line), and a document is the first 120 words of
them, kept when it has at least 50 words (Japanese has no spaces: 50 words count as 100
characters). Pages are chosen by a hash of their path (stable), PER_LANG per language. The label
is whatlang's ISO 639-3 code. Every line: {"id", "lang", "text"}.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))
from manpages_jsonl import strip_troff  # noqa: E402

# package -> whatlang code
PACKAGES = {
    "manpages": "eng",
    "manpages-de": "deu",
    "manpages-fr": "fra",
    "manpages-es": "spa",
    "manpages-ru": "rus",
    "manpages-ja": "jpn",
    "manpages-it": "ita",
    "manpages-pt-br": "por",
    "manpages-pl": "pol",
    "manpages-nl": "nld",
    "manpages-cs": "ces",
    "manpages-uk": "ukr",
}
PER_LANG = 40
MAX_WORDS = 120
MIN_WORDS = 50


def words_of(text: str, lang: str) -> int:
    return len(text) // 2 if lang == "jpn" else len(text.split())


def prose(text: str, lang: str) -> str:
    """The page's prose lines, cut to MAX_WORDS words."""
    keep = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("-", "$", "#", "/")) or "(" in line[:1]:
            continue
        if words_of(line, lang) < 6:
            continue
        keep.append(line)
    out = " ".join(keep)
    if lang == "jpn":
        return out[: MAX_WORDS * 2]
    return " ".join(out.split()[:MAX_WORDS])


def main(argv: list[str]) -> int:
    src, dst = Path(argv[0]), Path(argv[1])
    lines = []
    for pkg, lang in PACKAGES.items():
        root = src / pkg / "usr/share/man"
        pages = sorted(root.rglob("*.gz"), key=lambda p: hashlib.sha256(p.as_posix().encode()).digest())
        n = 0
        for page in pages:
            raw = gzip.decompress(page.read_bytes()).decode("utf-8", "replace")
            text = prose(strip_troff(raw), lang)
            if words_of(text, lang) < MIN_WORDS:
                continue
            rel = page.relative_to(root).as_posix()
            lines.append(json.dumps({"id": f"{pkg}/{rel}", "lang": lang, "text": text}, ensure_ascii=False))
            n += 1
            if n == PER_LANG:
                break
        print(f"{pkg}: {n} documents ({lang})")
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode()
    dst.write_bytes(zstandard.ZstdCompressor(level=19).compress(data))
    print(f"{dst}: {len(lines)} documents, {len(data)} bytes, {dst.stat().st_size} compressed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
