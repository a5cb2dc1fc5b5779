"""The Slurm path without a cluster, run for real: ``cpt.exec.slurm.submit`` generates the job
arrays through submitit's real ``SlurmExecutor`` against a recording ``sbatch``; this file's
harness then plays Slurm: it runs every array task of every generated batch script, in
submission order, only when its ``afterok`` dependencies succeeded (a failed task's dependants
never start, as Slurm's ``DependencyNeverSatisfied``), with the ``SLURM_*`` variables set and
``srun`` reduced to running its command. The outputs equal a one-process run byte for byte;
a task that dies stops the chain, and submitting again runs only the tasks left."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import submitit  # noqa: F401  the scale extra; missing it fails these tests
from exec_kit import curate_command, four_inputs

from cpt.exec import jobstate
from cpt.exec.graph import Job
from cpt.exec.slurm import submit
from cpt.sweep.slurm import SlurmOptions

SBATCH = """#!/bin/sh
n=$(($(ls {log} | wc -l) + 100))
cp "$1" {log}/$n.sh
echo "Submitted batch job $n"
"""
# srun inside an allocation: drop its own options, run the command.
SRUN = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in --unbuffered) shift ;; --output|--error) shift 2 ;; *) break ;; esac
done
exec "$@"
"""


class FakeSlurm:
    """Records ``sbatch`` submissions and runs them as Slurm would, one node, in order."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.log = root / "sbatch"
        self.log.mkdir()
        bin_dir = root / "bin"
        bin_dir.mkdir()
        (bin_dir / "sbatch").write_text(SBATCH.format(log=self.log))
        (bin_dir / "srun").write_text(SRUN)
        for f in bin_dir.iterdir():
            f.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        self.ran: set[str] = set()
        self.state: dict[str, str] = {}  # array task "100_3" -> COMPLETED / FAILED / NEVER

    def run_pending(self, env: dict[str, str]) -> list[tuple[str, str]]:
        """Run every recorded script not run yet; (array task, state) in the order run."""
        order = []
        for script in sorted(self.log.iterdir(), key=lambda p: int(p.stem)):
            if script.stem in self.ran:
                continue
            self.ran.add(script.stem)
            text = script.read_text()
            array = re.search(r"^#SBATCH --array=0-(\d+)", text, re.M)
            dep = re.search(r"^#SBATCH --dependency=afterok:(\S+)", text, re.M)
            needs = dep.group(1).split(":") if dep else []
            # submitit submits a one-task stage as a plain job (id N), others as arrays (N_i).
            indices = range(int(array.group(1)) + 1) if array else [None]
            for i in indices:
                jid = script.stem if i is None else f"{script.stem}_{i}"
                if any(self.state.get(n) != "COMPLETED" for n in needs):
                    self.state[jid] = "NEVER"
                else:
                    job_env = {
                        **env,
                        "SLURM_JOB_ID": script.stem if i is None else f"{script.stem}{i:03}",
                        "SLURM_NTASKS": "1",
                        "SLURM_JOB_NUM_NODES": "1",
                        "SLURM_NODEID": "0",
                        "SLURM_PROCID": "0",
                        "SLURM_LOCALID": "0",
                        "SLURM_JOB_NODELIST": "localhost",
                    }
                    if i is not None:
                        job_env |= {
                            "SLURM_ARRAY_JOB_ID": script.stem,
                            "SLURM_ARRAY_TASK_ID": str(i),
                        }
                    r = subprocess.run(["bash", str(script)], env=job_env, capture_output=True)
                    self.state[jid] = "COMPLETED" if r.returncode == 0 else "FAILED"
                order.append((jid, self.state[jid]))
        return order


def test_generated_arrays_run_in_afterok_order_and_resume(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    inp = four_inputs(shared_data, tmp_path / "in")
    head = curate_command()
    one = tmp_path / "one"
    subprocess.run([*head, "run", "-q", "-i", str(inp), "-o", str(one)], check=True)
    want = jobstate.output_sums(one)

    slurm = FakeSlurm(tmp_path, monkeypatch)
    out = tmp_path / "out"
    cfg = tmp_path / "job.yaml"
    cfg.write_text(f"inputs: ['{inp}']\noutput: {out}\nthreads: 1\n")
    job = Job(cfg, 2)
    subprocess.run(job.argv("init"), check=True)
    opts = SlurmOptions(partition="cpu", account="lab", time="30", mem="1G", job_name="cur")
    env = {**os.environ, "CPT_TEST_ABORT_IN_TASK": "write-00001"}

    # The engine's graph, minus init (run above): one job id per stage from 100 on; a stage
    # of one task is a plain job, the others arrays.
    stages = [(name, ids) for name, ids in job.stages() if ids]

    def label(k: int, ids: list[str], i: int) -> str:
        return f"{100 + k}" if len(ids) == 1 else f"{100 + k}_{i}"

    # First submission: write-00001 dies (abort after its work, before its marker), so no
    # later stage starts; every task before it completed in dependency order.
    submit(job, tmp_path / "submitit", opts, "slurm")
    order = slurm.run_pending(env)
    names = [name for name, _ in stages]
    w = names.index("write")
    expected = []
    for k, (_, ids) in enumerate(stages):
        for i, task in enumerate(ids):
            state = "FAILED" if task == "write-00001" else "COMPLETED" if k <= w else "NEVER"
            expected.append((label(k, ids, i), state))
    assert order == expected
    assert not (out / "report.json").exists()
    before = jobstate.markers(out)
    done_before = sorted(["init", *(t for _, ids in stages[:w] for t in ids), "write-00000"])
    assert sorted(before) == done_before

    # Relaunch: only the tasks without a marker are submitted, chained the same way.
    later = ["write-00001", *(t for _, ids in stages[w + 1 :] for t in ids)]
    submit(job, tmp_path / "submitit", opts, "slurm")
    order = slurm.run_pending({**os.environ})
    assert [state for _, state in order] == ["COMPLETED"] * len(later)
    assert jobstate.ran_between(before, jobstate.markers(out)) == sorted(later)
    assert jobstate.output_sums(out) == want


def test_submitit_local_jobs_are_not_cut_at_two_minutes(tmp_path: Path):
    """submitit's LocalExecutor kills a job after 2 minutes unless told otherwise: a write
    task of the 1.3 GB scale corpus was killed so. Without --time, no such limit."""
    from cpt.sweep.slurm import make_executor

    ex = make_executor("submitit-local", tmp_path, SlurmOptions())
    assert ex.parameters.get("timeout_min", 2.0) >= 24 * 60
    ex = make_executor("submitit-local", tmp_path, SlurmOptions(time="90"))
    assert ex.parameters["timeout_min"] == 90
