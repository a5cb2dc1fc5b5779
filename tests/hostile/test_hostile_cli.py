"""``python -m cpt.train`` with hostile data, tokenizer and config: one ``cpt.train: error:``
line naming the file or key, exit code 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from shardkit import copy_dataset, edit_manifest, make_dataset
from test_train_util import tiny_config

from cpt.train.__main__ import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    return make_dataset(shared_data, tmp_path_factory.mktemp("base") / "ds")


def write_config(tmp_path: Path, **sections: Any) -> Path:
    cfg = tiny_config(tmp_path, tmp_path / "run", **sections)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_main(capsys: pytest.CaptureFixture[str], cfg: Path, *overrides: str) -> tuple[int, str]:
    rc = main(["--config", str(cfg), *overrides])
    return rc, capsys.readouterr().err


def shard_config(tmp_path: Path, manifest: Path) -> Path:
    return write_config(tmp_path, data={"domain": [{"path": str(manifest), "format": "cpt"}]})


def test_manifest_path_escape(hostile: Any, capsys: Any, base: Path, tmp_path: Path) -> None:
    ds = copy_dataset(base, tmp_path / "ds")
    edit_manifest(ds, lambda m: m["shards"][0].update(file="../../etc/passwd"))
    rc, err = run_main(capsys, shard_config(tmp_path, ds))
    hostile.cli(rc, err, "cpt.train", str(ds), "shards[0].file")


def test_manifest_bad_type(hostile: Any, capsys: Any, base: Path, tmp_path: Path) -> None:
    ds = copy_dataset(base, tmp_path / "ds")
    edit_manifest(ds, lambda m: m["tokenizer"].update(eos_id="0"))
    rc, err = run_main(capsys, shard_config(tmp_path, ds))
    hostile.cli(rc, err, "cpt.train", str(ds), "tokenizer.eos_id")


def test_shard_checksum(hostile: Any, capsys: Any, base: Path, tmp_path: Path) -> None:
    ds = copy_dataset(base, tmp_path / "ds")
    edit_manifest(ds, lambda m: m["shards"][1].update(checksum="xxh3_64:" + "0" * 16))
    rc, err = run_main(capsys, shard_config(tmp_path, ds))
    hostile.cli(rc, err, "cpt.train", "shard-00001.cpts", "shards[1].checksum")


def test_shard_tokenizer_differs(
    hostile: Any, capsys: Any, base: Path, tmp_path: Path, shared_data: Path
) -> None:
    """The model's tokenizer is not the one the shards were made with."""
    ds = copy_dataset(base, tmp_path / "ds")
    edit_manifest(ds, lambda m: m["tokenizer"].update(hash="xxh3_64:" + "1" * 16))
    tok = shared_data / "tokenizers" / "smollm2-135m.tokenizer.json"
    cfg = shard_config(tmp_path, ds)
    rc, err = run_main(capsys, cfg, f"model.tokenizer={tok}", "model.init.vocab_size=49152")
    hostile.cli(rc, err, "cpt.train", str(ds), "xxh3_64:" + "1" * 16)


def test_tokenizer_file_corrupt(hostile: Any, capsys: Any, tmp_path: Path) -> None:
    tok = tmp_path / "tokenizer.json"
    tok.write_text('{"model": {"type": "BPE", "vocab": 5}}')
    rc, err = run_main(capsys, write_config(tmp_path), f"model.tokenizer={tok}")
    hostile.cli(rc, err, "cpt.train", "model.tokenizer", str(tok))


def test_raw_source_missing(hostile: Any, capsys: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nope.bin"
    cfg = write_config(tmp_path, data={"general": [{"path": str(missing)}]})
    rc, err = run_main(capsys, cfg)
    hostile.cli(rc, err, "cpt.train", str(missing))


def test_resume_other_seed(hostile: Any, capsys: Any, tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    assert run_main(capsys, cfg, "schedule.max_steps=4")[0] == 0
    rc, err = run_main(capsys, cfg, "schedule.max_steps=8", "run.seed=9")
    hostile.cli(rc, err, "cpt.train", "run.seed: checkpoint 7, this run 9", "allow_mismatch")


@pytest.mark.slow  # a fresh interpreter importing torch + transformers: 20-90 s on a busy machine
def test_subprocess_exit_code_and_no_traceback(hostile: Any, base: Path, tmp_path: Path) -> None:
    """The real process: BOM in the manifest, exit code 2, one line, no traceback."""
    ds = copy_dataset(base, tmp_path / "ds")
    ds.write_bytes(b"\xef\xbb\xbf" + ds.read_bytes())
    cfg = shard_config(tmp_path, ds)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "cpt.train", "--config", str(cfg)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = hostile.cli(proc.returncode, proc.stderr, "cpt.train", str(ds), "BOM")
    assert json.dumps(line)  # printable, one line
