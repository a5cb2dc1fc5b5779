"""cpt.sweep on a tiny model: trials are real cpt.train runs; gather, plot, recommend, resume,
a crashing trial, a bad grid key, the job array through submitit's local executor, and the
sbatch array submitit writes for Slurm."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from cpt.sweep.__main__ import main
from cpt.sweep.gather import PointResult, recommend

REPO = Path(__file__).resolve().parents[1]


def _first_docs(src: Path, n: int, dst: Path) -> Path:
    """The first ``n`` documents of a .jsonl.zst as plain JSONL (a small, real corpus)."""
    import io

    import zstandard

    with open(src, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as r:
        lines = [line for _, line in zip(range(n), io.TextIOWrapper(r, encoding="utf-8"))]
    dst.write_text("".join(lines), encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def base_config(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    from cpt.tokenize import tokenize

    d = tmp_path_factory.mktemp("sweepdata")
    tok = shared_data / "tokenizers" / "smollm2-135m.tokenizer.json"
    files = {
        "domain": ("domain/licenses-train.jsonl.zst", 40),
        "general": ("general/sotu-train.jsonl.zst", 3),
        "domain-heldout": ("domain/licenses-heldout.jsonl.zst", 10),
        "general-heldout": ("general/sotu-heldout.jsonl.zst", 1),
    }
    man = {}
    for name, (rel, limit) in files.items():
        docs = _first_docs(shared_data / rel, limit, d / f"{name}.jsonl")
        tokenize([docs], tok, d / name)
        man[name] = str(d / name / "manifest.json")
    cfg = {
        "model": {
            "init": {"arch": "llama", "hidden_size": 32, "layers": 1, "heads": 2, "kv_heads": 1,
                     "intermediate_size": 64, "vocab_size": 49152, "max_position": 64,
                     "tie_word_embeddings": True},
            "tokenizer": str(tok),
        },
        "data": {
            "domain": [{"path": man["domain"], "format": "cpt", "name": "licenses"}],
            "general": [{"path": man["general"], "format": "cpt", "name": "sotu"}],
            "alpha": 0.7, "seq_len": 32, "micro_batch_size": 2,
        },
        "optim": {"base_lr": 0.01, "beta": 0.1, "mixed_precision": "no"},
        "schedule": {"max_steps": 100, "warmup_frac": 0.0},
        "checkpoint": {"every": 0, "keep_last": 1},
        "logging": {"every": 2, "tensorboard": False, "plots": False},
        "run": {"threads": 1},
        "eval": {
            "every": 4, "ppl_tokens": 256, "seq_len": 32, "batch_size": 8, "tensorboard": False,
            "heldout": {"domain": [man["domain-heldout"]], "general": [man["general-heldout"]]},
            "select": {"regression_limit": 0.03, "keep_best": 0},
        },
    }  # fmt: skip
    path = d / "base.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _trial_figures(out: Path) -> dict[str, tuple[float, float]]:
    figs = {}
    for t in sorted((out / "trials").iterdir()):
        evals = json.loads((t / "run" / "report.json").read_text())["evaluations"]
        figs[t.name] = (evals[-1]["domain_gain"], evals[-1]["general_regression"])
    return figs


def test_sweep_runs_gathers_recommends_and_resumes(
    base_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    argv = ["--config", str(base_config), "--grid", "optim.beta=0.05,1.0", "data.alpha=0.5,1.0",
            "--steps", "4", "--out", str(out), "--jobs", "2", "--full-tokens", "2B",
            "--gpu", "l4", "--gpus", "2", "--price", "1"]  # fmt: skip
    assert main(argv) == 0
    trials = sorted((out / "trials").iterdir())
    assert len(trials) == 4
    for t in trials:
        state = json.loads((t / "trial.json").read_text())
        assert state["status"] == "done", state
        assert (t / "run" / "final" / "model.safetensors").is_file()
        assert any(o.startswith("optim.beta=") for o in state["overrides"])
    # the trials really differ: beta 1.0 moves the domain perplexity more than beta 0.05
    figs = _trial_figures(out)
    assert figs["t002_beta1.0_alpha0.5"][0] > figs["t000_beta0.05_alpha0.5"][0]
    # the recommendation: best mean domain gain among points within the 3 % limit (by hand)
    within = {k: g for k, (g, r) in figs.items() if r <= 0.03}
    recipe_text = (out / "recipe.yaml").read_text()
    if within:
        best = max(within, key=within.get)  # type: ignore[arg-type]
        beta, alpha = best.split("_")[1][4:], best.split("_")[2][5:]
        recipe = yaml.safe_load(recipe_text)
        assert recipe["optim"]["beta"] == float(beta) and recipe["data"]["alpha"] == float(alpha)
        assert recipe["schedule"]["total_tokens"] == 2_000_000_000
        assert recipe["schedule"]["max_steps"] is None and recipe["run"]["dir"] == "runs/cpt-full"
        from cpt.train.config import load_config

        load_config(out / "recipe.yaml")  # a ready recipe: loads as it is
        plan = json.loads((out / "plan.json").read_text())
        assert plan["tokens"] == 2e9 and plan["gpu"] == "l4" and plan["cost"] > 0
        assert "Cost of the full run" in (out / "recommendation.md").read_text()
    results = json.loads((out / "results.json").read_text())
    assert len(results["points"]) == 4 and results["limit"] == 0.03
    assert (out / "sweep.png").stat().st_size > 5000
    assert "| optim.beta | data.alpha |" in (out / "results.md").read_text()
    # a rerun skips every finished trial
    mtimes = [(t / "trial.json").stat().st_mtime_ns for t in trials]
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("[cpt.sweep] skip") == 4
    assert [(t / "trial.json").stat().st_mtime_ns for t in trials] == mtimes


def test_a_crashing_trial_is_recorded_and_the_sweep_goes_on(
    base_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "crashhook.py").write_text(
        "class Hook:\n"
        "    every = 1\n"
        "    def evaluate(self, model, view):\n"
        "        raise RuntimeError('boom at step %d' % view.step)\n"
        "def build(cfg, accelerator, run_dir):\n"
        "    return Hook()\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = tmp_path / "sweep"
    argv = ["--config", str(base_config), "--grid", "run.hook=crashhook:build,null",
            "--steps", "4", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    crashed = json.loads((out / "trials" / "t000_hookcrashhook_build" / "trial.json").read_text())
    assert crashed["status"] == "failed" and crashed["returncode"] != 0
    assert "boom at step 0" in crashed["error"]
    ok = json.loads((out / "trials" / "t001_hookNone" / "trial.json").read_text())
    assert ok["status"] == "done"
    results = json.loads((out / "results.json").read_text())
    assert "t000_hookcrashhook_build" in results["problems"]
    assert results["points"][0]["ok"] == 0 and results["points"][1]["ok"] == 1


def test_grid_key_not_in_the_config(
    base_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    argv = ["--config", str(base_config), "--grid", "optim.betta=0.1,0.3", "--steps", "2",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "grid key 'optim.betta'" in err and "did you mean 'beta'" in err
    assert not (out / "trials").exists()  # nothing ran
    assert main(["--config", str(base_config), "--grid", "optim.beta=0.1", "--out", str(out)]) == 2
    assert "--steps N or --tokens N" in capsys.readouterr().err


def test_submitit_local_array_runs_every_trial(base_config: Path, tmp_path: Path) -> None:
    """The job-array path end to end without a cluster: submitit's local executor runs one task
    per trial (the same function a Slurm array task runs), then the sweep gathers."""
    pytest.importorskip("submitit")
    out = tmp_path / "sweep"
    argv = ["--config", str(base_config), "--grid", "optim.beta=0.5", "--seeds", "1,2",
            "--steps", "4", "--out", str(out), "--executor", "submitit-local",
            "--time", "20"]  # fmt: skip
    assert main(argv) == 0
    jobs = json.loads((out / "jobs.json").read_text())
    assert jobs["executor"] == "submitit-local" and len(jobs["jobs"]) == 2
    assert list((out / "submitit").glob("*_result.pkl"))  # submitit really ran the tasks
    point = json.loads((out / "results.json").read_text())["points"][0]
    assert point["ok"] == 2 and point["domain_gain_sd"] is not None  # error bar from 2 seeds
    g = [v[0] for v in _trial_figures(out).values()]
    assert point["domain_gain"] == pytest.approx(sum(g) / 2)
    assert main(["--out", str(out), "--task", "7"]) == 2  # no such trial


def test_slurm_array_sbatch_script(
    base_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """--executor slurm: submitit writes one sbatch array with the resources asked for and hands
    it to sbatch (here stand-ins for sbatch and srun on PATH that keep the script and never run
    it, as no cluster is reachable; the array's tasks run in the submitit-local test)."""
    pytest.importorskip("submitit")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(
        f'#!/bin/sh\ncp "$1" {tmp_path}/submitted.sh\necho "Submitted batch job 4242"\n'
    )
    (bindir / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit checks it is there
    for tool in ("sbatch", "srun"):
        (bindir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "slurm.yaml").write_text("cpus_per_task: 8\npartition: cpu\n")
    out = tmp_path / "sweep"
    head = ["--config", str(base_config), "--grid", "optim.beta=0.1,0.5", "--steps", "4",
            "--out", str(out), "--executor", "slurm"]  # fmt: skip
    argv = head + [
        "--slurm-config", str(tmp_path / "slurm.yaml"), "--partition", "gpu", "--account",
        "proj1", "--time", "1:30:00", "--mem", "64G", "--gpus-per-task", "1",
        "--max-parallel", "1", "--sbatch-option=--qos=high",
    ]  # fmt: skip
    assert main(argv) == 0
    assert "--out " + str(out) + " --gather" in capsys.readouterr().out
    text = (tmp_path / "submitted.sh").read_text()
    for line in ("--array=0-1%1", "--partition=gpu", "--account=proj1", "--time=90",
                 "--mem=64G", "--gpus-per-task=1", "--cpus-per-task=8", "--qos=high",
                 "--job-name=cpt-sweep"):  # fmt: skip
        assert f"#SBATCH {line}\n" in text, (line, text)
    assert "submitit.core._submit" in text
    assert json.loads((out / "jobs.json").read_text())["jobs"] == {
        "t000_beta0.1": "4242_0", "t001_beta0.5": "4242_1"}  # fmt: skip
    assert not (out / "trials").exists()  # nothing ran here
    # bad Slurm settings fail before anything is submitted, naming the key
    (tmp_path / "bad.yaml").write_text("partiton: gpu\n")
    bad = head + ["--slurm-config", str(tmp_path / "bad.yaml")]
    assert main(bad) == 2
    assert "unknown Slurm key 'partiton'; did you mean 'partition'" in capsys.readouterr().err
    assert main(head + ["--time", "an hour"]) == 2
    assert "--time 'an hour'" in capsys.readouterr().err


def test_slurm_time_formats() -> None:
    from cpt.sweep.slurm import minutes

    cases = {"90": 90, "45:00": 45, "45:30": 46, "1:30:00": 90, "2-00": 2880, "1-02:03": 1563,
             "0-00:00:01": 1}  # fmt: skip
    assert {k: minutes(k) for k in cases} == cases


def test_recommend_picks_best_gain_within_limit() -> None:
    def pr(beta: float, gain: float, reg: float) -> PointResult:
        return PointResult({"optim.beta": beta}, ["t"], 1, [], gain, None, reg, None)

    points = [pr(0.3, 0.40, 0.08), pr(0.1, 0.25, 0.02), pr(0.03, 0.10, -0.01)]
    assert recommend(points, 0.03) is points[1]
    assert recommend(points, 0.10) is points[0]
    assert recommend(points, -0.05) is None
