"""A real tiny continued-pretraining run made to forget raises the alert; a gentle one does not."""

from __future__ import annotations

import numpy as np
import pytest
from test_eval_common import task_rows, tiny_model, tokenizer, torch

from cpt.config import build
from cpt.data.sources import ArraySource
from cpt.evaluate.hook import CPTEvaluationHook, EvalConfig, Evaluator
from cpt.train.loop import View

SEQ, BATCH = 64, 8


def corpus(name: str) -> tuple[np.ndarray, np.ndarray]:
    eos = tokenizer().eos_token_id
    ids: list[int] = []
    for row in task_rows(name):
        ids += tokenizer().encode(row["text"], add_special_tokens=False) + [eos]
    arr = np.array(ids, dtype=np.int64)
    cut = int(len(arr) * 0.85)
    return arr[:cut], arr[cut:]  # train, held out


def batches(tokens: np.ndarray, rng: np.random.Generator, n: int) -> torch.Tensor:
    starts = rng.integers(0, len(tokens) - SEQ - 1, size=n)
    return torch.from_numpy(np.stack([tokens[s : s + SEQ] for s in starts]))


def train(model, gen, dom, steps, lr, alpha, rng, hook=None, run_dir=None, every=20):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    actions = []
    for step in range(steps + 1):
        if hook is not None and step % every == 0:
            acts = hook.evaluate(model, View(step, step * SEQ * BATCH, alpha, 1.0, run_dir))
            actions += [(step, a.kind, a.value) for a in acts]
            alpha = next((a.value for a in acts if a.kind == "raise_replay"), alpha)
        if step == steps:
            break
        n_dom = round(alpha * BATCH)  # exact replay mix per batch
        parts = [batches(dom, rng, n_dom)] if n_dom else []
        parts += [batches(gen, rng, BATCH - n_dom)] if n_dom < BATCH else []
        x = torch.cat(parts)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return actions


@pytest.fixture(scope="module")
def base_model():
    gen_train, _ = corpus("sotu_text.jsonl")
    dom_train, _ = corpus("license_text.jsonl")
    model = tiny_model(seed=11, max_positions=SEQ)
    train(model, gen_train, dom_train, 80, 3e-3, 0.0, np.random.default_rng(0))
    return model.state_dict()


def run(tmp_path, base_model, lr, alpha):
    gen_train, gen_held = corpus("sotu_text.jsonl")
    dom_train, dom_held = corpus("license_text.jsonl")
    model = tiny_model(seed=11, max_positions=SEQ)
    model.load_state_dict(base_model)
    cfg = build(
        EvalConfig,
        {
            "every": 20,
            "heldout": {"domain": ["x"], "general": ["y"]},
            "ppl_tokens": 4096,
            "seq_len": SEQ,
            "batch_size": 16,
            "monitor": {"threshold": 0.03, "actions": {"raise_replay": {"enabled": True}}},
        },
        "eval",
    )
    sources = {"domain": [ArraySource(dom_held)], "general": [ArraySource(gen_held)]}
    hook = CPTEvaluationHook(cfg, Evaluator(cfg, sources, None), tokenizer=tokenizer(),
                             run_dir=tmp_path)  # fmt: skip
    actions = train(model, gen_train, dom_train, 40, lr, alpha, np.random.default_rng(1), hook,
                    tmp_path)  # fmt: skip
    return hook, actions


@pytest.mark.slow  # ~40 s of CPU: tiny pretraining, then two continued runs
def test_forgetting_run_alerts_and_gentle_run_does_not(tmp_path, base_model):
    hook, actions = run(tmp_path / "forget", base_model, lr=1e-2, alpha=1.0)
    first, last = hook.records[0]["metrics"], hook.records[-1]["metrics"]
    assert last["ppl/domain"] < first["ppl/domain"]  # it did learn the domain
    assert hook.monitor.alerts, hook.records
    assert all(a.metric == "ppl/general" for a in hook.monitor.alerts)
    assert actions and actions[0][1] == "raise_replay" and actions[0][2] == pytest.approx(0.9)

    hook2, actions2 = run(tmp_path / "gentle", base_model, lr=3e-4, alpha=0.5)
    first2, last2 = hook2.records[0]["metrics"], hook2.records[-1]["metrics"]
    assert last2["ppl/domain"] < first2["ppl/domain"]
    assert hook2.monitor.alerts == [] and actions2 == [], hook2.records
