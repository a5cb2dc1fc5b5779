"""The attribute files beside a curated run's kept shards (the agreed format): for every
``kept/NAME.jsonl.zst`` a ``attributes/NAME.jsonl.zst`` with one line per kept document, in
the same order, ``{"id": "<doc id>", "attributes": {"<name>": <number or string>, ...}}``.

Reading checks alignment (same number of lines, same ids in the same order) and every
problem is an :class:`AttributesError` naming the file and line. Writing goes to a hidden
temp name that is renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import zstandard

KEPT = "kept"
ATTRIBUTES = "attributes"


class AttributesError(ValueError):
    """An attribute file that is malformed or does not align with its kept shard."""


def kept_shards(run_dir: Path) -> list[Path]:
    """The kept shards of a finished run, as paths relative to ``run_dir/kept`` (sorted)."""
    kept = run_dir / KEPT
    if not kept.is_dir():
        raise AttributesError(
            f"{run_dir}: no {KEPT}/ directory (is this the output of `cpt-curate run`?)"
        )
    return sorted(
        p.relative_to(kept) for p in kept.rglob("*.jsonl.zst") if not p.name.startswith(".")
    )


def attribute_path(run_dir: Path, rel: Path) -> Path:
    return run_dir / ATTRIBUTES / rel


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with open(path, "rb") as f:
            reader = zstandard.ZstdDecompressor().stream_reader(f)
            text = io.TextIOWrapper(reader, encoding="utf-8")
            for number, line in enumerate(text, 1):
                if line.strip():
                    yield number, line
    except (zstandard.ZstdError, UnicodeDecodeError) as e:
        raise AttributesError(f"{path}: not a readable .jsonl.zst file: {e}") from e


def read_docs(path: Path, text_key: str = "text") -> list[tuple[str, str]]:
    """(id, text) of every document of a kept shard, in order."""
    out = []
    for number, line in _lines(path):
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            raise AttributesError(f"{path}:{number}: malformed JSON: {e}") from e
        if not isinstance(doc, dict) or not isinstance(doc.get(text_key), str):
            raise AttributesError(f"{path}:{number}: no string field {text_key!r}")
        doc_id = doc.get("id")
        if doc_id is None:
            raise AttributesError(f"{path}:{number}: no id (kept shards always carry one)")
        out.append((doc_id if isinstance(doc_id, str) else json.dumps(doc_id), doc[text_key]))
    return out


def read_attributes(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(id, attributes) of every line of an attribute file."""
    out = []
    for number, line in _lines(path):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise AttributesError(f"{path}:{number}: malformed JSON: {e}") from e
        if (
            not isinstance(rec, dict)
            or not isinstance(rec.get("id"), str)
            or not isinstance(rec.get("attributes"), dict)
        ):
            raise AttributesError(f'{path}:{number}: expected {{"id": str, "attributes": {{...}}}}')
        out.append((rec["id"], rec["attributes"]))
    return out


def merge_attributes(
    path: Path, ids: Sequence[str], name: str, values: Sequence[Any], kept: Path | None = None
) -> None:
    """Set attribute ``name`` of every document in ``path`` (created when missing; other
    names kept when it exists). ``ids`` are the kept shard's ids in order; an existing file
    must hold exactly those ids in that order, else :class:`AttributesError` naming it."""
    if len(ids) != len(values):
        raise ValueError(f"{len(ids)} ids but {len(values)} values")
    if path.exists():
        old = read_attributes(path)
        if len(old) != len(ids):
            raise AttributesError(
                f"{path}: {len(old)} attribute lines but {len(ids)} documents in "
                f"{kept or 'its kept shard'}: the files do not align"
            )
        for i, ((old_id, _), new_id) in enumerate(zip(old, ids), 1):
            if old_id != new_id:
                raise AttributesError(
                    f"{path}:{i}: id {old_id!r} but the kept shard's document {i} is "
                    f"{new_id!r}: the files do not align"
                )
        records = [(i, {**a, name: v}) for (i, a), v in zip(old, values)]
    else:
        records = [(i, {name: v}) for i, v in zip(ids, values)]
    body = "".join(
        json.dumps({"id": i, "attributes": a}, ensure_ascii=False, allow_nan=False) + "\n"
        for i, a in records
    ).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(zstandard.ZstdCompressor(level=3).compress(body))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
