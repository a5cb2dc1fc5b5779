"""The tiny end-to-end demo: every part of cpt in one short run (corpora shipped in the wheel)."""

from __future__ import annotations

import json
from pathlib import Path

from cpt.demo.__main__ import main


def test_tiny_demo_runs_every_stage(tmp_path: Path, capsys) -> None:
    assert main(["--tiny", "--out", str(tmp_path), "--steps", "8", "--pretrain-steps", "16"]) == 0
    out = capsys.readouterr().out
    assert "== summary" in out

    curated = json.loads((tmp_path / "curated/domain/report.json").read_text())
    rejected = sum(r["docs"] for r in curated["rejected"].values())
    assert curated["kept_docs"] + rejected == curated["input_docs"]

    manifest = json.loads((tmp_path / "tokens/domain-train/manifest.json").read_text())
    run = tmp_path / "run"
    report = json.loads((run / "report.json").read_text())
    steps = [e["step"] for e in report["evaluations"]]
    assert steps[0] == 0 and steps[-1] == 8 and len(steps) >= 3
    for e in report["evaluations"]:
        assert {"ppl/domain", "ppl/general"} <= set(e["metrics"])
        assert any(k.startswith("lm/cpt_license_continuation/") for k in e["metrics"])
    # training read the shards the engine wrote: the domain side saw tokens from that dataset
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps_logged = [r for r in log if "loss" in r]
    assert steps_logged[-1]["step"] == 8
    assert 0 < steps_logged[-1]["tokens_by_source"]["licenses"] <= manifest["totals"]["tokens"]
    assert (run / "final" / "model.safetensors").is_file()
    assert (run / "report.md").is_file() and (run / "perplexity.png").is_file()


def test_full_demo_recipe_watches_standard_tasks_and_the_probe(tmp_path: Path) -> None:
    """Issue 15's bar for the full demo: at least two standard lm-eval tasks and the independent
    probe, all watched by the forgetting monitor (read from the recipe, no model needed)."""
    from cpt.demo.__main__ import cpt_recipe
    from cpt.evaluate.lmeval import STANDARD_TASKS

    names = ("domain-train", "general-train", "domain-heldout", "general-heldout", "probe")
    tokens = {name: tmp_path / name / "manifest.json" for name in names}
    recipe = cpt_recipe(tmp_path, tmp_path / "tok.json", tokens, tmp_path / "run", False, 40, 2)
    standard = {p.stem for p in STANDARD_TASKS.rglob("*.yaml")}
    tasks = recipe["eval"]["lm_eval"]["tasks"]
    assert len([t for t in tasks if t in standard]) >= 2, tasks
    assert recipe["eval"]["heldout"]["probe"] == [str(tokens["probe"])]
    watched = recipe["eval"]["monitor"]["metrics"]
    assert "ppl/probe" in watched and all(f"lm/{t}/acc" in watched for t in tasks)
