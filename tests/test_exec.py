"""Executors of a job split into tasks (``cpt.exec``), through the built engine: a Ray run
on a local 2-worker cluster and submitit's local job arrays give the one-process run's
outputs byte for byte; a task that dies mid-run is rerun by relaunching; the Slurm arrays
are submitted with the user's resources and an ``afterok`` chain between stages."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import ray  # noqa: F401  the scale extra; missing it fails these tests (pip install cpt[scale])
import submitit  # noqa: F401
import zstandard

from cpt.exec.graph import Job
from cpt.exec.slurm import dependency, submit
from cpt.sweep.slurm import SlurmOptions


def _inputs(shared_data: Path, d: Path) -> Path:
    raw = zstandard.ZstdDecompressor().stream_reader(
        (shared_data / "neardup/docs.jsonl.zst").open("rb")
    )
    lines = io.TextIOWrapper(raw, encoding="utf-8").read().split("\n")[:400]
    d.mkdir()
    for i in range(4):
        (d / f"in{i}.jsonl").write_text("\n".join(lines[i * 100 : (i + 1) * 100]) + "\n")
    return d


def _run(inp: Path, out: Path, *extra: str, env: dict[str, str] | None = None):
    # CPT_CURATE_BIN: a built cpt-curate binary (as the workers use), else the Python face.
    exe = os.environ.get("CPT_CURATE_BIN")
    head = [exe] if exe else [sys.executable, "-m", "cpt.curate"]
    cmd = [*head, "run", "-q", "-i", str(inp), "-o", str(out)]
    cmd += ["--set", "shard_max_bytes=100000", *extra]
    e = {**os.environ, "CPT_PYTHON": sys.executable, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=e)


def _sums(out: Path) -> dict[str, str]:
    files = sorted(p for sub in ("kept", "rejected") for p in (out / sub).iterdir())
    assert len(files) > 4
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_ray_two_workers_equal_local_and_a_killed_task_reruns(shared_data: Path, tmp_path: Path):
    inp = _inputs(shared_data, tmp_path / "in")
    one = tmp_path / "one"
    assert _run(inp, one).returncode == 0
    want = _sums(one)
    ray_out = tmp_path / "ray"
    cfg = tmp_path / "ray.yaml"
    cfg.write_text("workers: 2\n")
    r = _run(inp, ray_out, "--executor", "ray", "--tasks", "2", "--executor-config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert _sums(ray_out) == want

    # A worker's task dies (SIGABRT, as kill -9) after its work, before its marker.
    killed = tmp_path / "killed"
    r = _run(inp, killed, "--executor", "ray", "--tasks", "2",
             env={"CPT_TEST_ABORT_IN_TASK": "scan-00001"})  # fmt: skip
    assert r.returncode != 0 and "task scan-00001 failed (signal" in r.stderr, r.stderr
    assert not (killed / "report.json").exists()
    done = killed / ".state/exec/done"
    assert (done / "init.json").exists() and not (done / "scan-00001.json").exists()
    r = _run(inp, killed, "--executor", "ray", "--tasks", "2")
    assert r.returncode == 0, r.stderr
    assert _sums(killed) == want


def test_submitit_local_arrays_equal_local(shared_data: Path, tmp_path: Path):
    inp = _inputs(shared_data, tmp_path / "in")
    one = tmp_path / "one"
    assert _run(inp, one).returncode == 0
    out = tmp_path / "sl"
    r = _run(inp, out, "--executor", "submitit-local", "--tasks", "3")
    assert r.returncode == 0, r.stderr
    assert _sums(out) == _sums(one)
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
