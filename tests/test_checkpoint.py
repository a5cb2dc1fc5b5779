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
