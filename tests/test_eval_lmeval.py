"""The lm-eval path, offline on a tiny model, against a direct computation of log-likelihoods."""

from __future__ import annotations

import math
import re

import pytest
from test_eval_common import task_rows, tiny_model, token_ids, tokenizer, torch

from cpt.evaluate.lmeval import LMEvalError, LMEvaluator, flatten_results

LIMIT = 6


def logprob(model, context: list[int], continuation: list[int]) -> float:
    x = torch.tensor(context + continuation)[None]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=x).logits[0].double(), -1)
    start = len(context)
    return sum(float(logp[start - 1 + i, t]) for i, t in enumerate(continuation))


@pytest.fixture(scope="module")
def model():
    m = tiny_model(seed=3)
    m.eval()
    return m


def test_multiple_choice_matches_hand_loglikelihoods(model):
    ev = LMEvaluator(
        ["cpt_sotu_continuation"], batch_size=4, max_length=2048,
        samples={"cpt_sotu_continuation": list(range(LIMIT))},
    )  # fmt: skip
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tokenizer(), batch_size=4, max_length=2048)
    out = lm_eval.simple_evaluate(
        model=lm, tasks=["cpt_sotu_continuation"], limit=LIMIT, task_manager=ev._manager(),
        log_samples=True, bootstrap_iters=0,
    )  # fmt: skip
    samples = out["samples"]["cpt_sotu_continuation"]
    rows = task_rows("sotu_continuation.jsonl")[:LIMIT]
    correct = correct_norm = 0
    for s in sorted(samples, key=lambda s: s["doc_id"]):
        row = rows[s["doc_id"]]
        ctx = token_ids(row["context"])
        hand = [logprob(model, ctx, token_ids(" " + c)) for c in row["choices"]]
        theirs = [r[0][0] for r in s["resps"]]
        assert theirs == pytest.approx(hand, abs=1e-3)
        correct += int(max(range(4), key=lambda i: hand[i]) == row["label"])
        norm = [h / len(" " + c) for h, c in zip(hand, row["choices"])]
        correct_norm += int(max(range(4), key=lambda i: norm[i]) == row["label"])
    flat = flatten_results(out)
    assert flat.metrics["lm/cpt_sotu_continuation/acc"] == pytest.approx(correct / LIMIT)
    assert flat.metrics["lm/cpt_sotu_continuation/acc_norm"] == pytest.approx(correct_norm / LIMIT)
    assert flat.higher_is_better["lm/cpt_sotu_continuation/acc"] is True
    # the evaluator used by the hook gives the same numbers
    mine = ev.evaluate(model, tokenizer())
    assert mine.metrics["lm/cpt_sotu_continuation/acc"] == pytest.approx(correct / LIMIT)


def test_rolling_loglikelihood_matches_hand_bits_per_byte():
    model = tiny_model(seed=4, max_positions=4096)
    model.train()
    ev = LMEvaluator(
        ["cpt_license_text"], batch_size=2, max_length=4096, samples={"cpt_license_text": [0, 1, 2]}
    )
    res = ev.evaluate(model, tokenizer())
    assert model.training  # mode restored
    model.eval()
    total_ll = 0.0
    total_bytes = total_words = 0
    eos = tokenizer().eos_token_id
    for row in task_rows("license_text.jsonl")[:3]:
        ids = token_ids(row["text"])
        assert len(ids) + 1 <= 4096  # one window: the document after the EOS prefix
        total_ll += logprob(model, [eos], ids)
        total_bytes += len(row["text"].encode("utf-8"))
        total_words += len(re.split(r"\s+", row["text"]))
    m = res.metrics
    assert m["lm/cpt_license_text/bits_per_byte"] == pytest.approx(
        -total_ll / total_bytes / math.log(2), rel=1e-4
    )
    assert m["lm/cpt_license_text/byte_perplexity"] == pytest.approx(
        math.exp(-total_ll / total_bytes), rel=1e-4
    )
    assert m["lm/cpt_license_text/word_perplexity"] == pytest.approx(
        math.exp(-total_ll / total_words), rel=1e-3
    )
    assert res.higher_is_better["lm/cpt_license_text/bits_per_byte"] is False


def test_unknown_task_is_a_clear_error(model):
    ev = LMEvaluator(["no_such_task_xyz"], limit=1)
    with pytest.raises(LMEvalError, match="unknown task.*no_such_task_xyz"):
        ev.evaluate(model, tokenizer())


def test_hub_task_fails_clearly_offline(model):
    # lm-eval's own arc_easy (standard: hub) reads the hub, which offline forbids
    ev = LMEvaluator(["arc_easy"], limit=1, standard="hub", offline=True)
    with pytest.raises(LMEvalError, match="not available offline"):
        ev.evaluate(model, tokenizer())


def test_shipped_tasks_resolve_to_existing_local_files(tmp_path):
    from cpt.evaluate.lmeval import SHIPPED_TASKS, resolve_task_dir

    names = resolve_task_dir(SHIPPED_TASKS, tmp_path)
    assert sorted(names) == [
        "cpt_license_continuation", "cpt_license_text", "cpt_sotu_continuation", "cpt_sotu_text",
    ]  # fmt: skip
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "t.yaml").write_text(
        "task: t\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: nope.jsonl\n"
    )
    with pytest.raises(LMEvalError, match="nope.jsonl does not exist"):
        resolve_task_dir(bad, tmp_path / "out")


def test_shipped_data_is_small_and_well_formed():
    total = 0
    for name in ("sotu_continuation.jsonl", "license_continuation.jsonl"):
        rows = task_rows(name)
        assert len(rows) >= 100
        for r in rows:
            assert len(r["choices"]) == 4 and 0 <= r["label"] < 4
            assert len(set(r["choices"])) == 4
    from test_eval_common import TASK_DATA

    total = sum(p.stat().st_size for p in TASK_DATA.iterdir())
    assert total < 1_000_000
