"""Replay curriculum: data.alpha as a schedule, exact in every global batch, resumable."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_train_util import ArraySource, corpus, tiny_config

from cpt import ConfigError
from cpt.data.curriculum import AlphaSchedule
from cpt.data.loader import MixedLoader
from cpt.train.config import load_config


def _loader(alpha: object, micro: int = 2, accum: int = 2) -> MixedLoader:
    dom = ArraySource("dom", corpus(1, 50, 20, 80, 1, 100))
    gen = ArraySource("gen", corpus(2, 50, 20, 80, 100, 250))
    return MixedLoader(
        [(dom, 1.0)],
        [(gen, 1.0)],
        alpha=AlphaSchedule.from_config(alpha),
        seq_len=16,
        micro_batch_size=micro,
        grad_accum=accum,
        eos_id=0,
    )


def test_schedule_values() -> None:
    lin = AlphaSchedule("linear", [(2, 1.0), (6, 0.5)])
    assert [lin(s) for s in range(8)] == [1.0, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.5]
    st = AlphaSchedule("stages", [(0, 1.0), (3, 0.5), (5, 0.25)])
    assert [st(s) for s in range(7)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert st.bounds() == (0.25, 1.0)


@pytest.mark.parametrize(
    "alpha",
    [
        0.75,
        {"kind": "linear", "start": 1.0, "end": 0.0, "start_step": 2, "end_step": 10},
        {"kind": "stages", "stages": [{"step": 0, "alpha": 1.0}, {"step": 3, "alpha": 0.25},
                                      {"step": 7, "alpha": 0.625}]},
    ],
)  # fmt: skip
def test_realised_alpha_equals_the_schedule_in_every_batch(tmp_path: Path, alpha: object) -> None:
    from cpt.config import build
    from cpt.train.config import AlphaScheduleConfig

    spec = alpha if not isinstance(alpha, dict) else build(AlphaScheduleConfig, alpha, "data.alpha")
    schedule = AlphaSchedule.from_config(spec)
    loader = _loader(spec, micro=4, accum=2)  # global batch 8: every value above x 8 is whole
    for step in range(14):
        batch = loader.next_step()
        assert batch.target == schedule(step)
        assert batch.domain_sequences == schedule(step) * 8  # exact, not within one
        assert batch.alpha == schedule(step)


def test_fractional_schedule_is_exact_cumulatively() -> None:
    schedule = AlphaSchedule("linear", [(0, 0.9), (20, 0.3)])
    loader = _loader(schedule, micro=3, accum=1)  # global batch 3: 3 x alpha rarely whole
    done = 0
    wanted = 0.0
    for step in range(25):
        batch = loader.next_step()
        done += batch.domain_sequences
        wanted += 3 * schedule(step)
        assert done == math.floor(wanted + 1e-9)  # the remainder is carried, never lost
        assert abs(batch.domain_sequences - 3 * schedule(step)) < 1 + 1e-9


def test_resume_mid_ramp_gives_the_same_next_batches() -> None:
    schedule = AlphaSchedule("linear", [(0, 0.9), (12, 0.2)])
    ref = _loader(schedule, micro=3, accum=1)
    batches = [ref.next_step() for _ in range(10)]
    first = _loader(schedule, micro=3, accum=1)
    for _ in range(5):
        first.next_step()
    state = first.state_dict()
    again = _loader(schedule, micro=3, accum=1)
    again.load_state_dict(state)
    for want in batches[5:]:
        got = again.next_step()
        assert got.domain_sequences == want.domain_sequences and got.target == want.target
        assert all(
            np.array_equal(a["input_ids"], b["input_ids"])
            for a, b in zip(got.micro_batches, want.micro_batches)
        )


def test_monitor_action_overrides_the_schedule_and_survives_resume() -> None:
    loader = _loader(AlphaSchedule("stages", [(0, 1.0), (2, 0.75)]))
    loader.next_step()
    loader.set_alpha(0.25)  # raise_replay: from now on, whatever the schedule says
    state = loader.state_dict()
    again = _loader(AlphaSchedule("stages", [(0, 1.0), (2, 0.75)]))
    again.load_state_dict(state)
    assert [again.next_step().alpha for _ in range(3)] == [0.25, 0.25, 0.25]


@pytest.mark.parametrize(
    ("alpha", "message"),
    [
        ({"kind": "linear", "start": 1.0, "end": 0.5}, "'data.alpha.end_step': missing"),
        ({"kind": "linear", "start": 1.0, "end": 0.5, "start_step": 5, "end_step": 5},
         "'data.alpha.end_step': 5 must be after start_step 5"),
        ({"kind": "stages", "stages": [{"step": 2, "alpha": 0.5}]},
         "'data.alpha.stages.0.step': the first stage must start at step 0"),
        ({"kind": "stages", "stages": [{"step": 0, "alpha": 0.5}, {"step": 0, "alpha": 0.4}]},
         "'data.alpha.stages.1.step': 0 is not after"),
        ({"kind": "constant", "value": 1.5}, "'data.alpha.value': 1.5 is out of range"),
        ({"kind": "ramp"}, "'data.alpha.kind': 'ramp' is not one of"),
        ("lots", "'data.alpha': expected a number, got 'lots'"),
    ],
)  # fmt: skip
def test_bad_schedules_name_their_key(tmp_path: Path, alpha: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(data=tiny_config(tmp_path, tmp_path / "run", data={"alpha": alpha}))


def test_schedule_without_general_data_is_refused(tmp_path: Path) -> None:
    alpha = {"kind": "linear", "start": 1.0, "end": 0.5, "end_step": 4}
    with pytest.raises(ConfigError, match="no general sources"):
        load_config(
            data=tiny_config(tmp_path, tmp_path / "run", data={"alpha": alpha, "general": []})
        )


def test_trainer_logs_and_plots_the_curriculum(tmp_path: Path) -> None:
    import json

    from cpt.train.loop import train

    alpha = {"kind": "stages", "stages": [{"step": 0, "alpha": 1.0}, {"step": 4, "alpha": 0.5}]}
    cfg = load_config(
        data=tiny_config(
            tmp_path, tmp_path / "run", data={"alpha": alpha},
            logging={"every": 4, "plots": True},
        )
    )  # fmt: skip
    train(cfg)
    records = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    assert [r["alpha_steps"] for r in steps] == [[1.0] * 4, [0.5] * 4]  # global batch 4
    assert [r["alpha_target_steps"] for r in steps] == [[1.0] * 4, [0.5] * 4]
    assert (tmp_path / "run" / "alpha.png").stat().st_size > 0
    # print-config writes the schedule back in a form that loads again
    printed = cfg.to_dict()
    assert "eval" not in printed  # an eval section that evaluates nothing is left out
    assert load_config(data=printed) == cfg
