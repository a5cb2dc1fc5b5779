"""``python -m cpt.bench curate``: docs/s and MB/s per stage of the curation pipeline.

Runs the engine on a corpus (file, directory or glob) into a scratch directory and prints
the per-stage throughput from the job's report (uncompressed document bytes per second;
the near_dedup stage counts the documents it clusters, i.e. the survivors of the filters).

``--make-corpus DIR`` builds a benchmark corpus of ~1.3 KB documents from the shared
corpora (see ``cpt.bench.curate_corpus``). ``--binary`` / ``--baseline-binary`` run two
``cpt-curate`` executables side by side, interleaved, on the same corpus and config (a
before/after comparison in one run); ``--datatrove`` adds datatrove's equivalent pipeline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any, Sequence

from cpt.bench import curate_corpus, curate_run


def _table(report: dict[str, Any]) -> str:
    rows = [f"{'stage':<10} {'seconds':>9} {'docs/s':>12} {'MB/s':>9}"]
    for stage in ("scan", "decide", "near_dedup", "write", "tokenize"):
        t = report["timings"].get(stage)
        if t is None:  # near_dedup / tokenize are absent when off
            continue
        rows.append(
            f"{stage:<10} {t['seconds']:>9.3f} {t['docs_per_s']:>12.0f} {t['mb_per_s']:>9.1f}"
        )
    total = report["timings"]["total_seconds"]
    mb = report["input_bytes"] / 1e6
    docs_s = report["input_docs"] / total
    rows.append(f"{'total':<10} {total:>9.3f} {docs_s:>12.0f} {mb / total:>9.1f}")
    return "\n".join(rows)


def _describe(corpus: list[str], report: dict[str, Any]) -> None:
    print(
        f"corpus: {', '.join(corpus)}: {len(report['inputs'])} files, "
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


def _compare(args: argparse.Namespace, tmp: Path) -> int:
    """Interleaved repeats of two binaries; the median scan MB/s and job CPU of each."""
    tools = {"baseline": args.baseline_binary, "current": args.binary}
    runs: dict[str, list[curate_run.Run]] = {name: [] for name in tools}
    for i in range(args.repeat):
        for name, binary in tools.items():
            out = tmp / f"{name}-{i}"
            runs[name].append(
                curate_run.run_binary(binary, args.corpus, out, args.threads, args.sets)
            )
    first = runs["current"][0].report
    _describe(args.corpus, first)
    same = runs["baseline"][0].outputs == runs["current"][0].outputs
    print(f"kept/rejected shards identical between the two binaries: {same}")
    mb = first["input_bytes"] / 1e6
    print(
        f"{'binary':<9} {'scan MB/s':>10} {'scan MB/CPU-s':>14} {'scan CPU s':>11} "
        f"{'job CPU s':>10} {'total MB/s':>11}  path"
    )
    med: dict[str, float] = {}
    cpu_rate: dict[str, float] = {}
    for name, binary in tools.items():
        scan = statistics.median(r.scan_mb_s for r in runs[name])
        scan_cpu = statistics.median(r.scan_cpu_seconds for r in runs[name])
        total = statistics.median(r.total_mb_s for r in runs[name])
        cpu = statistics.median(r.cpu_seconds for r in runs[name])
        med[name] = scan
        cpu_rate[name] = mb / scan_cpu
        print(
            f"{name:<9} {scan:>10.1f} {mb / scan_cpu:>14.1f} {scan_cpu:>11.2f} "
            f"{cpu:>10.2f} {total:>11.1f}  {binary}"
        )
    print(
        f"scan speed-up current / baseline: {med['current'] / med['baseline']:.2f}x wall, "
        f"{cpu_rate['current'] / cpu_rate['baseline']:.2f}x CPU (medians of {args.repeat})"
    )
    if args.datatrove:
        _datatrove(args, tmp, cpu_rate["current"])
    return 0 if same else 1


def _datatrove(args: argparse.Namespace, tmp: Path, cpt_scan_cpu_rate: float) -> None:
    from cpt.bench import curate_datatrove

    dt = curate_datatrove.run(Path(args.corpus[0]), tmp / "datatrove", args.datatrove_docs)
    rate = dt.mb_per_cpu_s
    print(
        f"datatrove (JsonlReader -> GopherRepetition -> GopherQuality -> PIIFormatter -> "
        f"JsonlWriter), first {dt.docs} docs of {args.corpus[0]}: {dt.seconds:.1f} s wall, "
        f"{dt.cpu_seconds:.1f} s CPU, of which start-up {dt.startup_cpu_seconds:.1f} s (the "
        f"same pipeline on {curate_datatrove.STARTUP_DOCS} doc); {rate:.2f} MB/CPU-s with the "
        f"start-up subtracted ({dt.input_bytes / 1e6 / dt.cpu_seconds:.2f} with it), "
        f"{dt.kept} kept"
    )
    eq = curate_run.run_binary(
        args.binary,
        args.corpus,
        tmp / "cpt-datatrove-config",
        args.threads,
        [*args.sets, "minhash.enabled=false", "exact_dedup.enabled=false"],
    )
    eq_rate = eq.report["input_bytes"] / 1e6 / eq.cpu_seconds
    print(
        f"cpt, same stages (exact and near dedup off), whole job: {eq_rate:.1f} MB/CPU-s "
        f"= {eq_rate / rate:.0f}x datatrove; cpt scan, all stages on: "
        f"{cpt_scan_cpu_rate:.1f} MB/CPU-s = {cpt_scan_cpu_rate / rate:.0f}x"
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cpt.bench curate", description=__doc__)
    p.add_argument("--corpus", action="append", help="input file, directory or glob (repeatable)")
    p.add_argument(
        "--make-corpus",
        type=Path,
        metavar="DIR",
        help="build (once) the ~1.3 KB-document benchmark corpus in DIR and use it",
    )
    p.add_argument("--corpus-mb", type=int, default=250, help="size for --make-corpus")
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
    p.add_argument("--binary", help="cpt-curate executable to run (default: the Python engine)")
    p.add_argument(
        "--baseline-binary",
        help="a second cpt-curate (e.g. main's) run interleaved with --binary for before/after",
    )
    p.add_argument("--repeat", type=int, default=3, help="interleaved repeats per binary")
    p.add_argument(
        "--datatrove",
        action="store_true",
        help="also run datatrove's equivalent pipeline (with --baseline-binary)",
    )
    p.add_argument(
        "--datatrove-docs", type=int, default=10000, help="documents datatrove processes"
    )
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = p.parse_args(argv)
    if args.make_corpus:
        files = curate_corpus.build(args.make_corpus, args.corpus_mb)
        args.corpus = [*(args.corpus or []), *map(str, files)]
    if not args.corpus:
        p.error("give --corpus or --make-corpus")
    if args.baseline_binary and not args.binary:
        p.error("--baseline-binary needs --binary (the build to compare against it)")

    with tempfile.TemporaryDirectory(prefix="cpt-bench-curate-") as tmp:
        if args.baseline_binary:
            return _compare(args, Path(tmp))
        out = Path(args.output) if args.output else Path(tmp) / "out"
        if args.binary:
            report = curate_run.run_binary(
                args.binary, args.corpus, out, args.threads, args.sets
            ).report
        else:
            from cpt import curate

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
    _describe(args.corpus, report)
    print(_table(report))
    return 0
