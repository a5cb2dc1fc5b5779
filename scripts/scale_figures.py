"""The scale-out figures of issue 13, in one command: curate one corpus (``scale_corpus.py``)
with the one-process ``cpt-curate run``, with ``--executor local --tasks 1`` and ``--tasks 2``,
and with ``--executor ray --tasks 2`` on a local Ray cluster of 2 workers; then kill -9 a Ray
worker mid-task, and a submitit-local (Slurm path) task mid-task, and relaunch each.

For every run: wall and CPU seconds (this script's reaped children; for Ray, whose workers
are the raylet's, the sum of the task markers' CPU seconds instead), the CPU seconds per stage
from the markers, the load, docs/s, sha256 of every output file against the
one-process run, each task's peak RSS from its completion marker against ``--mem-per-task``,
and the bytes per input document of each kind of intermediate (``.state/exec``) from the sizes
on disk, with a linear extrapolation to 1 B documents. For the kills: which task was killed
and how far it was, and which tasks the relaunch ran (their markers are new).

    python scripts/scale_figures.py --corpus /tmp/scale/in --work /tmp/scale/runs \\
        --out /tmp/scale/figures.json --mem-per-task 64M --set minhash.verify=true
        # also writes figures.md

Each run's output is deleted once measured, unless ``--keep``. Set ``--binary`` to a release
``cpt-curate`` (else ``python -m cpt.curate`` with this Python's cpt); the remote executors'
workers use the same. The script exits 1 when an output differs or a relaunch fails. The whole
run took about 6 minutes on 2 cores at load 1-3.5 (1.32 GB corpus, the command above,
a release binary).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cpt.exec import jobstate  # noqa: E402


@dataclass
class Runner:
    """How to call cpt-curate, and where the runs go."""

    corpus: Path
    work: Path
    mem_per_task: str
    binary: str | None
    keep: bool
    #: ``--set KEY=VALUE`` config overrides given to every run
    overrides: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    def reference(self) -> dict[str, str]:
        """sha256 of the one-process run's outputs (this invocation's, or a saved one)."""
        if "one_process" not in self.results:
            saved = self.work / "results" / "one_process.json"
            self.results["one_process"] = json.loads(saved.read_text())
        return self.results["one_process"]["_sums"]

    def env(self) -> dict[str, str]:
        env = {"CPT_PYTHON": sys.executable, **os.environ}  # a CPT_PYTHON set wins
        if self.binary:
            env["CPT_CURATE_BIN"] = self.binary
        return env

    def argv(self, out: Path, *extra: str) -> list[str]:
        head = [self.binary] if self.binary else [sys.executable, "-m", "cpt.curate"]
        cmd = [*head, "run", "-q", "-i", str(self.corpus), "-o", str(out)]
        sets = [arg for kv in self.overrides for arg in ("--set", kv)]
        return [*cmd, "--mem-per-task", self.mem_per_task, *sets, *extra]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(runner: Runner, argv: list[str]) -> dict[str, Any]:
    """Run ``argv``; its exit status, wall and CPU seconds, and the load around it."""
    load, cpu, t = os.getloadavg()[0], _cpu(), time.monotonic()
    p = subprocess.run(argv, env=runner.env(), capture_output=True, text=True)
    return {
        "rc": p.returncode,
        "stderr": p.stderr[-2000:],
        "wall_s": round(time.monotonic() - t, 2),
        "cpu_s": round(_cpu() - cpu, 2),
        "load_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
    }


def measure(out: Path, run: dict[str, Any], mem_budget: int) -> None:
    """Add the documents, docs/s, peak RSS per task and intermediate sizes of a finished run."""
    report = json.loads((out / "report.json").read_text())
    docs = report["input_docs"]
    run["documents"] = docs
    run["kept"] = report["kept_docs"]
    run["rejected"] = report["rejected_docs"]
    assert run["kept"] + run["rejected"] == docs, f"{out}: kept + rejected != input"
    run["docs_per_s"] = round(docs / run["wall_s"], 1)
    run["docs_per_cpu_s"] = round(docs / run["cpu_s"], 1) if run["cpu_s"] else None
    marks = jobstate.markers(out)
    if marks:
        rss = {t: m["peak_rss"] for t, m in marks.items()}
        by_stage: dict[str, int] = {}
        cpu_by_stage: dict[str, float] = {}
        for t, m in marks.items():
            stage = jobstate.intermediate_kind(Path(t))
            by_stage[stage] = max(by_stage.get(stage, 0), m["peak_rss"])
            cpu_by_stage[stage] = cpu_by_stage.get(stage, 0.0) + m.get("cpu_seconds", 0.0)
        run["peak_rss_by_stage_mib"] = {s: round(b / 2**20, 1) for s, b in by_stage.items()}
        run["cpu_s_by_stage"] = {s: round(c, 2) for s, c in cpu_by_stage.items()}
        run["task_cpu_s"] = round(sum(cpu_by_stage.values()), 2)
        run["max_task_rss_mib"] = round(max(rss.values()) / 2**20, 1)
        run["under_mem_per_task"] = max(rss.values()) <= mem_budget
    sizes = jobstate.intermediate_bytes(out)
    if sizes:
        run["intermediate_bytes"] = sizes
        run["intermediate_bytes_per_doc"] = {k: round(v / docs, 2) for k, v in sizes.items()}


def finish_run(runner: Runner, name: str, out: Path, run: dict[str, Any], want: dict | None):
    """Measure a finished run, compare its outputs with the one-process run, then clean up."""
    if run["rc"] == 0:
        measure(out, run, parse_bytes(runner.mem_per_task))
        sums = jobstate.output_sums(out)
        run["output_files"] = len(sums)
        if want is not None:
            differ = sorted(k for k in want.keys() | sums.keys() if want.get(k) != sums.get(k))
            run["identical_to_one_process"] = not differ
            run["differing_files"] = differ[:20]
        run["_sums"] = sums
    runner.results[name] = run
    saved = runner.work / "results" / f"{name}.json"
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(json.dumps(run, indent=1) + "\n")
    print(f"{name}: {summary(run)}", flush=True)
    if not runner.keep:
        shutil.rmtree(out, ignore_errors=True)


def summary(run: dict[str, Any]) -> str:
    keys = ("rc", "wall_s", "cpu_s", "docs_per_s", "max_task_rss_mib", "identical_to_one_process")
    return ", ".join(f"{k} {run[k]}" for k in keys if k in run)


def parse_bytes(text: str) -> int:
    """A byte size as the engine reads ``--mem-per-task``: ``64M`` is 64 x 10^6 bytes,
    ``64Mi`` or ``64MiB`` 64 x 2^20."""
    powers = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kmgt]?)(i?)b?\s*", text.lower())
    if not m:
        raise ValueError(f"not a byte size: {text!r}")
    base = 1024 if m[3] else 1000
    return int(float(m[1]) * base ** powers[m[2]])


def kill_mid_task(runner: Runner, out: Path, argv: list[str], task: str, after_s: float):
    """Start ``argv``; once ``task`` has run ``after_s`` seconds, kill -9 it and its launcher
    (``jobstate.kill_task_when``). What was killed, and the run's exit status."""
    p = subprocess.Popen(argv, env=runner.env(), stderr=subprocess.PIPE, text=True)
    seen: list[float] = []

    def ready() -> bool:
        seen.append(time.monotonic())
        return seen[-1] - seen[0] >= after_s

    killed = jobstate.kill_task_when(p, out, task, ready)
    _, err = p.communicate()
    if killed is None:
        raise SystemExit(f"the run ended (rc {p.returncode}) before {task} could be killed: {err}")
    killed["after_s"] = after_s
    killed["marker_at_kill"] = task in killed["markers_at_kill"]
    killed["rc"] = p.returncode
    killed["stderr_tail"] = err.strip().splitlines()[-3:]
    return killed


