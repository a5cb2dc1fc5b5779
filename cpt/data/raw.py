"""Write nanoGPT-style raw token files from JSONL documents (plain, .gz or .zst).

``python -m cpt.data.raw --tokenizer tokenizer.json --output domain.bin docs.jsonl.zst [...]``
tokenizes the ``text`` field of every line with a Hugging Face ``tokenizer.json``, appends EOS after
each document and writes little-endian uint16 (uint32 if the vocabulary needs it) atomically. cpt's
own token shards (``cpt-curate tokenize``) are the main format; this is the simple interop path.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

from cpt import InputError
from cpt.data.sources import write_raw_tokens


def iter_texts(path: Path, limit: int | None = None) -> Iterator[str]:
    """The ``text`` field of each JSONL line; errors name file and line."""
    raw = path.read_bytes()
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    elif raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    count = 0
    for lineno, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            text = json.loads(line)["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            msg = f"{path}:{lineno}: not a JSON object with a 'text' field ({exc})"
            raise InputError(msg) from None
        yield text
        count += 1
        if limit is not None and count >= limit:
            return


def tokenize_files(
    tokenizer_file: Path,
    inputs: list[Path],
    eos_id: int | None = None,
    limit: int | None = None,
    max_chars: int | None = None,
) -> np.ndarray:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_file))
    if eos_id is None:
        from cpt.train.model import EOS_NAMES

        for name in EOS_NAMES:
            eos_id = tok.token_to_id(name)
            if eos_id is not None:
                break
    if eos_id is None:
        raise InputError(f"{tokenizer_file}: no EOS token found; pass --eos-id")
    pieces: list[np.ndarray] = []
    for path in inputs:
        texts = [t[:max_chars] if max_chars else t for t in iter_texts(path, limit)]
        for enc in tok.encode_batch(texts, add_special_tokens=False):
            pieces.append(np.asarray(enc.ids + [eos_id], dtype=np.int64))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m cpt.data.raw",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, help="JSONL files (plain, .gz, .zst)")
    p.add_argument("--tokenizer", required=True, type=Path, help="tokenizer.json")
    p.add_argument("--output", required=True, type=Path, help="output .bin")
    p.add_argument("--eos-id", type=int, default=None, help="EOS id (default: from tokenizer)")
    p.add_argument("--limit", type=int, default=None, help="at most N documents per input")
    args = p.parse_args(argv)
    try:
        tokens = tokenize_files(args.tokenizer, args.inputs, args.eos_id, args.limit)
        dtype = "uint16" if tokens.size == 0 or tokens.max() < 65536 else "uint32"
        write_raw_tokens(args.output, tokens, dtype)
    except (InputError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {tokens.size} tokens ({dtype}) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
