"""Executors of a job split into tasks (``cpt.exec``), through the built engine: a Ray run
on a local 2-worker cluster and submitit's local job arrays give the one-process run's
outputs byte for byte; a task that dies mid-run is rerun by relaunching; the Slurm arrays
are submitted with the user's resources and an ``afterok`` chain between stages."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import ray  # noqa: F401  the scale extra; missing it fails these tests (pip install cpt[scale])
import submitit  # noqa: F401
from exec_kit import four_inputs, kept_rejected_sums, run_curate

from cpt.exec.graph import Job
from cpt.exec.slurm import dependency, submit
from cpt.sweep.slurm import SlurmOptions


def test_ray_two_workers_equal_local_and_a_killed_task_reruns(shared_data: Path, tmp_path: Path):
    inp = four_inputs(shared_data, tmp_path / "in")
    one = tmp_path / "one"
    assert run_curate(inp, one).returncode == 0
    want = kept_rejected_sums(one)
    ray_out = tmp_path / "ray"
    cfg = tmp_path / "ray.yaml"
    cfg.write_text("workers: 2\n")
    r = run_curate(inp, ray_out, "--executor", "ray", "--tasks", "2", "--executor-config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert kept_rejected_sums(ray_out) == want

    # A worker's task dies (SIGABRT, as kill -9) after its work, before its marker.
    killed = tmp_path / "killed"
    r = run_curate(inp, killed, "--executor", "ray", "--tasks", "2",
             env={"CPT_TEST_ABORT_IN_TASK": "scan-00001"})  # fmt: skip
    assert r.returncode != 0 and "task scan-00001 failed (signal" in r.stderr, r.stderr
    assert not (killed / "report.json").exists()
    done = killed / ".state/exec/done"
    assert (done / "init.json").exists() and not (done / "scan-00001.json").exists()
    r = run_curate(inp, killed, "--executor", "ray", "--tasks", "2")
    assert r.returncode == 0, r.stderr
    assert kept_rejected_sums(killed) == want


def test_submitit_local_arrays_equal_local(shared_data: Path, tmp_path: Path):
    inp = four_inputs(shared_data, tmp_path / "in")
    one = tmp_path / "one"
    assert run_curate(inp, one).returncode == 0
    out = tmp_path / "sl"
    r = run_curate(inp, out, "--executor", "submitit-local", "--tasks", "3")
    assert r.returncode == 0, r.stderr
    assert kept_rejected_sums(out) == kept_rejected_sums(one)
    assert (out / ".state/exec/submitit").is_dir()


def test_slurm_arrays_carry_resources_and_an_afterok_chain(tmp_path: Path, monkeypatch):
    """Real submitit SlurmExecutor; ``sbatch``/``srun`` are scripts that record the batch
    files and answer with job ids, so the generated arrays can be read."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sbatch.log"
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    # sbatch: keep a copy of the batch file, answer with a fresh job id (100, 101, ...).
    sbatch = f"""#!/bin/sh
n=$(($(ls {log} | wc -l) + 100))
cp "$1" {log}/$n.sh
echo "Submitted batch job $n"
"""
    (bin_dir / "sbatch").write_text(sbatch)
    log.mkdir()
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n' * 3)
    (tmp_path / "b.jsonl").write_text('{"text": "y"}\n' * 3)
    cfg = tmp_path / "job.yaml"
    cfg.write_text(
        f"inputs: ['{tmp_path}/a.jsonl', '{tmp_path}/b.jsonl']\noutput: {tmp_path}/out\n"
    )
    job = Job(cfg, 2)
    subprocess.run(job.argv("init"), check=True)
    opts = SlurmOptions(partition="cpu", account="lab", time="90", mem="1G", job_name="cur")
    graph = job.stages()[1:]
    names = ["scan", "exact", "decide", "band", "cluster", "write", "finish"]
    assert [s for s, _ in graph] == names
    arrays = submit(job, tmp_path / "submitit", opts, "slurm")
    assert [len(a) for a in arrays] == [len(t) for _, t in graph]
    scripts = [p.read_text() for p in sorted(log.iterdir(), key=lambda p: int(p.stem))]
    assert len(scripts) == len(graph)
    for i, text in enumerate(scripts):
        for want in ("--partition=cpu", "--account=lab", "--mem=1G", "--time=90"):
            assert want in text, text
        if i == 0:
            assert "--dependency" not in text
        else:
            assert f"--dependency={dependency(arrays[i - 1])}" in text, text
    assert dependency(arrays[0]) == "afterok:100_0:100_1"
    assert "--array=0-1" in scripts[0] and "--job-name=cur-scan" in scripts[0]
