"""The two knobs of continued pretraining on a tiny model: replay share and learning rate.

An experiment more than a unit test (slow), run through the real entry point: ``cpt.train``
pretrains a tiny model on general text, then continues it on the legal domain with alpha (domain
share) 1.0 or 0.5 and LR 1e-2 or 1e-3, its evaluation hook scoring held-out perplexity at step 0
and at the end. The trade-off the literature reports must show: more replay and a lower LR forget
less of the general text, and every run learns the domain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_eval_common import tokenizer
from test_monitor_training import BATCH, SEQ, corpus

from cpt.data.sources import write_raw_tokens
from cpt.train.config import load_config
from cpt.train.loop import train


def _data(tmp: Path) -> dict[str, Path]:
    gen_train, gen_held = corpus("sotu_text.jsonl")
    dom_train, dom_held = corpus("license_text.jsonl")
    arrays = {"gen": gen_train, "gen-held": gen_held, "dom": dom_train, "dom-held": dom_held}
    return {k: write_raw_tokens(tmp / f"{k}.bin", v.astype(np.uint16)) for k, v in arrays.items()}


def _run(tmp: Path, name: str, data: dict[str, Path], model: dict[str, Any], steps: int,
         lr: float, alpha: float) -> dict[str, Any]:  # fmt: skip
    """One ``cpt.train`` run; returns its evaluation report (step 0 = the starting model)."""
    cfg = {
        "model": model,
        "data": {
            "domain": [{"path": str(data["dom"]), "name": "licenses"}],
            "general": [{"path": str(data["gen"]), "name": "sotu"}],
            "alpha": alpha,
            "seq_len": SEQ,
            "micro_batch_size": BATCH,
        },
        "optim": {"base_lr": lr, "beta": 1.0, "weight_decay": 0.0, "grad_clip": 0.0},
        "schedule": {"kind": "constant", "max_steps": steps, "warmup_frac": 0.0},
        "checkpoint": {"every": 0, "keep_last": 1},
        "logging": {"every": 10, "tensorboard": False, "plots": False, "progress": "off"},
        "run": {"dir": str(tmp / name), "seed": 1, "threads": 2},
        "eval": {
            "every": steps,
            "heldout": {"domain": [str(data["dom-held"])], "general": [str(data["gen-held"])]},
            "ppl_tokens": 4096,
            "seq_len": SEQ,
            "batch_size": 16,
            "tensorboard": False,
        },
    }
    if alpha == 0.0:  # the tiny "pretraining" run is not evaluated
        del cfg["eval"]
    train(load_config(data=cfg))
    report = tmp / name / "report.json"
    return json.loads(report.read_text()) if report.exists() else {}


@pytest.mark.slow  # five short training runs
def test_replay_and_lower_lr_forget_less(tmp_path: Path) -> None:
    tokenizer().save_pretrained(tmp_path / "tok")
    data = _data(tmp_path)
    fresh = {
        "init": {"vocab_size": len(tokenizer()), "hidden_size": 32, "intermediate_size": 64,
                 "layers": 2, "heads": 4, "kv_heads": 4, "max_position": SEQ},
        "tokenizer": str(tmp_path / "tok"),
    }  # fmt: skip
    _run(tmp_path, "base", data, fresh, 80, 3e-3, 0.0)  # "pretraining": general text only
    base = {"path": str(tmp_path / "base" / "final")}
    table = {}
    for alpha in (1.0, 0.5):
        for lr in (1e-2, 1e-3):
            report = _run(tmp_path, f"a{alpha}-lr{lr}", data, base, 40, lr, alpha)
            start, end = report["evaluations"][0]["metrics"], report["evaluations"][-1]["metrics"]
            g0, d0 = start["ppl/general"], start["ppl/domain"]
            g, d = end["ppl/general"], end["ppl/domain"]
            table[(alpha, lr)] = ((g - g0) / g0, (d0 - d) / d0)
    print(f"\nbase: general ppl {g0:.2f}, domain ppl {d0:.2f}; {40 * BATCH * SEQ} tokens each")
    for (alpha, lr), (reg, gain) in table.items():
        print(
            f"alpha {alpha:.1f} lr {lr:.0e}: "
            f"general ppl {100 * reg:+.1f} %, domain ppl {-100 * gain:+.1f} %"
        )
    for lr in (1e-2, 1e-3):  # replay protects general text at either LR
        assert table[(0.5, lr)][0] < table[(1.0, lr)][0]
    assert table[(1.0, 1e-3)][0] < table[(1.0, 1e-2)][0]  # a lower LR forgets less
    assert all(gain > 0 for _, gain in table.values())  # every run learns the domain
