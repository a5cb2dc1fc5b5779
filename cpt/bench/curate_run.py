"""Run one ``cpt-curate`` executable on a corpus and read back what the bench compares."""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence


@dataclass
class Run:
    report: dict[str, Any]
    scan_mb_s: float
    total_mb_s: float
    # CPU seconds (user + system) of the whole job: steadier than wall time on a busy box.
    cpu_seconds: float
    # CPU seconds of the scan stage: the job's, minus a rerun that resumes from the saved
    # scan records (so it redoes everything but the scan).
    scan_cpu_seconds: float
    # sha256 of every kept / rejected shard, by relative path: the two builds must agree.
    outputs: dict[str, str]


def _digests(out: Path) -> dict[str, str]:
    found = {}
    for sub in ("kept", "rejected"):
        for p in sorted((out / sub).glob("*.jsonl.zst")):
            found[f"{sub}/{p.name}"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_binary(
    binary: str, corpus: Sequence[str], out: Path, threads: int, sets: Sequence[str]
) -> Run:
    """``binary run`` on ``corpus`` into ``out`` (lenient, quiet, overwriting)."""
    cmd = [binary, "run", "-o", str(out), "-j", str(threads), "--lenient", "-q"]
    for c in corpus:
        cmd += ["-i", c]
    for s in sets:
        cmd += ["--set", s]
    cpu = _timed(cmd + ["--overwrite"])
    report = json.loads((out / "report.json").read_text())
    outputs = _digests(out)
    # Forget the written files (not the scan records) and run again: only the scan is reused.
    for marker in (out / ".state").glob("done-*.json"):
        marker.unlink()
    rest = _timed(cmd)
    resumed = json.loads((out / "report.json").read_text())
    if resumed["resumed_scans"] != len(report["inputs"]):
        raise RuntimeError(
            f"{binary}: the rerun did not reuse every scan ({resumed['resumed_scans']})"
        )
    t = report["timings"]
    return Run(
        report=report,
        scan_mb_s=t["scan"]["mb_per_s"],
        total_mb_s=report["input_bytes"] / 1e6 / t["total_seconds"],
        cpu_seconds=cpu,
        scan_cpu_seconds=max(cpu - rest, 1e-9),
        outputs=outputs,
    )


def _timed(cmd: list[str]) -> float:
    """Run ``cmd``; its CPU seconds (user + system, all threads)."""
    before = _children_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return _children_cpu() - before
