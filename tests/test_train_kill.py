"""A run killed with SIGKILL two steps after a checkpoint, then restarted, ends with the same
weights, and its log.jsonl holds every step once (the replayed steps are not logged twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml
from test_train_util import tiny_config

from cpt.train.config import load_config
from cpt.train.loop import train

REPO = Path(__file__).resolve().parents[1]

# Three Python processes importing torch + transformers: ~40 s on a shared 2-core machine.
pytestmark = pytest.mark.slow

# A hook (loaded through run.hook) that freezes the run after step 6 is logged, two steps past
# the step-4 checkpoint, so the test kills it at a known point, whatever the speed.
HOOK = textwrap.dedent("""
    import os, time
    from pathlib import Path

    class Freeze:
        every = 1
        def evaluate(self, model, view):
            marker = os.environ.get("CPT_TEST_FREEZE")
            if marker and view.step == 6:
                Path(marker).write_text(str(view.step))
                while True:
                    time.sleep(1)
            return []
        def on_checkpoint(self, step, path): pass
        def protected_checkpoints(self): return set()
        def finalize(self, model, view): pass
        def state_dict(self): return {}
        def load_state_dict(self, state): pass

    def build(cfg, accelerator, run_dir):
        return Freeze()
""")


def _run(cfg_path: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cpt.train", "--config", str(cfg_path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "final" / "model.safetensors"))


def test_sigkill_and_restart_matches_uninterrupted(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "freezehook.py").write_text(HOOK)
    monkeypatch.syspath_prepend(str(tmp_path))
    env = dict(
        os.environ,
        PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        OMP_NUM_THREADS="1",
    )
    configs = {}
    for name in ("ref", "killed"):
        cfg = tiny_config(
            tmp_path,
            tmp_path / name,
            run={"hook": "freezehook:build"},
            checkpoint={"every": 4, "keep_last": 2},
            logging={"every": 1},
        )
        configs[name] = tmp_path / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(cfg))

    marker = tmp_path / "frozen"
    victim = _run(configs["killed"], dict(env, CPT_TEST_FREEZE=str(marker)))
    # The uninterrupted reference runs in this process meanwhile (same config, 1 thread).
    train(load_config(configs["ref"]))

    deadline = time.monotonic() + 300  # a generous bound on start-up, not a timing assumption
    while not marker.exists():
        assert victim.poll() is None, victim.stdout.read().decode() if victim.stdout else ""
        assert time.monotonic() < deadline, "the run never reached step 6"
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "final").exists()
    assert _logged_steps(tmp_path / "killed") == [1, 2, 3, 4, 5, 6]
    # leave a half-written checkpoint behind too, as a kill during a write would
    (tmp_path / "killed" / "checkpoints" / "step-0000006.tmp").mkdir()

    again = _run(configs["killed"], env)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out.decode()
    assert "resumed_at=4" in out.decode()
    w_ref, w_new = _weights(tmp_path / "ref"), _weights(tmp_path / "killed")
    assert w_ref.keys() == w_new.keys()
    assert all(torch.equal(w_ref[k], w_new[k]) for k in w_ref)
    assert _logged_steps(tmp_path / "killed") == list(range(1, 9))  # steps 5, 6 once each
    assert _losses(tmp_path / "killed") == _losses(tmp_path / "ref")


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]


def _logged_steps(run_dir: Path) -> list[int]:
    return [r["step"] for r in _records(run_dir) if "loss" in r]


def _losses(run_dir: Path) -> list[float]:
    return [r["loss"] for r in _records(run_dir) if "loss" in r]
