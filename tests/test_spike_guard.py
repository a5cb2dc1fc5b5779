"""The loss-spike guard: a spike is skipped, M spikes roll back to the last checkpoint with the
LR lowered, and the run then continues bit-identically to a plain resume at that LR."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from test_train_util import tiny_config

from cpt.train.config import SpikeGuardConfig, load_config
from cpt.train.loop import Trainer
from cpt.train.spike import SpikeGuard

GUARD = {"enabled": True, "window": 3, "factor": 2.0, "max_spikes": 2, "lr_factor": 0.5}


def test_guard_calls_spikes_against_the_running_median() -> None:
    guard = SpikeGuard(SpikeGuardConfig(enabled=True, window=3, factor=2.0, max_spikes=2))
    assert [guard.observe(x) for x in (5.0, 4.0, 3.0)] == ["ok"] * 3  # filling the window
    assert guard.threshold() == 8.0
    assert guard.observe(8.5) == "spike"  # > 2 x median(5, 4, 3)
    assert guard.observe(7.9) == "ok"  # the spike did not enter the window
    assert guard.threshold() == 2.0 * 4.0  # median(4, 3, 7.9)
    assert guard.observe(float("nan")) == "rollback"  # second spike: NaN counts
    state = guard.state_dict()
    again = SpikeGuard(guard.config)
    again.load_state_dict(json.loads(json.dumps(state)))
    assert again.state_dict() == state


class SpikyTrainer(Trainer):
    """Injects a spike (loss x 10, so its gradient too) the first time each given step trains,
    and records a weight checksum after every step."""

    def __init__(self, cfg: Any, spike_steps: set[int], **kw: Any) -> None:
        super().__init__(cfg, **kw)
        self.pending = set(spike_steps)
        self.weights: dict[int, float] = {}

    def _loss(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = super()._loss(inputs)
        step = self.state.step + 1
        return loss * 10.0 if step in self.pending else loss

    def _train_step(self, batch: Any) -> tuple[torch.Tensor, str]:
        out = super()._train_step(batch)
        self.pending.discard(self.state.step + 1)
        total = sum(float(p.detach().double().sum()) for p in self.model.parameters())
        self.weights[self.state.step + 1] = total
        return out


def _losses() -> tuple[dict[int, float], Any]:
    seen: dict[int, float] = {}

    def on_step(step: int, batch: Any, loss: torch.Tensor) -> None:
        seen[step] = loss.item()

    return seen, on_step


def test_spike_skipped_then_rollback_resumes_bit_identically(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    cfg_a = load_config(
        data=tiny_config(tmp_path, tmp_path / "a", optim={"spike_guard": GUARD},
                         logging={"every": 1})
    )  # fmt: skip
    seen_a, on_step_a = _losses()
    trainer = SpikyTrainer(cfg_a, {6, 7}, on_step=on_step_a)
    before_rollback: dict[int, float] = {}

    def first_pass(step: int, batch: Any, loss: torch.Tensor) -> None:
        before_rollback.setdefault(step, trainer.weights[step])  # the first time a step trains
        on_step_a(step, batch, loss)

    trainer.on_step = first_pass
    result = trainer.run()
    # step 6 was a spike: skipped, so the weights after it equal those after step 5
    assert before_rollback[6] == before_rollback[5]
    records = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    spikes = [r for r in records if r.get("event") == "spike"]
    assert [(r["step"], r["skipped"]) for r in spikes] == [(6, True), (7, True)]
    assert spikes[0]["loss"] > spikes[0]["threshold"]
    [rollback] = [a for a in result.actions if a["kind"] == "rollback"]
    assert rollback["from_step"] == 7 and rollback["step"] == 4 and rollback["value"] == 0.5
    assert result.steps == 8

    # A plain run from that checkpoint with the LR multiplier lowered the same way.
    ckpt = tmp_path / "b" / "checkpoints" / "step-0000004"
    shutil.copytree(tmp_path / "a" / "checkpoints" / "step-0000004", ckpt)
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["run"]["lr_multiplier"] == 1.0
    state["run"]["lr_multiplier"] = 0.5
    (ckpt / "trainer_state.json").write_text(json.dumps(state))
    cfg_b = load_config(
        data=tiny_config(tmp_path, tmp_path / "b", optim={"spike_guard": GUARD},
                         logging={"every": 1})
    )  # fmt: skip
    seen_b, on_step_b = _losses()
    Trainer(cfg_b, on_step=on_step_b).run()
    assert sorted(seen_b) == [5, 6, 7, 8]
    for step in (5, 6, 7, 8):
        assert seen_a[step] == seen_b[step]  # bit-exact losses after the rollback
    w_a = load_file(str(tmp_path / "a" / "final" / "model.safetensors"))
    w_b = load_file(str(tmp_path / "b" / "final" / "model.safetensors"))
    assert all(torch.equal(w_a[k], w_b[k]) for k in w_a)
    lr_a = {r["step"]: r["lr"] for r in records if "lr" in r}
    lr_b = {
        r["step"]: r["lr"]
        for r in map(json.loads, (tmp_path / "b" / "log.jsonl").read_text().splitlines())
        if "lr" in r
    }
    assert lr_a[8] == lr_b[8]


@pytest.mark.parametrize("key", ["window", "max_spikes"])
def test_guard_keys_are_checked(tmp_path: Path, key: str) -> None:
    from cpt import ConfigError

    with pytest.raises(ConfigError, match=f"'optim.spike_guard.{key}': 0 is out of range"):
        load_config(data=tiny_config(tmp_path, tmp_path / "r", optim={"spike_guard": {key: 0}}))
