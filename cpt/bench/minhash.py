"""``python -m cpt.bench minhash``: near-duplicate removal, cpt against rensa and datasketch.

Every tool goes from the same raw JSONL (plain or .zst/.gz) to its kept set with word
5-gram shingles, 128 permutations and threshold 0.8, each in its own subprocess so that
peak memory (ru_maxrss) is its own. rensa and datasketch read and shingle in Python
(lowercased ``\\w+`` words), as their users do; cpt does everything in Rust.

``--gate X`` is the performance gate of the test command: cpt (1 thread) and rensa run
interleaved on the same slice (``--quick``: the first 2,000 documents, 3 rounds), and the
exit code is 1 when cpt's throughput in CPU seconds (the best round of each) is below
X times rensa's. CPU time, not wall time: on a shared machine a process waiting for a core
loses wall time but not CPU time, so the ratio moves less with the load.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

TOOLS = ("cpt", "rensa", "datasketch")
WORD = re.compile(r"\w+")


def _lines(path: Path) -> Iterator[bytes]:
    """Every non-blank JSONL line, decompressed."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(open(path, "rb")).read()
    elif magic[:2] == b"\x1f\x8b":
        data = gzip.decompress(path.read_bytes())
    else:
        data = path.read_bytes()
    for line in data.splitlines():
        if line.strip():
            yield line


def _open_text(path: Path) -> Iterator[str]:
    """The `text` of every non-blank JSONL line."""
    for line in _lines(path):
        yield json.loads(line)["text"]


def _shingles(text: str, n: int = 5) -> list[str]:
    words = WORD.findall(text.lower())
    if len(words) < n:
        return [" ".join(words)] if words else []
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def _run_cpt(path: Path, threads: int) -> tuple[int, int]:
    from cpt.minhash import dedup_jsonl

    res = dedup_jsonl(path, threshold=0.8, num_perm=128, ngram=5, threads=threads)
    return len(res.duplicate_of), len(res.kept)


def _run_rensa(path: Path, threads: int) -> tuple[int, int]:
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16)
    n = kept = 0
    for i, text in enumerate(_open_text(path)):
        m = RMinHash(num_perm=128, seed=42)
        m.update(_shingles(text))
        if not lsh.query(m):
            kept += 1
        lsh.insert(i, m)
        n += 1
    return n, kept


def _run_datasketch(path: Path, threads: int) -> tuple[int, int]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    n = kept = 0
    for i, text in enumerate(_open_text(path)):
        m = MinHash(num_perm=128, seed=42)
        m.update_batch([s.encode("utf-8") for s in _shingles(text)])
        if not lsh.query(m):
            kept += 1
        lsh.insert(str(i), m)
        n += 1
    return n, kept


IMPORTS = {"cpt": "cpt.minhash", "rensa": "rensa", "datasketch": "datasketch"}
RUNNERS: dict[str, Callable[[Path, int], tuple[int, int]]] = {
    "cpt": _run_cpt,
    "rensa": _run_rensa,
    "datasketch": _run_datasketch,
}


def _child(tool: str, corpus: Path, threads: int) -> int:
    """Run one tool and print its figures as JSON (the parent reads the last line)."""
    __import__(IMPORTS[tool])  # imports are not part of the measured work
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    docs, kept = RUNNERS[tool](corpus, threads)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        json.dumps(
            {
                "tool": tool,
                "docs": docs,
                "kept": kept,
                "seconds": wall,
                "cpu_seconds": cpu,
                "peak_rss_mb": after.ru_maxrss / 1024,
            }
        )
    )
    return 0


def _available(tool: str) -> bool:
    if tool == "cpt":
        return True
    try:
        __import__(tool)
    except ImportError:
        return False
    return True


def _measure(tool: str, corpus: Path, threads: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "cpt.bench.minhash",
        "--child",
        tool,
        "--corpus",
        str(corpus),
        "--threads",
        str(threads),
    ]
    # numpy's OpenBLAS starts one spinning thread per core at import; none of the tools
    # calls BLAS, and the spinning would steal a core from the measured work.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _text_bytes(corpus: Path) -> int:
    return sum(len(t.encode("utf-8")) for t in _open_text(corpus))


QUICK_DOCS = 2000
QUICK_REPEAT = 3


def _slice(corpus: Path, docs: int | None, dest: Path) -> Path:
    """The first `docs` records of `corpus` as plain JSONL (every tool reads the same bytes)."""
    with open(dest, "wb") as f:
        for i, line in enumerate(_lines(corpus)):
            if docs is not None and i >= docs:
                break
            f.write(line + b"\n")
    return dest


