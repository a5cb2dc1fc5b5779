"""``python -m cpt.bench curate``: docs/s and MB/s per stage of the curation pipeline.

Runs the engine on a corpus (file, directory or glob) into a scratch directory and prints
the per-stage throughput from the job's report (uncompressed document bytes per second;
the near_dedup stage counts the documents it clusters, i.e. the survivors of the filters).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

from cpt import curate


def _table(report: dict[str, Any]) -> str:
    rows = [f"{'stage':<10} {'seconds':>9} {'docs/s':>12} {'MB/s':>9}"]
    for stage in ("scan", "decide", "near_dedup", "write"):
        t = report["timings"].get(stage)
        if t is None:  # near_dedup is absent when minhash.enabled is false
            continue
        rows.append(
            f"{stage:<10} {t['seconds']:>9.3f} {t['docs_per_s']:>12.0f} {t['mb_per_s']:>9.1f}"
        )
    total = report["timings"]["total_seconds"]
    mb = report["input_bytes"] / 1e6
    docs_s = report["input_docs"] / total
    rows.append(f"{'total':<10} {total:>9.3f} {docs_s:>12.0f} {mb / total:>9.1f}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cpt.bench curate", description=__doc__)
    p.add_argument(
        "--corpus",
        required=True,
        action="append",
        help="input file, directory or glob (repeatable)",
    )
    p.add_argument("--threads", type=int, default=0, help="worker threads (0 = all cores)")
    p.add_argument("--output", help="output directory (default: a temporary one)")
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop on malformed lines (default: count them, as lenient mode does)",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config override, e.g. filters.length.min_words=100",
    )
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cpt-bench-curate-") as tmp:
        out = Path(args.output) if args.output else Path(tmp) / "out"
        report = curate.run(
            args.corpus,
            out,
            threads=args.threads,
            lenient=not args.strict,
            sets=args.sets,
            overwrite=True,
            quiet=True,
        )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"corpus: {', '.join(args.corpus)}: {len(report['inputs'])} files, "
        f"{report['input_docs']} docs, {report['input_bytes'] / 1e6:.1f} MB uncompressed; "
        f"threads {report['threads']}"
    )
    print(
        f"kept {report['kept_docs']}, rejected "
        + ", ".join(f"{k} {v['docs']}" for k, v in report["rejected"].items())
    )
    near = report.get("near_dedup")
    if near:
        plan, st = near["plan"], near["stats"]
        print(
            f"near-dup: {plan['bands']} bands x {plan['rows']} rows, check {st['check']}, "
            f"{st['candidate_pairs']} candidate pairs, {st['clusters']} clusters, "
            f"{st['duplicates']} removed, {st['index_bytes_per_doc']:.0f} index B/doc"
        )
    print(_table(report))
    return 0
