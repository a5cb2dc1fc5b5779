"""Checkpoint discovery: only complete checkpoints count; rotation spares protected ones."""

from __future__ import annotations

from pathlib import Path

from cpt.checkpoint import STATE_FILE, CheckpointManager, latest_checkpoint, list_checkpoints


def _fake(root: Path, step: int, complete: bool = True, suffix: str = "") -> Path:
    path = root / f"step-{step:07d}{suffix}"
    path.mkdir(parents=True)
    if complete:
        (path / STATE_FILE).write_text("{}")
    return path


def test_only_complete_checkpoints_are_found(tmp_path: Path) -> None:
    _fake(tmp_path, 10)
    _fake(tmp_path, 20)
    _fake(tmp_path, 30, suffix=".tmp")  # killed while writing
    _fake(tmp_path, 40, complete=False)  # not a cpt checkpoint
    (tmp_path / "notes").mkdir()
    assert [s for s, _ in list_checkpoints(tmp_path)] == [10, 20]
    assert latest_checkpoint(tmp_path) == tmp_path / "step-0000020"
    assert latest_checkpoint(tmp_path / "missing") is None


def test_rotation(tmp_path: Path) -> None:
    for step in (1, 2, 3, 4, 5):
        _fake(tmp_path, step)
    mgr = CheckpointManager(tmp_path, keep_last=2, accelerator=None)
    removed = mgr.rotate({tmp_path / "step-0000002"})
    assert [p.name for p in removed] == ["step-0000001", "step-0000003"]
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4, 5]


def test_log_trim_cuts_back_to_the_mark_and_only_to_it(tmp_path: Path) -> None:
    from cpt.train.runlog import log_mark, trim_log

    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1}\n{"step": 2}\n')
    mark = log_mark(log)
    with log.open("a") as fh:
        fh.write('{"step": 3}\n{"step": 4}\n')
    assert trim_log(log, mark) == (2, "removed 2 records logged after the checkpoint")
    assert log.read_text() == '{"step": 1}\n{"step": 2}\n'
    assert not (tmp_path / "log.jsonl.tmp").exists()
    assert trim_log(log, mark)[0] == 0  # idempotent
    # Another run's log (or an edited one) is left alone.
    log.write_text('{"step": 9}\n{"step": 8}\n{"step": 7}\n')
    removed, why = trim_log(log, mark)
    assert removed == 0 and "does not match" in why
    assert log.read_text().count("\n") == 3
    assert trim_log(log, None) == (0, "checkpoint has no log mark; log not trimmed")


def test_identity_mismatches_name_both_values() -> None:
    from cpt.identity import describe_mismatches

    base = {
        "model": {"source": "m", "config_hash": "h", "parameters": {"w": [4, 2], "b": [2]}},
        "tokenizer": "t1",
        "data": {"d": "x"},
        "seed": 1,
    }
    assert describe_mismatches(base, base) == ([], [])
    other = {
        "model": {"source": "m2", "config_hash": "h", "parameters": {"w": [4, 3], "c": [1]}},
        "tokenizer": "t2",
        "data": {"d": "y"},  # the data loader compares data identity, with its own override
        "seed": 1,
    }
    hard, soft = describe_mismatches(base, other)
    assert hard == [
        "parameter b: checkpoint [2], this model None",
        "parameter c: checkpoint None, this model [1]",
        "parameter w: checkpoint [4, 2], this model [4, 3]",
    ]
    assert soft == [
        "model.path: checkpoint 'm', this run 'm2'",
        "tokenizer hash: checkpoint 't1', this run 't2'",
    ]
