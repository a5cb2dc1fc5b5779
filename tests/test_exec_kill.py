"""kill -9 mid-task, then relaunch (issue 13): a Ray worker on a local 2-worker cluster, and
a submitit-local job (the Slurm path's array task), each killed with the task it runs while
that task is half done; the relaunched command gives the one-process run's outputs byte for
byte and reruns only the tasks without a completion marker.

"Half done" is made certain, not timed: task ``scan-00001`` owns a small file and then a large
one, and the kill comes once the small file's intermediate exists and before the task's
marker; the large file's scan is seconds long against a 20 ms poll."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray  # noqa: F401  the scale extra; missing it fails these tests (pip install cpt[scale])
import submitit  # noqa: F401
from exec_kit import curate_command, neardup_lines, write_inputs

from cpt.exec import jobstate

pytestmark = pytest.mark.slow  # about a minute: Ray's start-up twice, four runs


def _inputs(shared_data: Path, d: Path) -> Path:
    """in0..in2: 60 documents each; in3: every other neardup document (about 10 MB)."""
    lines = neardup_lines(shared_data)
    return write_inputs(d, [lines[i * 60 : (i + 1) * 60] for i in range(3)] + [lines[180:]])


def _argv(inp: Path, out: Path, *extra: str) -> list[str]:
    head = curate_command()
    return [*head, "run", "-q", "-i", str(inp), "-o", str(out), "-j", "1", *extra]


ENV = {**os.environ, "CPT_PYTHON": sys.executable}


@pytest.mark.parametrize("executor", ["ray", "submitit-local"])
def test_kill_9_mid_task_then_relaunch_gives_identical_outputs(
    executor: str, shared_data: Path, tmp_path: Path
):
    inp = _inputs(shared_data, tmp_path / "in")
    one = tmp_path / "one"
    subprocess.run(_argv(inp, one), env=ENV, check=True)
    want = jobstate.output_sums(one)
    assert any(k.startswith("kept/") for k in want) and any(k.startswith("rejected/") for k in want)

    out = tmp_path / executor
    argv = _argv(inp, out, "--executor", executor, "--tasks", "2")
    # scan-00001 owns in2 (small) then in3 (large): kill once in2's records are written
    # (and scan-00000, two small files, has its marker).
    state = jobstate.exec_dir(out)

    def half_done() -> bool:
        return (state / "scan-00002.bin").exists() and (state / "done/scan-00000.json").exists()

    proc = subprocess.Popen(argv, env=ENV, stderr=subprocess.PIPE, text=True)
    killed = jobstate.kill_task_when(proc, out, "scan-00001", half_done)
    _, err = proc.communicate()
    assert killed is not None, f"the run ended before scan-00001 could be killed: {err}"
    assert "scan-00001" not in killed["markers_at_kill"]
    assert not (state / "scan-00003.bin").exists()  # mid-task indeed
    launcher = "ray::" if executor == "ray" else "submitit"
    assert launcher in killed["launcher"], killed
    assert proc.returncode != 0
    assert "scan-00001" in err and "relaunch" in err, err
    assert not (out / "report.json").exists()

    before = jobstate.markers(out)
    assert "scan-00000" in before and "scan-00001" not in before
    r = subprocess.run(argv, env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    after = jobstate.markers(out)
    ran = jobstate.ran_between(before, after)
    # Exactly the tasks without a marker at the kill ran, whatever the graph's stages, plus
    # init, which runs on every launch (it refuses a changed config or task count).
    assert ran == sorted((set(after) - set(before)) | {"init"}), ran
    assert "scan-00001" in ran and "scan-00000" not in ran and "finish" in ran, ran
    assert jobstate.output_sums(out) == want
