"""build_hook with real scoring: perplexity on raw held-out files and a shipped lm-eval task."""

from __future__ import annotations

import json

import numpy as np
from test_eval_common import task_rows, tiny_model, token_ids, tokenizer

from cpt.evaluate import build_hook
from cpt.train.loop import View


class Recorder:
    """Stands in for the accelerator's tracker API (``log``) and rank query."""

    is_main_process = True
    trackers = ["tensorboard"]

    def __init__(self) -> None:
        self.logged: list[tuple[int, dict]] = []

    def log(self, values: dict, step: int) -> None:
        self.logged.append((step, values))


def test_build_hook_scores_logs_and_reports(tmp_path):
    for name, rows in (("dom", "license_text.jsonl"), ("gen", "sotu_text.jsonl")):
        ids = np.array(token_ids(task_rows(rows)[0]["text"]), dtype=np.uint16)
        ids.tofile(tmp_path / f"{name}.bin")
    acc = Recorder()
    cfg = {
        "every": 1,
        "heldout": {"domain": [str(tmp_path / "dom.bin")], "general": [str(tmp_path / "gen.bin")]},
        "ppl_tokens": 256,
        "seq_len": 64,
        "lm_eval": {"tasks": ["cpt_sotu_continuation", "cpt_license_continuation"], "limit": 2},
    }
    run_dir = tmp_path / "run"
    hook = build_hook(cfg, tokenizer=tokenizer(), tokenizer_hash=None, accelerator=acc,
                      run_dir=run_dir)  # fmt: skip
    model = tiny_model(seed=2, max_positions=1024)
    model.train()
    assert hook.evaluate(model, View(0, 0, 0.7, 1.0, run_dir)) == []
    assert model.training
    # general = ppl/general + the non-domain task; the license task is domain, not watched
    assert hook.monitor.metrics == [
        "ppl/general", "lm/cpt_sotu_continuation/acc", "lm/cpt_sotu_continuation/acc_norm",
    ]  # fmt: skip
    rec = hook.records[0]
    assert set(rec["metrics"]) >= {"ppl/domain", "ppl/general", "lm/cpt_license_continuation/acc"}
    step, values = acc.logged[0]
    assert step == 0 and values["eval/ppl/domain"] == rec["metrics"]["ppl/domain"]
    assert json.loads((run_dir / "report.json").read_text())["evaluations"][0]["step"] == 0
    # the same model again: nothing changed, no alert; a second call at the same step is a no-op
    hook.evaluate(model, View(1, 128, 0.7, 1.0, run_dir))
    hook.evaluate(model, View(1, 128, 0.7, 1.0, run_dir))
    assert len(hook.records) == 2 and hook.monitor.alerts == []
    assert hook.records[1]["metrics"] == rec["metrics"]
    hook.finalize(model, View(1, 128, 0.7, 1.0, run_dir))
    report = json.loads((run_dir / "report.json").read_text())
    assert report["best"]["step"] == 1 and report["best"]["source"] == "final in-memory model"
    assert (run_dir / "best" / "model.safetensors").is_file()
    assert (run_dir / "perplexity.png").is_file()
