"""Real data parallelism: two CPU processes (torchrun + gloo through Accelerate) train the same
model as one process with the same global batch; a resume with another world size is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from test_train_util import tiny_config

from cpt.train.config import load_config
from cpt.train.loop import train

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # two processes importing torch: ~30-60 s on 2 shared cores


def test_two_ranks_match_one_rank_with_same_global_batch(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    two = tiny_config(
        tmp_path, tmp_path / "two", data={"micro_batch_size": 2}, run={"deterministic": False}
    )
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(two))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "-m",
            "cpt.train",
            "--config",
            str(tmp_path / "two.yaml"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "world_size=2" in proc.stdout

    one = tiny_config(
        tmp_path, tmp_path / "one", data={"micro_batch_size": 4}, run={"deterministic": False}
    )
    train(load_config(data=one))
    w_two = load_file(str(tmp_path / "two" / "final" / "model.safetensors"))
    w_one = load_file(str(tmp_path / "one" / "final" / "model.safetensors"))
    for key in w_one:  # same data, same averaged gradients: equal up to float summation order
        # (Adam amplifies rounding a little; a different batch would move weights by ~1e-2)
        assert torch.allclose(w_one[key], w_two[key], atol=1e-4), key

    refused = subprocess.run(
        [sys.executable, "-m", "cpt.train", "--config", str(tmp_path / "two.yaml")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert refused.returncode == 2
    assert "data-parallel size was 2, now 1" in refused.stderr
