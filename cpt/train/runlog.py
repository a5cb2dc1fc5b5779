"""Keep ``log.jsonl`` honest across a resume: every step appears once.

A checkpoint records the log's length and a hash of its content at that moment (the *mark*).
A run killed later has logged steps that the resumed run trains again; on resume the log is cut
back to the mark (atomically: the kept prefix is written to a temp file and renamed over it), so
the replayed steps are logged once, by the run that trains them for good. A log that does not
start with the marked content (edited, or another run's) is left alone and said so.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

LOG_NAME = "log.jsonl"


def _prefix_hash(path: Path, length: int) -> str | None:
    """sha256 of the first ``length`` bytes, or None if the file is shorter."""
    h = hashlib.sha256()
    left = length
    with open(path, "rb") as fh:
        while left:
            block = fh.read(min(left, 1 << 20))
            if not block:
                return None
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def log_mark(path: Path) -> dict[str, Any]:
    """The mark to store in a checkpoint: the log's current length and content hash."""
    size = path.stat().st_size if path.is_file() else 0
    return {"bytes": size, "sha256": _prefix_hash(path, size) if size else None}


def trim_log(path: Path, mark: Any) -> tuple[int, str]:
    """Cut ``path`` back to ``mark``; returns (records removed, what happened)."""
    if not isinstance(mark, dict) or not isinstance(mark.get("bytes"), int):
        return 0, "checkpoint has no log mark; log not trimmed"
    if not path.is_file():
        return 0, "no log to trim"
    length = mark["bytes"]
    size = path.stat().st_size
    if size < length or (length and _prefix_hash(path, length) != mark.get("sha256")):
        return 0, "log does not match the checkpoint's mark (edited, or another run's); kept as is"
    if size == length:
        return 0, "nothing to trim"
    with open(path, "rb") as fh:
        kept = fh.read(length)
        removed = fh.read().count(b"\n")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(kept)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return removed, f"removed {removed} records logged after the checkpoint"
