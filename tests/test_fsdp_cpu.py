"""FSDP on CPU. Accelerate 1.15 does not apply FSDP on CPU (its AcceleratorState enables FSDP
only for GPU-like distributed types; MULTI_CPU gets DDP), so an ``accelerate launch`` with
``configs/accelerate/fsdp-cpu.yaml`` is refused by the trainer with that reason rather than
silently trained as DDP. PyTorch's FSDP2 itself runs on CPU with gloo: the second test shards a
tiny Llama over two processes with ``fully_shard``, trains it with cpt's EWC on the sharded
parameters, and checks the losses against one process, the sharded (DCP) state dict and the
full state dict saved as a loadable HF model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from test_train_util import tiny_config

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # two processes importing torch + transformers: ~30-60 s


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{REPO}:{REPO / 'tests'}")


def test_accelerate_fsdp_launch_on_cpu_is_refused_with_the_reason(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, tmp_path / "run", optim={"ewc": {"fisher_samples": 2}})
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         str(REPO / "configs" / "accelerate" / "fsdp-cpu.yaml"), "-m", "cpt.train",
         "--config", str(tmp_path / "run.yaml")],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "asks for FSDP, but Accelerate set up MULTI_CPU" in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / "run" / "final").exists()


def _run(out: Path, nproc: int) -> dict:
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
         str(REPO / "tests" / "fsdp_cpu_worker.py"), str(out)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


def test_fsdp2_on_cpu_with_ewc_matches_one_process_and_saves_a_loadable_model(
    tmp_path: Path,
) -> None:
    from transformers import AutoModelForCausalLM

    two = _run(tmp_path / "two", 2)
    one = _run(tmp_path / "one", 1)
    assert two["placement"] == "(Shard(dim=0),)" and one["placement"] == "replicated"
    # Same data, same averaged gradients: equal up to float summation order (gloo's reduce
    # and the sharded optimizer). A different batch moves the loss by > 1e-2.
    assert two["losses"] == pytest.approx(one["losses"], abs=1e-4)
    assert two["penalties"] == pytest.approx(one["penalties"], rel=1e-3, abs=1e-9)
    assert two["penalties"][-1] > 0
    assert two["dcp_reload_equal"] and one["dcp_reload_equal"]
    # each rank holds half of the Fisher + anchor (shard 0 of dim 0, all dims even here)
    assert two["ewc_bytes_rank0"] == one["ewc_bytes_rank0"] // 2
    m_two = AutoModelForCausalLM.from_pretrained(tmp_path / "two" / "hf")
    m_one = AutoModelForCausalLM.from_pretrained(tmp_path / "one" / "hf")
    for (name, a), (_, b) in zip(m_two.named_parameters(), m_one.named_parameters()):
        assert torch.allclose(a, b, atol=1e-4), name
