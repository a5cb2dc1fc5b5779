"""The hook records its fixed lm-eval items, scores the same ones after a resume, and carries
standard errors and paired p-values into every record and the report."""

from __future__ import annotations

import json

from test_eval_common import tiny_model, tokenizer

from cpt.evaluate import build_hook
from cpt.train.loop import View

SECTION = {
    "every": 10,
    "offline": True,
    "lm_eval": {"tasks": ["cpt_sotu_continuation"], "limit": 5, "sample_seed": 3,
                "max_length": 2048},
}  # fmt: skip


def test_samples_recorded_and_reused_on_resume(tmp_path):
    model = tiny_model(seed=7)
    hook = build_hook(SECTION, tokenizer=tokenizer(), tokenizer_hash=None, accelerator=None,
                      run_dir=tmp_path)  # fmt: skip
    hook.evaluate(model, View(0, 0, 0.7, 1.0, tmp_path))
    recorded = json.loads((tmp_path / "eval_samples.json").read_text())
    items = recorded["samples"]["cpt_sotu_continuation"]
    assert len(items) == 5 and recorded["seed"] == 3
    hook.evaluate(model, View(10, 100, 0.7, 1.0, tmp_path))
    rec = hook.records[-1]
    assert "lm/cpt_sotu_continuation/acc" in rec["stderr"]
    # what the evaluation cost: 5 items x 4 choices, wall and CPU seconds
    assert rec["cost"]["lm_requests"] == 20
    assert rec["cost"]["seconds"] > 0 and rec["cost"]["cpu_seconds"] > 0
    # the same model on the same items: no change, paired p-value 1
    assert rec["tests"]["lm/cpt_sotu_continuation/acc"]["p_value"] == 1.0
    # a resumed run (another seed in its config) still scores the recorded items
    resumed = build_hook({**SECTION, "lm_eval": {**SECTION["lm_eval"], "sample_seed": 99}},
                         tokenizer=tokenizer(), tokenizer_hash=None, accelerator=None,
                         run_dir=tmp_path)  # fmt: skip
    assert resumed.evaluator.lm.samples()["cpt_sotu_continuation"] == items
    report = (tmp_path / "report.md").read_text()
    assert " ± " in report and "p=1" in report
