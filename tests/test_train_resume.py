"""Exact resume (torchtitan style) and the evaluation hook's actions across a resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_train_util import tiny_config

from cpt.checkpoint import list_checkpoints
from cpt.train.config import load_config
from cpt.train.hooks import Action, TrainingView
from cpt.train.loop import train


class Crash(RuntimeError):
    pass


class Recorder:
    """on_step callback: token ids and loss of every step; optionally crash at a step."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.crash_at = crash_at
        self.steps: dict[int, tuple[list[np.ndarray], float]] = {}

    def __call__(self, step: int, batch: Any, loss: torch.Tensor) -> None:
        if step == self.crash_at:
            raise Crash(f"simulated crash at step {step}")
        self.steps[step] = ([mb["input_ids"].copy() for mb in batch.micro_batches], loss.item())


class ScriptedHook:
    """A test evaluation hook: fixed actions at fixed steps; counts its calls in its state."""

    every = 1

    def __init__(self, script: dict[int, list[Action]], protect: set[Path] | None = None) -> None:
        self.script = script
        self.calls: list[int] = []
        self.checkpoints: list[int] = []
        self.protect = protect or set()
        self.finalized = False

    def evaluate(self, model: Any, view: TrainingView) -> list[Action]:
        self.calls.append(view.step)
        model.train()
        return list(self.script.get(view.step, []))

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.checkpoints.append(step)

    def protected_checkpoints(self) -> set[Path]:
        return set(self.protect)

    def finalize(self, model: Any, view: TrainingView) -> None:
        self.finalized = True

    def state_dict(self) -> dict[str, Any]:
        return {"calls": list(self.calls), "checkpoints": list(self.checkpoints)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = list(state["calls"])
        self.checkpoints = list(state["checkpoints"])


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "final" / "model.safetensors"))


def test_resume_gives_identical_next_batches_and_losses(tmp_path: Path) -> None:
    ref = Recorder()
    train(load_config(data=tiny_config(tmp_path, tmp_path / "ref")), on_step=ref)

    crashed = Recorder(crash_at=6)  # checkpoint at 4 exists, steps 5-6 are lost
    with pytest.raises(Crash):
        train(load_config(data=tiny_config(tmp_path, tmp_path / "b")), on_step=crashed)
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [4]

    resumed = Recorder()
    result = train(load_config(data=tiny_config(tmp_path, tmp_path / "b")), on_step=resumed)
    assert sorted(resumed.steps) == [5, 6, 7, 8]  # no replay of steps 1-4
    for step in (5, 6, 7, 8):
        ids_ref, loss_ref = ref.steps[step]
        ids_new, loss_new = resumed.steps[step]
        assert all(np.array_equal(a, b) for a, b in zip(ids_ref, ids_new))
        assert loss_new == loss_ref  # bit-exact
    assert result.steps == 8
    w_ref, w_new = _weights(tmp_path / "ref"), _weights(tmp_path / "b")
    assert all(torch.equal(w_ref[k], w_new[k]) for k in w_ref)


def test_actions_are_applied_and_survive_resume(tmp_path: Path) -> None:
    script = {
        2: [Action("lower_lr", 0.5, "general ppl up")],
        3: [Action("raise_replay", 0.25, "forgetting")],
    }

    def run(run_dir: Path, crash_at: int | None = None) -> tuple[ScriptedHook, Any]:
        hook = ScriptedHook(script)
        cfg = load_config(data=tiny_config(tmp_path, run_dir, logging={"every": 1}))
        return hook, train(cfg, hook=hook, on_step=Recorder(crash_at))

    hook_ref, result_ref = run(tmp_path / "ref")
    assert hook_ref.calls == list(range(9))  # step 0 (the base model) and after every step
    assert [(a["step"], a["kind"], a["value"]) for a in result_ref.actions] == [
        (2, "lower_lr", 0.5),
        (3, "raise_replay", 0.25),
    ]
    assert hook_ref.finalized and hook_ref.checkpoints == [4, 8]
    log = [json.loads(x) for x in (tmp_path / "ref" / "log.jsonl").read_text().splitlines()]
    steps = {r["step"]: r for r in log if "loss" in r}
    # lower_lr at step 2 halves the LR of later steps; raise_replay at 3 sets alpha from step 4
    from cpt.schedule import LRSchedule

    sched = LRSchedule.build(
        base_lr=1e-2, beta=1.0, total_steps=8, warmup_frac=0.25, min_lr_ratio=0.1
    )
    assert steps[2]["lr"] == pytest.approx(sched(1))
    assert steps[3]["lr"] == pytest.approx(0.5 * sched(2))
    assert steps[3]["alpha"] == pytest.approx(3 / 4) and steps[4]["alpha"] == pytest.approx(1 / 4)
    assert steps[8]["alpha_target"] == 0.25

    with pytest.raises(Crash):
        run(tmp_path / "b", crash_at=6)
    hook_b, result_b = run(tmp_path / "b")
    assert result_b.actions == result_ref.actions  # restored, not re-decided
    assert hook_b.calls == hook_ref.calls  # hook state restored from the checkpoint
    w_ref, w_new = _weights(tmp_path / "ref"), _weights(tmp_path / "b")
    assert all(torch.equal(w_ref[k], w_new[k]) for k in w_ref)


