"""What a task job (``cpt-curate run --tasks N``) holds on disk, and which process runs one of
its tasks: completion markers, intermediate sizes by kind, sha256 of the outputs, and the
task's process through ``/proc`` (Linux). For the scale-out figures and the kill tests."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Files of .state/exec that are bookkeeping, not intermediates.
_NOT_INTERMEDIATE = {"done", "submitit", "plan.json", "job.yaml"}


def exec_dir(output: Path) -> Path:
    return output / ".state" / "exec"


def markers(output: Path) -> dict[str, dict]:
    """Every completion marker of the job: task id -> the marker, plus its ``mtime_ns``."""
    out = {}
    for path in sorted((exec_dir(output) / "done").glob("*.json")):
        marker = json.loads(path.read_text())
        marker["mtime_ns"] = path.stat().st_mtime_ns
        out[marker["task"]] = marker
    return out


def ran_between(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """Tasks whose marker appeared or was rewritten between two :func:`markers` snapshots."""
    return [t for t, m in after.items() if before.get(t, {}).get("mtime_ns") != m["mtime_ns"]]


def intermediate_kind(rel: Path) -> str:
    """``scan-00003.bin`` -> ``scan``; a file in a folder counts for the folder."""
    if len(rel.parts) > 1:
        return rel.parts[0]
    return re.sub(r"(-\d+)+$", "", rel.name.split(".")[0])


def intermediate_bytes(output: Path) -> dict[str, int]:
    """Bytes on disk of the job's intermediates, by kind (``scan``, ``decisions``, ...)."""
    root = exec_dir(output)
    sizes: dict[str, int] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] not in _NOT_INTERMEDIATE:
            kind = intermediate_kind(rel)
            sizes[kind] = sizes.get(kind, 0) + path.stat().st_size
    return sizes


def output_sums(output: Path) -> dict[str, str]:
    """sha256 of every output file (relative path -> hex), leaving out the job state and
    ``report.json`` (its timings differ from run to run)."""
    sums = {}
    for path in sorted(output.rglob("*")):
        rel = path.relative_to(output)
        if path.is_file() and rel.parts[0] != ".state" and rel.as_posix() != "report.json":
            h = hashlib.sha256()
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
            sums[rel.as_posix()] = h.hexdigest()
    return sums


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone, or not ours to read
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def parent(pid: int) -> int:
    """The parent process id of ``pid`` (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces or ')'


def command(pid: int) -> str:
    """The command line of ``pid``, as one string (empty when it is gone)."""
    return " ".join(_cmdline(pid))


def task_pids(output: Path, task: str) -> list[int]:
    """Processes running ``cpt-curate task ... TASK`` for the job whose output is ``output``
    (the remote executors pass ``--config OUTPUT/.state/exec/job.yaml``)."""
    config = exec_dir(output.resolve()) / "job.yaml"
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            argv = _cmdline(int(proc.name))
            ours = any(a.endswith("job.yaml") and Path(a).resolve() == config for a in argv)
            if argv and argv[-1] == task and "task" in argv and ours:
                pids.append(int(proc.name))
    return sorted(pids)


def kill_task_when(
    proc: subprocess.Popen, output: Path, task: str, ready: Callable[[], bool]
) -> dict[str, Any] | None:
    """While ``proc`` (a run of the job) lives: once ``task`` has a process and ``ready()``
    holds, kill -9 the process that launched it (the Ray worker, the submitit job) and then
    the task's own process, as a node dying would. What was killed, or None when ``proc``
    ended first."""
    while proc.poll() is None:
        pids = task_pids(output, task)
        if pids and ready():
            victim = pids[0]
            launcher = parent(victim)
            killed = {
                "task": task,
                "task_pid": victim,
                "launcher": command(launcher)[:200],
                "markers_at_kill": sorted(markers(output)),
            }
            for pid in (launcher, victim):
                os.kill(pid, signal.SIGKILL)
            return killed
        time.sleep(0.02)
    return None
