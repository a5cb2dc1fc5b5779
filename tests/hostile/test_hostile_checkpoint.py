"""Hostile checkpoints: crafted pickles must not run, and a checkpoint of another run (seed,
model, architecture, vocabulary, tokenizer) is refused before any tensor is restored, naming
the checkpoint's value and this run's."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from test_train_util import tiny_config

import cpt
from cpt.checkpoint import CheckpointError
from cpt.train.config import load_config
from cpt.train.loop import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny run (8 steps, checkpoints at 4 and 8); cases copy its step-4 checkpoint."""
    root = tmp_path_factory.mktemp("trained")
    train(load_config(data=tiny_config(root, root / "run")))
    return root


@pytest.fixture
def ckpt(trained: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ckpt"
    shutil.copytree(trained / "run" / "checkpoints" / "step-0000004", dest)
    return dest


def resume(trained: Path, tmp_path: Path, ckpt: Path, **sections: Any) -> Callable[[], Any]:
    """A fresh run dir resuming ``ckpt`` explicitly, with config changes ``sections``."""
    sections.setdefault("checkpoint", {})
    sections["checkpoint"] = {"resume": str(ckpt), **sections["checkpoint"]}

    def run() -> Any:
        return train(load_config(data=tiny_config(trained, tmp_path / "new", **sections)))

    return run


class Evil:
    """Unpickling this runs ``open(marker, 'w')``: the classic pickle payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def edit_state(ckpt: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = ckpt / "trainer_state.json"
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))


def test_checkpoint_holds_no_pickled_hook_state(trained: Path) -> None:
    step = trained / "run" / "checkpoints" / "step-0000004"
    state = json.loads((step / "trainer_state.json").read_text())
    assert {"identity", "log"} <= set(state)
    assert state["identity"]["seed"] == 7
    assert not list(step.glob("*.pt"))


def test_legacy_pickled_hook_state_is_not_loaded(
    hostile: Any, trained: Path, tmp_path: Path, ckpt: Path
) -> None:
    marker = tmp_path / "pwned"
    torch.save({"x": Evil(marker)}, ckpt / "hook_state.pt")
    result = hostile.accepted(resume(trained, tmp_path, ckpt))
    assert result.steps == 8
    assert not marker.exists(), "a pickle in the checkpoint ran code"


@pytest.mark.parametrize("name", ["random_states_0.pkl", "optimizer.bin"])
def test_crafted_pickle_in_accelerate_state_is_refused(
    hostile: Any, trained: Path, tmp_path: Path, ckpt: Path, name: str
) -> None:
    assert (ckpt / name).is_file()
    marker = tmp_path / "pwned"
    torch.save({"x": Evil(marker)}, ckpt / name)
    hostile.check(resume(trained, tmp_path, ckpt), CheckpointError, str(ckpt), "refused")
    assert not marker.exists(), "a pickle in the checkpoint ran code"


def test_other_seed_refused(hostile: Any, trained: Path, tmp_path: Path, ckpt: Path) -> None:
    run = resume(trained, tmp_path, ckpt, run={"seed": 8})
    hostile.check(run, CheckpointError, str(ckpt), "run.seed: checkpoint 7, this run 8")


def test_other_seed_allowed_by_the_override(
    hostile: Any, trained: Path, tmp_path: Path, ckpt: Path
) -> None:
    run = resume(trained, tmp_path, ckpt, run={"seed": 8}, checkpoint={"allow_mismatch": True})
    assert hostile.accepted(run).steps == 8


def test_architecture_change_refused(
    hostile: Any, trained: Path, tmp_path: Path, ckpt: Path
) -> None:
    init = dict(tiny_config(trained, tmp_path)["model"]["init"], hidden_size=64)
    run = resume(trained, tmp_path, ckpt, model={"init": init})
    err = hostile.check(run, CheckpointError, str(ckpt), "does not fit", "parameter model.")
    assert "[256, 32]" in str(err) and "[256, 64]" in str(err)


def test_architecture_change_not_overridable(
    hostile: Any, trained: Path, tmp_path: Path, ckpt: Path
) -> None:
    init = dict(tiny_config(trained, tmp_path)["model"]["init"], layers=3)
    run = resume(trained, tmp_path, ckpt, model={"init": init}, checkpoint={"allow_mismatch": True})
    hostile.check(run, CheckpointError, "model.layers.2", "cannot load weights of other shapes")


def test_vocabulary_change_refused(hostile: Any, trained: Path, tmp_path: Path, ckpt: Path):
    init = dict(tiny_config(trained, tmp_path)["model"]["init"], vocab_size=300)
    run = resume(trained, tmp_path, ckpt, model={"init": init})
    hostile.check(run, CheckpointError, "model.embed_tokens.weight", "[256, 32]", "[300, 32]")


def test_other_tokenizer_refused(hostile: Any, trained: Path, tmp_path: Path, ckpt: Path):
    edit_state(ckpt, lambda s: s["identity"].update(tokenizer="xxh3_64:00000000000000aa"))
    run = resume(trained, tmp_path, ckpt)
    hostile.check(run, CheckpointError, "tokenizer hash", "xxh3_64:00000000000000aa", "None")


def test_other_model_path_refused(hostile: Any, trained: Path, tmp_path: Path, ckpt: Path):
    edit_state(ckpt, lambda s: s["identity"]["model"].update(source="/models/other"))
    hostile.check(resume(trained, tmp_path, ckpt), CheckpointError, "model.path", "/models/other")


def test_model_config_change_refused(hostile: Any, trained: Path, tmp_path: Path, ckpt: Path):
    """Same shapes, other behaviour (RoPE base): caught by the config hash."""
    init = dict(tiny_config(trained, tmp_path)["model"]["init"], extra={"rms_norm_eps": 1e-3})
    run = resume(trained, tmp_path, ckpt, model={"init": init})
    hostile.check(run, CheckpointError, str(ckpt), "model config hash")


def test_no_identity_refused(hostile: Any, trained: Path, tmp_path: Path, ckpt: Path) -> None:
    edit_state(ckpt, lambda s: s.pop("identity"))
    run = resume(trained, tmp_path, ckpt)
    hostile.check(run, CheckpointError, str(ckpt), "no run identity", "checkpoint.allow_mismatch")


def test_trainer_state_not_json(hostile: Any, trained: Path, tmp_path: Path, ckpt: Path):
    (ckpt / "trainer_state.json").write_text('{"run": ')
    run = resume(trained, tmp_path, ckpt)
    hostile.check(run, CheckpointError, "trainer_state.json", "invalid JSON")


@pytest.mark.parametrize(
    "case,change,words",
    [
        ("run-unknown-key", lambda s: s["run"].update(bogus=1), ["key 'run'", "bogus"]),
        ("run-missing", lambda s: s.pop("run"), ["key 'run'", "missing"]),
        ("loader-list", lambda s: s.update(loader=[1]), ["key 'loader'"]),
        ("loader-bad-step", lambda s: s["loader"].update(step="x"), ["data-loader state"]),
        ("loader-bad-key", lambda s: s["loader"].update(zz=1), ["data-loader state", "zz"]),
        ("mixer-missing", lambda s: s["loader"].update(mixer={}), ["mixer state", "alpha"]),
    ],
)
def test_malformed_trainer_state(
    hostile: Any, trained: Path, tmp_path: Path, ckpt: Path, case: str, change: Any, words: Any
) -> None:
    edit_state(ckpt, change)
    hostile.check(resume(trained, tmp_path, ckpt), cpt.InputError, *words)


def test_hook_state_not_an_object(hostile: Any, trained: Path, tmp_path: Path, ckpt: Path):
    (ckpt / "hook_state.json").write_text("[1]")
    hostile.check(resume(trained, tmp_path, ckpt), CheckpointError, "hook_state.json", "object")


def test_truncated_model_weights(hostile: Any, trained: Path, tmp_path: Path, ckpt: Path):
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    hostile.check(resume(trained, tmp_path, ckpt), CheckpointError, str(ckpt), "cannot restore")


def test_resume_path_not_a_checkpoint(hostile: Any, trained: Path, tmp_path: Path) -> None:
    run = resume(trained, tmp_path, tmp_path / "nowhere")
    hostile.check(run, cpt.ConfigError, "checkpoint.resume", "nowhere")


def test_resume_dir_without_state(hostile: Any, trained: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = resume(trained, tmp_path, tmp_path / "empty")
    hostile.check(run, CheckpointError, "empty", "no trainer_state.json")


def test_env_var_cannot_turn_pickles_back_on(
    hostile: Any, trained: Path, tmp_path: Path, ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    torch.save({"x": Evil(marker)}, ckpt / "random_states_0.pkl")
    hostile.check(resume(trained, tmp_path, ckpt), CheckpointError, "refused")
    assert not marker.exists()
    assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1"  # restored afterwards