def gate(corpus: Path, minimum: float, docs: int | None, repeat: int) -> int:
    """Fail (1) when cpt's CPU-time throughput is below `minimum` x rensa's on a slice."""
    if not _available("rensa"):
        print(
            "gate: rensa is not installed (pip install '.[dev]'): cannot compare", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="cpt-gate-") as tmp:
        part = _slice(corpus, docs, Path(tmp) / "slice.jsonl")
        mb = _text_bytes(part) / 1e6
        best: dict[str, dict[str, Any]] = {}
        # Rounds alternate the tools, so a change in the machine's load hits both alike.
        for _ in range(max(repeat, 1)):
            for tool in ("cpt", "rensa"):
                r = _measure(tool, part, 1)
                if tool not in best or r["cpu_seconds"] < best[tool]["cpu_seconds"]:
                    best[tool] = r
    cpt, rensa = best["cpt"], best["rensa"]
    if cpt["docs"] != rensa["docs"]:
        print(f"gate: cpt read {cpt['docs']} docs, rensa {rensa['docs']}", file=sys.stderr)
        return 1
    ratio = rensa["cpu_seconds"] / max(cpt["cpu_seconds"], 1e-9)
    wall = rensa["seconds"] / max(cpt["seconds"], 1e-9)
    verdict = "ok" if ratio >= minimum else "FAILED"
    print(
        f"gate {verdict}: {cpt['docs']} docs, {mb:.1f} MB, best of {max(repeat, 1)}: "
        f"cpt {mb / max(cpt['cpu_seconds'], 1e-9):.1f} MB/cpu-s, "
        f"rensa {mb / max(rensa['cpu_seconds'], 1e-9):.1f} MB/cpu-s: "
        f"{ratio:.1f}x (need {minimum}x; wall {wall:.1f}x); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return 0 if ratio >= minimum else 1


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m cpt.bench minhash",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--corpus", type=Path, required=True, help="JSONL with a `text` field (.zst/.gz ok)"
    )
    ap.add_argument(
        "--threads",
        default="1",
        help="threads for cpt, or a list such as 1,2 to measure its scaling "
        "(the other tools are single-threaded and run once)",
    )
    ap.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated subset of cpt,rensa,datasketch"
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="run each tool this many times, report the fastest"
    )
    ap.add_argument(
        "--gate",
        type=float,
        metavar="X",
        help="fail unless cpt (1 thread) is at least X times rensa's throughput (CPU time)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"with --gate: the first {QUICK_DOCS} documents, {QUICK_REPEAT} rounds",
    )
    ap.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.corpus.is_file():
        print(f"error: corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    try:
        thread_counts = [int(t) for t in str(args.threads).split(",") if t]
    except ValueError:
        print(f"error: --threads takes integers like 1 or 1,2: {args.threads!r}", file=sys.stderr)
        return 2
    if not thread_counts or min(thread_counts) < 0:
        print(f"error: --threads must be integers >= 0: {args.threads!r}", file=sys.stderr)
        return 2
    if args.child:
        return _child(args.child, args.corpus, thread_counts[0])
    if args.gate is not None:
        if args.gate <= 0:
            print(f"error: --gate must be > 0, got {args.gate}", file=sys.stderr)
            return 2
        docs, repeat = (QUICK_DOCS, QUICK_REPEAT) if args.quick else (None, args.repeat)
        return gate(args.corpus, args.gate, docs, repeat)
    if args.quick:
        print("error: --quick goes with --gate", file=sys.stderr)
        return 2

    tools = [t for t in args.tools.split(",") if t]
    for t in tools:
        if t not in TOOLS:
            print(f"error: unknown tool {t!r} (choose from {', '.join(TOOLS)})", file=sys.stderr)
            return 2
    mb = _text_bytes(args.corpus) / 1e6
    print(
        f"corpus {args.corpus}: {mb:.1f} MB of text; word 5-grams, 128 permutations, "
        f"threshold 0.8; cpt threads {','.join(map(str, thread_counts))}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    # (label, tool, threads); cpt once per thread count, the others once.
    runs = [
        (f"cpt x{t}" if len(thread_counts) > 1 else "cpt", "cpt", t)
        for t in (thread_counts if "cpt" in tools else [])
    ] + [(tool, tool, 1) for tool in tools if tool != "cpt"]
    for label, tool, _ in list(runs):
        if not _available(tool):
            print(f"  {tool:<11} not installed: skipped")
            runs.remove((label, tool, _))
    # Repeats go round all configurations (so drift in the machine's load hits each
    # alike); the fastest run of each counts.
    results: dict[str, dict[str, Any]] = {}
    for _ in range(max(args.repeat, 1)):
        for label, tool, threads in runs:
            r = _measure(tool, args.corpus, threads)
            if label not in results or r["seconds"] < results[label]["seconds"]:
                results[label] = r
    cols = ("tool", "docs", "kept", "seconds", "docs/s", "MB/s", "MB/cpu-s", "peak MB")
    print("  " + f"{cols[0]:<11}" + "".join(f"{c:>10}" for c in cols[1:]))
    for label, r in results.items():
        row = (
            r["docs"],
            r["kept"],
            f"{r['seconds']:.2f}",
            f"{r['docs'] / r['seconds']:.0f}",
            f"{mb / r['seconds']:.1f}",
            f"{mb / max(r['cpu_seconds'], 1e-9):.1f}",
            f"{r['peak_rss_mb']:.0f}",
        )
        print("  " + f"{label:<11}" + "".join(f"{v:>10}" for v in row))
    cpt_labels = [label for label, tool, _ in runs if tool == "cpt" and label in results]
    if not cpt_labels:
        return 0
    base_label = cpt_labels[0]
    base = results[base_label]
    for label, r in results.items():
        if label in cpt_labels:
            if label != base_label:
                print(f"  {label} vs {base_label}: {base['seconds'] / r['seconds']:.2f}x faster")
            continue
        print(
            f"  {base_label} vs {label}: {r['seconds'] / base['seconds']:.1f}x faster (wall), "
            f"{r['cpu_seconds'] / max(base['cpu_seconds'], 1e-9):.1f}x less CPU, "
            f"peak memory {r['peak_rss_mb'] / base['peak_rss_mb']:.2f}x cpt's"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