def kill_and_relaunch(runner: Runner, name: str, extra: list[str], task: str, after_s: float):
    out = runner.work / name
    argv = runner.argv(out, *extra)
    killed = kill_mid_task(runner, out, argv, task, after_s)
    before = jobstate.markers(out)
    run = timed(runner, argv)
    run["killed"] = killed
    run["relaunch_ran"] = jobstate.ran_between(before, jobstate.markers(out))
    run["relaunch_skipped"] = sorted(set(before) - set(run["relaunch_ran"]))
    finish_run(runner, name, out, run, runner.reference())


def markdown(res: dict[str, Any], mem: str) -> str:
    rows = [
        "| run | rc | wall s | CPU s | load (start, end) | docs/s | max task RSS MiB | "
        "same sha256 as one process |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in res["runs"].items():
        same = r.get("identical_to_one_process", "reference")
        cells = [name, r["rc"], r["wall_s"], r["cpu_s"], r["load_1min"], r.get("docs_per_s"),
                 r.get("max_task_rss_mib", "-"), same]  # fmt: skip
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    sets = " ".join(f"--set {kv}" for kv in res.get("config_overrides", []))
    lines = [f"Corpus: {res['corpus']}; `--mem-per-task {mem}` {sets}", "", *rows, ""]
    ray = res["runs"].get("ray_2_tasks", {})
    if "peak_rss_by_stage_mib" in ray:
        lines += [f"Peak RSS per stage, Ray (one process per task; budget {mem}):", ""]
        lines += ["| stage | peak RSS MiB | CPU s (all its tasks) |", "|---|---|---|"]
        cpu = ray.get("cpu_s_by_stage", {})
        lines += [
            f"| {s} | {b} | {cpu.get(s, '-')} |" for s, b in ray["peak_rss_by_stage_mib"].items()
        ]
        lines.append("")
    per_doc = next((r["intermediate_bytes_per_doc"] for r in res["runs"].values()
                    if "intermediate_bytes_per_doc" in r), {})  # fmt: skip
    if per_doc:
        lines += ["Intermediates on disk (`.state/exec`), bytes per input document:", ""]
        lines += ["| kind | bytes/doc |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in per_doc.items()]
        lines.append("")
    if "intermediate_bytes" in ray:
        state = sum(ray["intermediate_bytes"].values()) / 2**20
        lines.append(
            f"Whole-job state on disk (every intermediate, Ray run): {state:.1f} MiB "
            f"({state * 2**20 / parse_bytes(mem):.1f}x the budget); largest peak RSS of one "
            f"task: {ray['max_task_rss_mib']} MiB; under --mem-per-task {mem}: "
            f"{ray['under_mem_per_task']}."
        )
        lines.append("")
    ex = res["extrapolation_1b_docs"]
    lines += [
        "EXTRAPOLATION to 1 B documents (linear in the measured bytes per document; not run):",
        "",
        "| intermediate | disk GB | partitions for half the budget each |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v['disk_gb']} | {v['partitions_to_fit_half_budget']} |"
              for k, v in ex["by_intermediate"].items()]  # fmt: skip
    lines.append(f"\nAll intermediates: {ex['disk_gb_all_intermediates']} GB.")
    lines.append("")
    for name, r in res["runs"].items():
        if "killed" in r:
            k = r["killed"]
            lines.append(
                f"- {name}: kill -9 of {k['task']} (and its launcher `{k['launcher'][:60]}`) "
                f"{k['after_s']} s into it, marker at kill: {k['marker_at_kill']}, run rc "
                f"{k['rc']}; the relaunch ran {', '.join(r['relaunch_ran'])} and skipped "
                f"{', '.join(r['relaunch_skipped'])}; identical: "
                f"{r.get('identical_to_one_process')}"
            )
    return "\n".join(lines) + "\n"


def extrapolate(runs: dict[str, Any], budget: int, docs: float = 1e9) -> dict[str, Any]:
    """EXTRAPOLATION to ``docs`` documents from the measured bytes per document: disk for each
    kind of intermediate, and how many partitions a stage reading one kind needs so that one
    partition's share fits half of ``budget`` (the other half for the process and buffers).
    Linear in documents by construction; nothing here was run at that size."""
    ray = runs.get("ray_2_tasks", {})
    per_doc = ray.get("intermediate_bytes_per_doc") or next(
        (
            r["intermediate_bytes_per_doc"]
            for r in runs.values()
            if "intermediate_bytes_per_doc" in r
        ),
        {},
    )
    kinds = {
        k: {
            "disk_gb": round(b * docs / 1e9, 1),
            "partitions_to_fit_half_budget": max(1, int(-(-b * docs // (budget / 2)))),
        }
        for k, b in per_doc.items()
    }
    out: dict[str, Any] = {"documents": docs, "by_intermediate": kinds}
    out["disk_gb_all_intermediates"] = round(sum(per_doc.values()) * docs / 1e9, 1)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--corpus", type=Path, required=True, help="input dir (scale_corpus.py)")
    p.add_argument("--work", type=Path, required=True, help="run outputs go here")
    p.add_argument("--out", type=Path, required=True, help="figures JSON (and .md beside it)")
    p.add_argument("--mem-per-task", default="1G")
    p.add_argument("--binary", help="a cpt-curate binary (default: python -m cpt.curate)")
    p.add_argument("--kill-after", type=float, default=3.0, help="seconds into the killed task")
    p.add_argument("--skip-kill", action="store_true")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every run (repeatable), e.g. minhash.verify=true",
    )
    p.add_argument("--keep", action="store_true", help="keep every run's output")
    p.add_argument(
        "--only",
        help="comma-separated runs to redo, the others' saved results kept ('none': only "
        "rewrite the JSON and table from the saved results)",
    )
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    runner = Runner(a.corpus.resolve(), a.work.resolve(), a.mem_per_task, a.binary, a.keep, a.set)
    ray_cfg = runner.work / "ray.yaml"
    ray_cfg.write_text("workers: 2\n")
    # (name, extra arguments): threads per task 1 wherever tasks run side by side, so
    # "2 tasks" means two cores' worth of tasks, not one task on two threads.
    plan = [
        ("one_process", []),
        ("local_1_task", ["--executor", "local", "--tasks", "1", "-j", "1"]),
        ("local_2_tasks", ["--executor", "local", "--tasks", "2", "-j", "2"]),
        ("ray_2_tasks", ["--executor", "ray", "--tasks", "2", "-j", "1",
                         "--executor-config", str(ray_cfg)]),
    ]  # fmt: skip
    kills = [
        ("ray_kill_worker", plan[3][1], "write-00001"),
        ("submitit_kill_task", ["--executor", "submitit-local", "--tasks", "2", "-j", "1"],
         "scan-00001"),
    ]  # fmt: skip
    names = [n for n, _ in plan] + ([] if a.skip_kill else [n for n, _, _ in kills])
    todo = a.only.split(",") if a.only else names
    for name, extra in plan:
        if name not in todo:
            continue
        out = runner.work / name
        shutil.rmtree(out, ignore_errors=True)
        run = timed(runner, runner.argv(out, *extra))
        finish_run(runner, name, out, run, None if name == "one_process" else runner.reference())
        if run["rc"] != 0:
            print(f"{name} failed: {run['stderr']}", file=sys.stderr)
            return 1
    for name, extra, task in kills:
        if name in todo and name in names:
            shutil.rmtree(runner.work / name, ignore_errors=True)
            kill_and_relaunch(runner, name, extra, task, a.kill_after)
    # Every run measured so far (this invocation's and saved ones), in the plan's order.
    runs = {}
    for name in names:
        saved = runner.work / "results" / f"{name}.json"
        if saved.exists():
            runs[name] = {k: v for k, v in json.loads(saved.read_text()).items() if k != "_sums"}
            if name.startswith("ray"):  # Ray's workers are not this script's reaped children
                r = runs[name]
                r["cpu_s"] = r.get("task_cpu_s")  # each task's process, from its marker
                docs = r.get("documents")
                r["docs_per_cpu_s"] = round(docs / r["cpu_s"], 1) if r["cpu_s"] and docs else None
            if "killed" in runs[name]:  # the relaunch's time covers only the tasks left
                runs[name]["docs_per_s"] = runs[name]["docs_per_cpu_s"] = None
    res = {
        "corpus": str(runner.corpus),
        "corpus_manifest": _manifest(runner.corpus),
        "mem_per_task": a.mem_per_task,
        "config_overrides": a.set,
        "binary": a.binary or f"{sys.executable} -m cpt.curate",
        "cpus": os.cpu_count(),
        "runs": runs,
        "extrapolation_1b_docs": extrapolate(runs, parse_bytes(a.mem_per_task)),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    a.out.with_suffix(".md").write_text(markdown(res, a.mem_per_task))
    print(a.out.with_suffix(".md").read_text())
    bad = [n for n, r in runs.items() if r["rc"] != 0 or r.get("identical_to_one_process") is False]
    if bad:
        print(f"failed or different: {bad}", file=sys.stderr)
    return 1 if bad else 0


def _manifest(corpus: Path) -> dict[str, Any]:
    path = corpus / "manifest.json"
    if not path.exists():
        return {}
    m = json.loads(path.read_text())
    return {k: v for k, v in m.items() if k != "sha256"}


if __name__ == "__main__":
    sys.exit(main())
