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


def _leaf_keys(cls: type, prefix: str = "") -> dict[str, object]:
    """Every leaf key of a config dataclass with its default, walked here (not by help_text)."""
    import dataclasses
    import typing

    out: dict[str, object] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        name = f.metadata.get("key", f.name)  # the YAML key (``lambda`` for ``lambda_``)
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = type(None) in typing.get_args(tp) and len(args) == 1
        sub = tp if dataclasses.is_dataclass(tp) else (args[0] if optional else None)
        if sub is not None and dataclasses.is_dataclass(sub):
            out.update(_leaf_keys(sub, f"{prefix}{name}."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out[prefix + name] = default
    return out


def test_cli_help_lists_every_key_with_its_default() -> None:
    from cpt.train.config import TrainConfig

    proc = subprocess.run(
        [sys.executable, "-m", "cpt.train", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0
    keys = _leaf_keys(TrainConfig)
    assert len(keys) > 80  # the eval section's keys are part of it
    for key, default in keys.items():
        assert f"  {key} = {default!r}" in proc.stdout, key
    for line in (  # a few written out by hand
        "  data.alpha = 0.7 [>= 0.0 and <= 1.0]",
        "  optim.beta = 0.1 [> 0.0 and <= 1.0]",
        "  eval.monitor.threshold = 0.03 [> 0.0]",
        "  eval.select.keep_best = 2 [>= 0]",
        "  model.init.layers = None [>= 1]",
    ):
        assert line in proc.stdout


def test_print_config_has_every_key_and_reloads(tmp_path: Path) -> None:
    from cpt.train.config import TrainConfig

    path = _write(tmp_path, tiny_config(tmp_path, tmp_path / "run"))
    args = [str(path), "eval.heldout.domain=[d.bin]", "eval.monitor.threshold=0.05"]
    proc = subprocess.run(
        [sys.executable, "-m", "cpt.train", "--print-config", "--config", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)

    def leaves(tree: dict, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for k, v in tree.items():
            if isinstance(v, dict) and k not in ("extra",):
                out |= leaves(v, f"{prefix}{k}.")
            else:
                out.add(prefix + k)
        return out

    optional = ("model.init.", "optim.ewc.")  # sections absent by default print as null
    want = {k for k in _leaf_keys(TrainConfig) if not k.startswith(optional)}
    assert want <= leaves(printed)
    assert printed["eval"]["monitor"]["threshold"] == 0.05
    again = load_config(data=printed)
    assert again == load_config(path, args[1:])


@pytest.mark.parametrize(
    "override,needle",
    [
        # issue 11: values no config should accept (each passed silently before)
        ("optim.beta=.nan", "'optim.beta': nan is not a finite number"),
        ("optim.beta=nan", "'optim.beta': 'nan' is not a finite number"),
        ("optim.base_lr=.inf", "'optim.base_lr': inf is not a finite number"),
        ("data.alpha=.nan", "'data.alpha': nan is not a finite number"),
        ("data.domain.0.weight=.inf", "'data.domain.0.weight': inf is not a finite number"),
        ("schedule.warmup_frac=.nan", "'schedule.warmup_frac': nan is not a finite number"),
        ("data.eos_id=256", "'data.eos_id': 256 is outside the vocabulary"),
        ("model.init.layer=3", "unknown config key 'model.init.layer'; did you mean 'layers'"),
        ("model.init.layers=0", "'model.init.layers': 0 is out of range (must be >= 1)"),
        ("model.init.layers=-2", "'model.init.layers': -2 is out of range (must be >= 1)"),
        ("model.init.heads=0", "'model.init.heads': 0 is out of range"),
        ("model.init.max_position=16", "'data.seq_len': 32 is longer than the model's"),
        ("data.domain.0.path=d/manifest.json", "'data.domain.0.format': d/manifest.json is a"),
        # the eval section is checked with the rest, before anything is built
        ("eval.every=-1", "'eval.every': -1 is out of range"),
        ("eval.monitor.treshold=0.1", "unknown config key 'eval.monitor.treshold'"),
        ("eval.monitor.threshold=.nan", "'eval.monitor.threshold': nan is not a finite"),
        ("eval.lm_eval.batch_size=0", "'eval.lm_eval.batch_size': 0 is out of range"),
        ("eval.every=5", "config key 'eval': nothing to evaluate"),
    ],
)
def test_bad_values_are_refused_at_load(tmp_path: Path, override: str, needle: str) -> None:
    path = _write(tmp_path, tiny_config(tmp_path, tmp_path / "run"))
    with pytest.raises(ConfigError) as err:
        load_config(path, [override])
    assert needle in str(err.value)


def test_cli_eval_key_error_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, tiny_config(tmp_path, tmp_path / "run"))
    proc = subprocess.run(
        [sys.executable, "-m", "cpt.train", "--config", str(path), "eval.select.keep=1"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("cpt.train: error: unknown config key 'eval.select.keep'")
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "name", ["demo-cpu.yaml", "smollm2-135m-cpu.yaml", "llama3-8b-fsdp-8gpu.yaml"]
)
def test_shipped_configs_validate(name: str) -> None:
    cfg = load_config(REPO / "configs" / name)
    assert 0 < cfg.data.alpha <= 1


def test_bad_hook_reference(tmp_path: Path) -> None:
    from cpt.train.loop import train

    raw = tiny_config(tmp_path, tmp_path / "run", run={"hook": "no_such_module:build"})
    with pytest.raises(ConfigError, match="'run.hook': cannot load 'no_such_module:build'"):
        train(load_config(data=raw))
