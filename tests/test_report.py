"""The hook end to end with a scripted evaluator: report files, plots, best export, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_eval_common import tiny_model, tokenizer, torch

from cpt import ConfigError
from cpt.config import build
from cpt.evaluate import build_hook
from cpt.evaluate.hook import CPTEvaluationHook, EvalConfig
from cpt.train.loop import View

# step -> (domain ppl, general ppl)
SCRIPT = {0: (40.0, 20.0), 10: (30.0, 20.2), 20: (25.0, 21.0), 30: (22.0, 20.4), 40: (21.0, 20.3)}


class Scripted:
    def __init__(self) -> None:
        self.step = 0

    def __call__(self, model, tok):
        d, g = SCRIPT[self.step]
        return {"ppl/domain": d, "ppl/general": g}, {"ppl/domain": False, "ppl/general": False}


def make_hook(run_dir: Path, **extra) -> tuple[CPTEvaluationHook, Scripted]:
    cfg = build(
        EvalConfig,
        {
            "every": 10,
            "heldout": {"domain": ["d.json"], "general": ["g.json"]},
            "monitor": {"threshold": 0.03, "actions": {"raise_replay": {"enabled": True}}},
            "select": {"regression_limit": 0.04, "keep_best": 1},
            **extra,
        },
        "eval",
    )
    ev = Scripted()
    return CPTEvaluationHook(cfg, ev, tokenizer=tokenizer(), run_dir=run_dir), ev


def drive(hook, ev, model, run_dir, steps, alpha=0.7):
    for step in steps:
        ev.step = step
        view = View(step, step * 1000, alpha, 1.0, run_dir)
        for a in hook.evaluate(model, view):
            if a.kind == "raise_replay":
                alpha = a.value
        assert model.training
        if step:
            ckpt = run_dir / "checkpoints" / f"step-{step}"
            ckpt.mkdir(parents=True)
            from safetensors.torch import save_file

            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.001)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                      str(ckpt / "model.safetensors"))  # fmt: skip
            hook.on_checkpoint(step, ckpt)
    return alpha


def test_hook_report_plots_and_best_export(tmp_path):
    model = tiny_model(seed=7, max_positions=64)
    model.train()
    with (tmp_path / "log.jsonl").open("w") as f:
        for s in range(1, 41):
            f.write(json.dumps({"step": s, "tokens_seen": s * 1000, "lr": 1e-3, "alpha": 0.7,
                                "loss": 5 - s / 20}) + "\n")  # fmt: skip
    from cpt.train.metrics import write_plots

    write_plots(tmp_path)  # the trainer draws its log before the hook's finalize
    hook, ev = make_hook(tmp_path)
    alpha = drive(hook, ev, model, tmp_path, [0, 10, 20, 30, 40])
    assert alpha == pytest.approx(0.6)  # the 5 % general regression at step 20 raised replay
    # scores: 10 -> 0.25 - 0.01; 20 ineligible (5 % > 4 %); 30 -> 0.45 - 0.02; 40 -> 0.475 - 0.015
    assert hook.protected_checkpoints() == {tmp_path / "checkpoints" / "step-40"}
    hook.finalize(model, View(40, 40000, alpha, 1.0, tmp_path))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["best"]["step"] == 40
    assert [e["step"] for e in report["evaluations"]] == [0, 10, 20, 30, 40]
    assert report["evaluations"][2]["alerts"][0]["metric"] == "ppl/general"
    assert report["actions"][0]["kind"] == "raise_replay"
    md = (tmp_path / "report.md").read_text()
    assert "| 20 | 20000 |" in md and "raise_replay=0.6" in md
    # the report draws the perplexities and links the trainer's plots: the log is drawn once
    assert report["plots"] == ["perplexity.png", "loss.png", "lr.png", "alpha.png"]
    for png in report["plots"]:
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"![{png}]({png})" in md
    assert not (tmp_path / "training.png").exists()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    alerts = [(e.step, e.value) for e in events.Scalars("forgetting/alert")]
    assert alerts == [(0, 0.0), (10, 0.0), (20, 1.0), (30, 0.0), (40, 0.0)]
    from safetensors.torch import load_file

    exported = load_file(str(tmp_path / "best" / "model.safetensors"))
    ckpt = load_file(str(tmp_path / "checkpoints" / "step-40" / "model.safetensors"))
    assert all(torch.equal(exported[k], ckpt[k]) for k in ckpt)


def test_hook_state_round_trip_gives_same_decisions(tmp_path):
    model = tiny_model(seed=7, max_positions=64)
    full, ev = make_hook(tmp_path / "a")
    alpha_full = drive(full, ev, model, tmp_path / "a", [0, 10, 20, 30, 40])
    first, ev1 = make_hook(tmp_path / "b")
    alpha = drive(first, ev1, model, tmp_path / "b", [0, 10])
    state = json.loads(json.dumps(first.state_dict()))
    resumed, ev2 = make_hook(tmp_path / "b")
    resumed.load_state_dict(state)
    alpha = drive(resumed, ev2, model, tmp_path / "b", [20, 30, 40], alpha=alpha)
    assert alpha == alpha_full
    strip = [{k: v for k, v in r.items()} for r in resumed.records]
    assert [r["actions"] for r in strip] == [r["actions"] for r in full.records]
    assert [r["score"] for r in strip] == [r["score"] for r in full.records]


def test_build_hook_validates_config(tmp_path):
    kw = {"tokenizer": tokenizer(), "tokenizer_hash": "x", "accelerator": None, "run_dir": tmp_path}
    assert build_hook({}, **kw) is None
    with pytest.raises(ConfigError, match="unknown config key 'eval.select.keep'"):
        build_hook({"lm_eval": {"tasks": ["cpt_sotu_text"]}, "select": {"keep": 1}}, **kw)
    with pytest.raises(ConfigError, match="'eval.every': -1 is out of range"):
        build_hook({"every": -1, "lm_eval": {"tasks": ["cpt_sotu_text"]}}, **kw)
    with pytest.raises(ConfigError, match="needs a tokenizer"):
        build_hook({"lm_eval": {"tasks": ["cpt_sotu_text"]}}, **{**kw, "tokenizer": None})
    with pytest.raises(ConfigError, match=r"'eval.heldout.domain.0': .*nope.bin: file not found"):
        build_hook({"heldout": {"domain": [str(tmp_path / "nope.bin")]}}, **kw)
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        build_hook({"every": 5}, **kw)
    hook = build_hook({"every": 5, "lm_eval": {"tasks": ["cpt_sotu_text"], "limit": 2}}, **kw)
    assert hook.every == 5 and hook.monitor.metrics == ["lm/cpt_sotu_text/*"]


def test_documented_example_config_parses():
    import textwrap

    import yaml

    import cpt.evaluate

    doc = cpt.evaluate.__doc__
    block = doc.split("::\n", 1)[1].split("\n\nEvery key", 1)[0]
    cfg = yaml.safe_load(textwrap.dedent(block))["eval"]
    parsed = build(EvalConfig, cfg, "eval")
    assert parsed.monitor.actions.raise_replay.enabled and parsed.select.keep_best == 2


def test_failed_export_is_reported_not_raised(tmp_path):
    model = tiny_model(seed=7, max_positions=64)
    hook, ev = make_hook(tmp_path)
    drive(hook, ev, model, tmp_path, [0, 10])
    (tmp_path / "checkpoints" / "step-10" / "model.safetensors").unlink()  # e.g. an FSDP layout
    hook.finalize(model, View(10, 10000, 0.7, 1.0, tmp_path))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["best"]["step"] == 10 and report["best"]["exported_to"] is None
    assert "no model weights" in report["best"]["export_error"]
    assert "NOT exported" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "best").exists()
