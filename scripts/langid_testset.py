"""Build the labelled language-id test set (tests/data/langid/manpages.jsonl.zst) from Debian's
translated manual pages; the language is known from the package.

    mkdir x && cd x
    apt-get download manpages manpages-dev $ENGLISH_UPSTREAM \
        manpages-de manpages-fr manpages-es manpages-ru manpages-ja \
        manpages-it manpages-pt-br manpages-pl manpages-nl manpages-cs manpages-uk
    for f in *.deb; do dpkg -x "$f" "$(echo "$f" | sed 's/_.*//')"; done
    python scripts/langid_testset.py x tests/data/langid/manpages.jsonl.zst

where $ENGLISH_UPSTREAM is the list ``ENGLISH_UPSTREAM`` below (the packages whose English
pages the translations come from: coreutils, util-linux, ...).

Each page's troff is stripped (``manpages_jsonl.strip_troff``); only prose lines are kept (at
least 6 words, not an option list or a command line), and a document is the first 120 words of
them, kept when it has at least 50 words (Japanese has no spaces: 50 words count as 100
characters). Pages are taken in the order of a hash of their id (package and path inside it),
PER_LANG per language, so a rebuild is byte-identical wherever the packages lie. The label is
whatlang's ISO 639-3 code. Every line: {"id", "lang", "text"}.

A translated package ships a page even when only part of it is translated: po4a leaves the
untranslated paragraphs in English, so a "German" page can be a German title over an English
body, and the package's label is then wrong for the text. The rule, which looks only at the
English original and never at a detector's answer: a translated page is kept only when the
English page of the same file name (``cp.1.gz``) is found in the English packages, and at most
MAX_COPIED (a quarter) of the document's words stand in lines left in English (lines at least
half of whose word trigrams occur in that English page). Pages without an English original are
dropped, as their body cannot be checked; so are links (another name of a page taken) and
repeated texts. Over the first 150 pages of each package that have an original, the copied
share is 0 for 30-90 % of them, under 0.2 for most of the rest (a copyright line, a synopsis
left in English), and spread up to 1.0 over the partly translated ones (Polish, Czech and
Portuguese have most). Dropped before the 40th document taken, per package (Debian bookworm,
manpages-l10n 4.18.1, manpages-ja 0.5.0):

    package          body not translated  no English original  link  under 50 words  repeated
    manpages (eng)                     -                    -     8               7         -
    manpages-de                        0                   20    13               0         0
    manpages-fr                        6                    8    15               0         0
    manpages-es                        7                   19    15               0         0
    manpages-ru                       13                    0    16               0         0
    manpages-ja                        7                   56    13               2         0
    manpages-it                        7                   15    18               1         0
    manpages-pt-br                    14                    6    12               0         0
    manpages-pl                       16                   19    13               0         0
    manpages-nl                        0                    7     3               0         0
    manpages-cs                       12                    7    15               0         2
    manpages-uk                        0                    3     9               0         0
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

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
# Where the English originals of the translated pages live (besides manpages, manpages-dev).
ENGLISH_UPSTREAM = (
    "coreutils util-linux mount fdisk bsdutils bsdextrautils util-linux-extra grep findutils "
    "diffutils tar sed gzip bzip2 procps systemd bash less nano openssh-client passwd login "
    "man-db file ed dpkg apt psmisc e2fsprogs iputils-ping wget kmod sudo cron debianutils "
    "hostname gawk groff-base groff binutils-common binutils-x86-64-linux-gnu"
).split()
PER_LANG = 40
MAX_WORDS = 120
MIN_WORDS = 50
# At most this share of a translated document's words may stand in lines left in English.
MAX_COPIED = 0.25


def words_of(text: str, lang: str) -> int:
    return len(text) // 2 if lang == "jpn" else len(text.split())


def prose_lines(text: str, lang: str) -> list[str]:
    """The page's prose lines, the last one cut so that they hold at most MAX_WORDS words."""
    keep: list[str] = []
    room = MAX_WORDS * 2 if lang == "jpn" else MAX_WORDS
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("-", "$", "#", "/")) or "(" in line[:1]:
            continue
        if words_of(line, lang) < 6:
            continue
        if lang == "jpn":
            line = line[:room]
            room -= len(line) + 1  # the joining space
        else:
            words = line.split()[:room]
            line = " ".join(words)
            room -= len(words)
        keep.append(line)
        if room <= 0:
            break
    return keep


def read_page(path: Path) -> str:
    return strip_troff(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))


def trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def english_originals(src: Path) -> dict[str, Path]:
    """File name (``cp.1.gz``) -> the English page, from the untranslated man directories
    (``usr/share/man/manN``) of every English package extracted under `src`; the first
    found wins, packages in a fixed order."""
    found: dict[str, Path] = {}
    for pkg in ["manpages", "manpages-dev", *ENGLISH_UPSTREAM]:
        root = src / pkg / "usr/share/man"
        if not root.is_dir():
            sys.exit(f"{root}: missing (apt-get download {pkg}; dpkg -x it there)")
        for page in sorted(root.glob("man*/*.gz")):
            if page.exists():  # not a dangling link
                found.setdefault(page.name, page)
    return found


def copied_share(lines: list[str], lang: str, original: Path) -> float:
    """The share of the document's words that stand in lines left in English: lines at least
    half of whose word trigrams occur in the English original."""
    english = trigrams(read_page(original))
    copied = total = 0
    for line in lines:
        grams = trigrams(line)
        n = words_of(line, lang)
        total += n
        if grams and len(grams & english) >= len(grams) / 2:
            copied += n
    return copied / max(total, 1)


def doc_id(pkg: str, root: Path, page: Path) -> str:
    return f"{pkg}/{page.relative_to(root).as_posix()}"


def main(argv: list[str]) -> int:
    src, dst = Path(argv[0]), Path(argv[1])
    originals = english_originals(src)
    out = []
    for pkg, lang in PACKAGES.items():
        root = src / pkg / "usr/share/man"
        # Ordered by a hash of the id (package and path inside it), wherever `src` lies.
        pages = sorted(
            root.rglob("*.gz"), key=lambda p: hashlib.sha256(doc_id(pkg, root, p).encode()).digest()
        )
        dropped: Counter[str] = Counter()
        seen: set[str] = set()
        n = 0
        for page in pages:
            if page.is_symlink():  # another name of a page: its text would repeat
                dropped["link to another page"] += 1
                continue
            lines = prose_lines(read_page(page), lang)
            text = " ".join(lines)
            if words_of(text, lang) < MIN_WORDS:
                dropped["under 50 words"] += 1
                continue
            if text in seen:
                dropped["same text as a page taken"] += 1
                continue
            if lang != "eng":
                original = originals.get(page.name)
                if original is None:
                    dropped["no English original"] += 1
                    continue
                if copied_share(lines, lang, original) > MAX_COPIED:
                    dropped["body not translated"] += 1
                    continue
            seen.add(text)
            out.append(
                json.dumps(
                    {"id": doc_id(pkg, root, page), "lang": lang, "text": text}, ensure_ascii=False
                )
            )
            n += 1
            if n == PER_LANG:
                break
        print(
            f"{pkg}: {n} documents ({lang}); "
            f"dropped before the {PER_LANG}th: {dict(sorted(dropped.items()))}"
        )
    import zstandard

    dst.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in out).encode()
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(zstandard.ZstdCompressor(level=19).compress(data))
    tmp.replace(dst)
    print(f"{dst}: {len(out)} documents, {len(data)} bytes, {dst.stat().st_size} compressed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
