"""The partitioned decide (exact dedup by key prefix, near-dup by band, one cluster task)
under the Python executors, through the built engine: with copies and near-copies whose
first document is in another scan task, a Ray run on a local 2-worker cluster and
submitit's local job arrays (band tables spilled under a tiny ``--mem-per-task``) give
the one-process run's outputs byte for byte; a band task that dies under Ray is rerun by
relaunching, and only the unfinished tasks run."""

from __future__ import annotations

import json
from pathlib import Path

import ray  # noqa: F401  the scale extra; missing it fails these tests (pip install cpt[scale])
import submitit  # noqa: F401
import zstandard
from exec_kit import kept_rejected_sums, neardup_lines, run_curate, write_inputs


def _inputs(shared_data: Path, d: Path) -> Path:
    """400 documents over 4 files; the last also holds exact copies of 6 documents of the
    first and one-word edits of 6 of the second, under new ids."""
    lines = neardup_lines(shared_data)[:400]
    files = [lines[i * 100 : (i + 1) * 100] for i in range(4)]
    for src, suffix in ((0, "copy"), (1, "edit")):
        for line in files[src][:6]:
            doc = json.loads(line)
            doc["id"] = f"{doc['id']}-{suffix}"
            if suffix == "edit":
                doc["text"] = "Edited: " + doc["text"]
            files[3].append(json.dumps(doc))
    return write_inputs(d, files)


def _rejected(out: Path) -> list[dict]:
    docs = []
    for p in sorted((out / "rejected").iterdir()):
        text = zstandard.ZstdDecompressor().stream_reader(p.open("rb")).read().decode()
        docs += [json.loads(line) for line in text.split("\n") if line]
    return docs


def _mtimes(out: Path) -> dict[str, float]:
    return {p.stem: p.stat().st_mtime for p in (out / ".state/exec/done").iterdir()}


def test_ray_partitioned_decide_equals_one_process_and_a_killed_band_reruns(
    shared_data: Path, tmp_path: Path
):
    inp = _inputs(shared_data, tmp_path / "in")
    one = tmp_path / "one"
    r = run_curate(inp, one)
    assert r.returncode == 0, r.stderr
    want = kept_rejected_sums(one)
    reasons = {d["id"]: (d["reject_reason"], d.get("duplicate_of")) for d in _rejected(one)}
    copies = [v for k, v in reasons.items() if k.endswith("-copy")]
    edits = [v for k, v in reasons.items() if k.endswith("-edit")]
    assert any(r == "exact_duplicate" and not of.endswith("-copy") for r, of in copies), copies
    assert sum(r == "near_duplicate" for r, _ in edits) >= 3, edits

    cfg = tmp_path / "ray.yaml"
    cfg.write_text("workers: 2\n")
    ray_args = ("--executor", "ray", "--tasks", "2", "--executor-config", str(cfg))
    killed = tmp_path / "killed"
    r = run_curate(inp, killed, *ray_args, env={"CPT_TEST_ABORT_IN_TASK": "band-00001"})
    assert r.returncode != 0 and "task band-00001 failed (signal" in r.stderr, r.stderr
    done = killed / ".state/exec/done"
    assert (done / "decide.json").exists() and not (done / "band-00001.json").exists()
    before = _mtimes(killed)
    r = run_curate(inp, killed, *ray_args)
    assert r.returncode == 0, r.stderr
    assert kept_rejected_sums(killed) == want
    after = _mtimes(killed)
    rerun = {t for t in after if before.get(t) != after[t]}
    assert "band-00001" in rerun and "cluster" in rerun, rerun
    assert not {t for t in rerun if t.startswith(("scan-", "exact-"))}, rerun


def test_submitit_local_partitioned_decide_spills_and_equals_one_process(
    shared_data: Path, tmp_path: Path
):
    inp = _inputs(shared_data, tmp_path / "in")
    one = tmp_path / "one"
    assert run_curate(inp, one).returncode == 0
    out = tmp_path / "sl"
    args = ("--executor", "submitit-local", "--tasks", "3", "--mem-per-task", "4096")
    r = run_curate(inp, out, *args)
    assert r.returncode == 0, r.stderr
    assert kept_rejected_sums(out) == kept_rejected_sums(one)
    report = json.loads((out / "report.json").read_text())
    assert report["near_dedup"]["stats"]["spilled"] is True
    stages = {k: v["tasks"] for k, v in report["exec"].items()}
    assert stages["exact"] == 3 and stages["cluster"] == 1 and stages["band"] > 1, stages
