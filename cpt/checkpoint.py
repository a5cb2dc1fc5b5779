"""Checkpoints: written atomically, rotated (last N, sparing protected ones), found on resume.

Layout of ``<run_dir>/checkpoints/step-0000420/``: Accelerate's ``save_state`` files (model,
optimizer, RNG states of every rank), ``trainer_state.json`` (step, tokens, LR multiplier, alpha,
applied actions, data-loader state) and ``hook_state.pt`` (the evaluation hook's state). A
checkpoint is first written to ``step-XXXXXXX.tmp``, every file fsynced, then renamed: a directory
without the ``.tmp`` suffix is always complete, so a run killed at any moment resumes from the last
complete checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from cpt import InputError

STATE_FILE = "trainer_state.json"
HOOK_FILE = "hook_state.pt"
_NAME = re.compile(r"^step-(\d{7,})$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def _fsync_tree(path: Path) -> None:
    for root, _dirs, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _NAME.match(child.name)
        if m and child.is_dir() and (child / STATE_FILE).is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1][1] if found else None


class CheckpointManager:
    def __init__(self, root: Path, keep_last: int, accelerator: Any) -> None:
        self.root = Path(root)
        self.keep_last = keep_last
        self.acc = accelerator

    def save(
        self,
        step: int,
        trainer_state: dict[str, Any],
        hook_state: dict[str, Any] | None,
        protected: set[Path],
    ) -> Path:
        """Write the checkpoint for ``step`` (collective: every rank must call it)."""
        final = self.root / checkpoint_name(step)
        tmp = self.root / (checkpoint_name(step) + ".tmp")
        main = self.acc.is_main_process
        if main:
            self.root.mkdir(parents=True, exist_ok=True)
            if tmp.exists():
                shutil.rmtree(tmp)  # leftover of a write that was killed
        self.acc.wait_for_everyone()
        self.acc.save_state(str(tmp))
        if main:
            with open(tmp / STATE_FILE, "w", encoding="utf-8") as fh:
                json.dump(trainer_state, fh, indent=1, sort_keys=True)
            if hook_state is not None:
                torch.save(hook_state, tmp / HOOK_FILE)
            _fsync_tree(tmp)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            _fsync_dir(self.root)
        self.acc.wait_for_everyone()
        if main:
            self.rotate(protected)
        return final

    def rotate(self, protected: set[Path]) -> list[Path]:
        """Delete all but the last ``keep_last`` checkpoints, sparing ``protected``."""
        keep = {p.resolve() for p in protected}
        found = list_checkpoints(self.root)
        removed = []
        for _step, path in found[: -self.keep_last] if len(found) > self.keep_last else []:
            if path.resolve() in keep:
                continue
            shutil.rmtree(path)
            removed.append(path)
        return removed

    def load(self, path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Restore model/optimizer/RNG into the prepared objects; return trainer and hook state."""
        path = Path(path)
        state_file = path / STATE_FILE
        if not state_file.is_file():
            raise InputError(f"checkpoint {path}: no {STATE_FILE}; not a complete cpt checkpoint")
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"checkpoint {state_file}: invalid JSON: {exc}") from None
        self.acc.load_state(str(path))
        hook_state = None
        if (path / HOOK_FILE).is_file():
            hook_state = torch.load(path / HOOK_FILE, weights_only=False)
        return state, hook_state