def test_stop_action_ends_with_final_checkpoint(tmp_path: Path) -> None:
    hook = ScriptedHook({3: [Action("stop", 1.0, "regression too large")]})
    cfg = load_config(data=tiny_config(tmp_path, tmp_path / "run"))
    result = train(cfg, hook=hook)
    assert result.steps == 3 and result.stopped_early
    assert [s for s, _ in list_checkpoints(tmp_path / "run" / "checkpoints")] == [3]
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()


def test_world_size_change_refused_unless_resharding(tmp_path: Path) -> None:
    from cpt import InputError

    run_dir = tmp_path / "run"
    with pytest.raises(Crash):
        train(load_config(data=tiny_config(tmp_path, run_dir)), on_step=Recorder(crash_at=5))
    ckpt = run_dir / "checkpoints" / "step-0000004" / "trainer_state.json"
    state = json.loads(ckpt.read_text())
    state["loader"]["world_size"] = 2  # as if written by a 2-process run
    ckpt.write_text(json.dumps(state))
    with pytest.raises(InputError, match="data-parallel size was 2, now 1"):
        train(load_config(data=tiny_config(tmp_path, run_dir)))
    result = train(
        load_config(data=tiny_config(tmp_path, run_dir, data={"reshard_on_resume": True}))
    )
    assert result.steps == 8


def test_changed_source_refused(tmp_path: Path) -> None:
    from test_train_util import corpus

    from cpt import InputError
    from cpt.data.sources import write_raw_tokens

    run_dir = tmp_path / "run"
    with pytest.raises(Crash):
        train(load_config(data=tiny_config(tmp_path, run_dir)), on_step=Recorder(crash_at=5))
    write_raw_tokens(tmp_path / "gen.bin", corpus(99, 150, 20, 150, 100, 250))  # re-tokenized
    with pytest.raises(InputError, match="cannot resume the data stream: sources were"):
        train(load_config(data=tiny_config(tmp_path, run_dir)))


def test_rotation_keeps_last_n_and_protected(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    protect = {run_dir / "checkpoints" / "step-0000002"}
    hook = ScriptedHook({}, protect=protect)
    hook.every = 0
    cfg = load_config(data=tiny_config(tmp_path, run_dir, checkpoint={"every": 1, "keep_last": 2}))
    train(cfg, hook=hook)
    kept = [s for s, _ in list_checkpoints(run_dir / "checkpoints")]
    assert kept == [2, 7, 8]
    assert hook.calls == []  # every = 0: never evaluated
    assert not list((run_dir / "checkpoints").glob("*.tmp"))


def _logged_steps(run_dir: Path) -> list[int]:
    records = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return [r["step"] for r in records if "loss" in r]


def test_log_has_every_step_once_after_a_crash_and_resume(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, tmp_path / "ref", logging={"every": 1})
    train(load_config(data=cfg))
    run_dir = tmp_path / "b"
    cfg = tiny_config(tmp_path, run_dir, logging={"every": 1})
    with pytest.raises(Crash):
        train(load_config(data=cfg), on_step=Recorder(crash_at=7))
    assert _logged_steps(run_dir) == [1, 2, 3, 4, 5, 6]  # 5, 6 are trained again on resume
    train(load_config(data=cfg))
    assert _logged_steps(run_dir) == list(range(1, 9))

    def losses(d: Path) -> list[float]:
        return [r["loss"] for r in map(json.loads, (d / "log.jsonl").open()) if "loss" in r]

    assert losses(run_dir) == losses(tmp_path / "ref")
    events = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    ckpts = [e["step"] for e in events if e.get("event") == "checkpoint"]
    assert ckpts == [4, 8]
    start = [e for e in events if e.get("event") == "start"]
    assert start[-1]["resumed_at"] == 4
    assert start[-1]["log_trimmed"] == "removed 2 records logged after the checkpoint"
