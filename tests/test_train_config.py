"""Config loading: YAML + overrides, clear errors for unknown keys, bad values, missing files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_train_util import tiny_config

from cpt import ConfigError
from cpt.train.config import load_config

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_yaml_and_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, tiny_config(tmp_path, tmp_path / "run"))
    cfg = load_config(
        path,
        [
            "data.alpha=0.5",
            "optim.mixed_precision=no",
            "data.domain.0.weight=2",
            "schedule.total_tokens=1e6",
            "schedule.max_steps=null",
        ],
    )
    assert cfg.data.alpha == 0.5 and cfg.optim.mixed_precision == "no"
    assert cfg.data.domain[0].weight == 2.0 and cfg.data.domain[0].format == "raw"
    assert cfg.schedule.total_tokens == 1_000_000 and cfg.schedule.max_steps is None
    assert cfg.optim.beta == 1.0 and cfg.checkpoint.keep_last == 5


def test_defaults_follow_design() -> None:
    from cpt.train.config import DataConfig, OptimConfig, ScheduleConfig

    assert DataConfig().alpha == 0.7
    assert OptimConfig().beta == 0.1 and OptimConfig().weight_decay == 0.1
    assert ScheduleConfig().warmup_frac == 0.01 and ScheduleConfig().min_lr_ratio == 0.1


@pytest.mark.parametrize(
    "override,needle",
    [
        ("optim.lerning_rate=1", "unknown config key 'optim.lerning_rate'"),
        ("data.alpah=0.5", "did you mean 'alpha'"),
        ("modle.path=x", "did you mean 'model'"),
        ("data.alpha=1.5", "'data.alpha': 1.5 is out of range (must be >= 0.0 and <= 1.0)"),
        (
            "optim.mixed_precision=fp8",
            "'optim.mixed_precision': 'fp8' is not one of auto, no, bf16",
        ),
        ("data.seq_len=abc", "'data.seq_len': expected an integer, got 'abc'"),
        ("data.domain.0.weight=0", "'data.domain.0.weight': 0.0 is out of range (must be > 0.0)"),
        (
            "data.domain.0.format=parquet",
            "'data.domain.0.format': 'parquet' is not one of cpt, raw",
        ),
        ("schedule.max_steps=null", "exactly one of 'schedule.max_steps'"),
        ("data.general=[]", "no general sources but alpha=0.7"),
        ("data.domain.3.path=x", "'3' is not an index of the list 'data.domain'"),
        ("logging.tensorboard=maybe", "'logging.tensorboard': expected true/false"),
    ],
)
def test_bad_config_messages(tmp_path: Path, override: str, needle: str) -> None:
    path = _write(tmp_path, tiny_config(tmp_path, tmp_path / "run"))
    with pytest.raises(ConfigError) as err:
        load_config(path, [override])
    assert needle in str(err.value)


def test_missing_data_file_named(tmp_path: Path) -> None:
    from cpt.train.loop import train

    raw = tiny_config(tmp_path, tmp_path / "run")
    raw["data"]["general"] = [{"path": str(tmp_path / "nope.bin")}]
    with pytest.raises(ConfigError, match=r"nope\.bin: file not found"):
        train(load_config(data=raw))


def test_bad_dtype_size_named(tmp_path: Path) -> None:
    from cpt.train.loop import train

    raw = tiny_config(tmp_path, tmp_path / "run")
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x01\x00\x02\x00\x03")
    raw["data"]["general"] = [{"path": str(odd)}]
    with pytest.raises(ConfigError, match="not a multiple of uint16"):
        train(load_config(data=raw))


def test_cli_reports_errors_without_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, tiny_config(tmp_path, tmp_path / "run"))
    proc = subprocess.run(
        [sys.executable, "-m", "cpt.train", "--config", str(path), "optim.wieght_decay=0.2"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "unknown config key 'optim.wieght_decay'; did you mean 'weight_decay'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_help_lists_every_key() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cpt.train", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0
    for key in (
        "data.alpha = 0.7",
        "optim.beta = 0.1",
        "schedule.warmup_frac = 0.01",
        "checkpoint.resume = 'auto'",
        "data.reshard_on_resume",
        "run.hook",
        "eval = {}",
    ):
        assert key in proc.stdout


@pytest.mark.parametrize(
    "name", ["demo-cpu.yaml", "smollm2-135m-cpu.yaml", "llama3-8b-fsdp-8gpu.yaml"]
)
def test_shipped_configs_validate(name: str) -> None:
    cfg = load_config(REPO / "configs" / name)
    assert 0 < cfg.data.alpha <= 1


def test_eval_section_without_evaluation_package(tmp_path: Path) -> None:
    import importlib.util

    from cpt.train.loop import train

    if importlib.util.find_spec("cpt.evaluate") is not None:
        pytest.skip("cpt.evaluate is present: the hook is built for real")
    raw = tiny_config(tmp_path, tmp_path / "run")
    raw["eval"] = {"every": 2}
    with pytest.raises(ConfigError, match="'eval' is set but cpt.evaluate cannot be imported"):
        train(load_config(data=raw))


def test_bad_hook_reference(tmp_path: Path) -> None:
    from cpt.train.loop import train

    raw = tiny_config(tmp_path, tmp_path / "run", run={"hook": "no_such_module:build"})
    with pytest.raises(ConfigError, match="'run.hook': cannot load 'no_such_module:build'"):
        train(load_config(data=raw))
