"""``python -m cpt.bench tokenize``: cpt's whole tokenize stage (read, tokenize, compress, write)
against bare Hugging Face ``tokenizers`` ``Tokenizer.encode_batch`` on the same texts, in the same
process, with the same thread count; shard size against one zstd frame of the raw array; and the
throughput of the Python shard reader.

Each timing is the best of ``--repeat`` runs, cpt and the baseline alternating, so load from other
processes hits both alike.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def read_texts(paths: list[str], text_key: str) -> list[str]:
    import zstandard

    texts: list[str] = []
    for p in paths:
        raw = Path(p).read_bytes()
        if raw[:4] == b"\x28\xb5\x2f\xfd":
            raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
        elif raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        texts.extend(json.loads(line)[text_key] for line in raw.splitlines() if line.strip())
    return texts


def best(fn: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m cpt.bench tokenize",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--corpus", nargs="+", required=True, help="JSONL files (.jsonl/.zst/.gz)")
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    ap.add_argument("--text-key", default="text")
    ap.add_argument("--zstd-level", type=int, default=None, help="default: the engine's")
    ap.add_argument("--frame-tokens", type=int, default=None, help="default: the engine's")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    # Both sides get the same number of threads: tokenizers reads these at its first parallel call.
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    import numpy as np
    import zstandard
    from tokenizers import Tokenizer

    from cpt import _engine
    from cpt.data.shards import TokenDataset

    texts = read_texts(args.corpus, args.text_key)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    tok = Tokenizer.from_file(args.tokenizer)
    tok.no_truncation()
    tok.no_padding()
    print(
        f"corpus: {len(texts)} docs, {mb:.1f} MB of text; {args.threads} thread(s); "
        f"best of {args.repeat}",
        file=sys.stderr,
    )

    work = Path(tempfile.mkdtemp(prefix="cpt-bench-tokenize-"))
    try:
        t_base, t_fast, t_cpt = [], [], []
        base_tokens = report = None
        for r in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            encs = tok.encode_batch(texts)
            t_base.append((time.perf_counter() - t0, time.process_time() - c0))
            base_tokens = sum(len(e.ids) for e in encs)
            del encs
            t0, c0 = time.perf_counter(), time.process_time()
            tok.encode_batch_fast(texts)
            t_fast.append((time.perf_counter() - t0, time.process_time() - c0))
            out = work / f"run{r}"
            t0, c0 = time.perf_counter(), time.process_time()
            report = _engine.tokenize(
                args.corpus,
                args.tokenizer,
                str(out),
                threads=args.threads,
                zstd_level=args.zstd_level,
                frame_tokens=args.frame_tokens,
                text_key=args.text_key,
            )
            t_cpt.append((time.perf_counter() - t0, time.process_time() - c0))
            if r + 1 < args.repeat:
                shutil.rmtree(out)
        assert report is not None and base_tokens is not None
        tokens = report["tokens"]
        if report["content_tokens"] != base_tokens:
            print(
                f"MISMATCH: cpt wrote {report['content_tokens']} content tokens, "
                f"encode_batch made {base_tokens}",
                file=sys.stderr,
            )
            return 1

        manifest = Path(report["manifest"])
        ds = TokenDataset(manifest)
        flat = ds.read(0, ds.num_tokens)
        t_one = time.perf_counter()
        one_frame = len(zstandard.ZstdCompressor(level=3).compress(flat.tobytes()))
        t_one = time.perf_counter() - t_one
        shard_bytes = report["shard_bytes"]

        def sequential() -> int:
            fresh = TokenDataset(manifest)
            window, n = 1 << 16, 0
            for start in range(0, fresh.num_tokens, window):
                n += len(fresh.read(start, min(window, fresh.num_tokens - start)))
            return n

        rng = np.random.default_rng(0)
        starts = rng.integers(0, max(1, ds.num_tokens - 2049), size=2000)

        def random_windows() -> int:
            fresh = TokenDataset(manifest, cache_frames=2)  # cold: nearly every read decodes
            return sum(len(fresh.read(int(s), 2049)) for s in starts)

        t_seq, n_seq = best(sequential, args.repeat)
        t_rand, n_rand = best(random_windows, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    (tb, cb), (tf, cf), (tc, cc) = min(t_base), min(t_fast), min(t_cpt)
    figures = {
        "docs": len(texts),
        "text_mb": mb,
        "threads": args.threads,
        "tokens": tokens,
        "encode_batch": {
            "seconds": tb,
            "cpu_seconds": cb,
            "tokens_per_s": base_tokens / tb,
            "mb_per_s": mb / tb,
        },
        "encode_batch_fast": {
            "seconds": tf,
            "cpu_seconds": cf,
            "tokens_per_s": base_tokens / tf,
            "mb_per_s": mb / tf,
        },
        "cpt_stage": {
            "seconds": tc,
            "cpu_seconds": cc,
            "tokens_per_s": tokens / tc,
            "mb_per_s": mb / tc,
        },
        "speedup_vs_encode_batch": tb / tc,
        "speedup_vs_encode_batch_fast": tf / tc,
        "shard_bytes": shard_bytes,
        "one_frame_zstd3_bytes": one_frame,
        "size_ratio_vs_one_frame": shard_bytes / one_frame,
        "one_frame_compress_seconds": t_one,
        "reader_sequential_tokens_per_s": n_seq / t_seq,
        "reader_random_2049_tokens_per_s": n_rand / t_rand,
    }
    rows = [
        ("HF tokenizers encode_batch", tb, cb, base_tokens, "baseline"),
        ("HF tokenizers encode_batch_fast", tf, cf, base_tokens, f"{tb / tf:.2f}x"),
        ("cpt tokenize stage (read+tok+zstd+write)", tc, cc, tokens, f"{tb / tc:.2f}x"),
    ]
    print(f"{'':42}{'wall s':>8}{'cpu s':>8}{'M tok/s':>9}{'MB/s':>7}  vs encode_batch (wall)")
    for name, t, c, n, rel in rows:
        print(f"{name:42}{t:8.2f}{c:8.2f}{n / t / 1e6:9.2f}{mb / t:7.2f}  {rel}")
    print(
        f"shards {shard_bytes / 1e6:.2f} MB vs one zstd-3 frame of the raw "
        f"{flat.dtype.itemsize * 8}-bit array {one_frame / 1e6:.2f} MB: "
        f"{shard_bytes / one_frame:.3f}x"
    )
    print(
        f"reader: sequential {n_seq / t_seq / 1e6:.1f} M tokens/s, random 2049-token windows "
        f"{n_rand / t_rand / 1e6:.1f} M tokens/s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
