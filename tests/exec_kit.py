"""Shared pieces of the executor tests (``test_exec*.py``): input files cut from the
near-dup corpus, a curation run through the built engine, and the sums compared."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import zstandard


def neardup_lines(shared_data: Path) -> list[str]:
    """The near-dup corpus, one JSON document per item (split at newlines only:
    ``str.splitlines`` also cuts at U+2028 inside JSON strings)."""
    raw = zstandard.ZstdDecompressor().stream_reader(
        (shared_data / "neardup/docs.jsonl.zst").open("rb")
    )
    return [x for x in io.TextIOWrapper(raw, encoding="utf-8").read().split("\n") if x]


def write_inputs(d: Path, files: list[list[str]]) -> Path:
    """``d/in0.jsonl``, ``d/in1.jsonl``, ...: one file per list of lines."""
    d.mkdir()
    for i, lines in enumerate(files):
        (d / f"in{i}.jsonl").write_text("\n".join(lines) + "\n")
    return d


def four_inputs(shared_data: Path, d: Path) -> Path:
    """The first 400 documents over 4 files of 100."""
    lines = neardup_lines(shared_data)[:400]
    return write_inputs(d, [lines[i * 100 : (i + 1) * 100] for i in range(4)])


def curate_command() -> list[str]:
    # CPT_CURATE_BIN: a built cpt-curate binary (as the workers use), else the Python face.
    exe = os.environ.get("CPT_CURATE_BIN")
    return [exe] if exe else [sys.executable, "-m", "cpt.curate"]


def run_curate(
    inp: Path, out: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [*curate_command(), "run", "-q", "-i", str(inp), "-o", str(out)]
    cmd += ["--set", "shard_max_bytes=100000", *extra]
    e = {**os.environ, "CPT_PYTHON": sys.executable, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=e)


def kept_rejected_sums(out: Path) -> dict[str, str]:
    """sha256 of every kept and rejected file, by name (more than 4 of them)."""
    files = sorted(p for sub in ("kept", "rejected") for p in (out / sub).iterdir())
    assert len(files) > 4
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
