"""Checkpoints: written atomically, rotated (last N, sparing protected ones), found on resume.

Layout of ``<run_dir>/checkpoints/step-0000420/``: Accelerate's ``save_state`` files (model in
safetensors; optimizer, RNG states of every rank), ``trainer_state.json`` (step, tokens, LR
multiplier, alpha, applied actions, data-loader state, the run's identity, the log mark) and
``hook_state.json`` (the evaluation hook's state). A checkpoint is untrusted input on load: no
file of it may run code (the hook state is JSON, and every ``torch.load`` Accelerate makes is
forced to ``weights_only``), and a checkpoint of another model, tokenizer or seed is refused
before any tensor is restored (``checkpoint.allow_mismatch`` overrides, except for shapes). A
checkpoint is first written to ``step-XXXXXXX.tmp``, every file fsynced, then renamed: a directory
without the ``.tmp`` suffix is always complete, so a run killed at any moment resumes from the last
complete checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from safetensors import SafetensorError

from cpt import InputError
from cpt.identity import describe_mismatches

STATE_FILE = "trainer_state.json"
HOOK_FILE = "hook_state.json"
LEGACY_HOOK_FILE = "hook_state.pt"  # pickled by cpt before 0.2: never loaded
log = logging.getLogger("cpt.checkpoint")
_RNG_KEYS = {"random_state", "numpy_random_seed", "torch_manual_seed"}


class CheckpointError(InputError):
    """A checkpoint that is incomplete, unsafe, or of another run."""


@contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Force every ``torch.load`` inside (Accelerate's optimizer, scheduler, RNG, sampler files)
    to the safe unpickler, whatever the caller passes: a crafted pickle cannot run code."""
    saved = {
        k: os.environ.get(k)
        for k in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    }
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


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
                try:
                    text = json.dumps(hook_state, indent=1, sort_keys=True)
                except (TypeError, ValueError) as exc:
                    raise TypeError(
                        f"the evaluation hook's state_dict() must be JSON data: {exc}"
                    ) from None
                (tmp / HOOK_FILE).write_text(text, encoding="utf-8")
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

    def read_state(self, path: Path) -> dict[str, Any]:
        """``trainer_state.json`` of a checkpoint, checked for the keys the trainer reads."""
        state_file = Path(path) / STATE_FILE
        if not state_file.is_file():
            raise CheckpointError(
                f"checkpoint {path}: no {STATE_FILE}; not a complete cpt checkpoint"
            )
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"checkpoint {state_file}: invalid JSON: {exc}") from None
        if not isinstance(state, dict):
            raise CheckpointError(f"checkpoint {state_file}: expected a JSON object")
        for key in ("run", "loader"):
            if not isinstance(state.get(key), dict):
                raise CheckpointError(
                    f"checkpoint {state_file}: key '{key}' missing or not an object"
                )
        return state

    def _check_rng_state(self, path: Path) -> None:
        """Accelerate swallows a failure to restore the RNG states (the resumed run would then
        silently differ from an uninterrupted one): read this rank's file first and refuse."""
        from accelerate.utils import load as acc_load

        rng = path / f"random_states_{self.acc.process_index}.pkl"
        if not rng.is_file():
            raise CheckpointError(f"checkpoint {path}: no {rng.name} (the RNG states)")
        states = acc_load(rng)
        if not isinstance(states, dict) or not _RNG_KEYS <= set(states):
            raise CheckpointError(
                f"checkpoint {rng}: not the RNG states Accelerate writes (keys "
                f"{sorted(states) if isinstance(states, dict) else type(states).__name__})"
            )

    def load(
        self, path: Path, identity: dict[str, Any] | None = None, allow_mismatch: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Check the checkpoint belongs to this run (``identity``), then restore
        model/optimizer/RNG into the prepared objects; return trainer and hook state."""
        path = Path(path)
        state = self.read_state(path)
        if identity is not None:
            check_identity(path, state.get("identity"), identity, allow_mismatch)
        try:
            with _weights_only_loads():
                self._check_rng_state(path)
                self.acc.load_state(str(path))
        except pickle.UnpicklingError as exc:
            raise CheckpointError(
                f"checkpoint {path}: refused a file that is not plain tensor data "
                f"(it could run code when unpickled): {_one_line(exc)}"
            ) from None
        except (OSError, RuntimeError, KeyError, ValueError, SafetensorError) as exc:
            raise CheckpointError(
                f"checkpoint {path}: cannot restore the saved state: {_one_line(exc)}"
            ) from None
        hook_state = None
        hook_file = path / HOOK_FILE
        if hook_file.is_file():
            try:
                hook_state = json.loads(hook_file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise CheckpointError(f"checkpoint {hook_file}: invalid JSON: {exc}") from None
            if not isinstance(hook_state, dict):
                raise CheckpointError(f"checkpoint {hook_file}: expected a JSON object")
        elif (path / LEGACY_HOOK_FILE).is_file():
            log.warning(
                "checkpoint %s: ignoring %s (a pickle; cpt does not load pickles); the "
                "evaluation hook starts from a fresh state",
                path,
                LEGACY_HOOK_FILE,
            )
        return state, hook_state


def check_identity(path: Path, saved: Any, now: dict[str, Any], allow_mismatch: bool) -> None:
    """Refuse a checkpoint of another run; ``allow_mismatch`` lets a deliberate change through
    (never a change of parameter shapes: those weights cannot be loaded at all)."""
    if not isinstance(saved, dict):
        if allow_mismatch:
            log.warning("checkpoint %s records no run identity; resumed (allow_mismatch)", path)
            return
        raise CheckpointError(
            f"checkpoint {path}: records no run identity (model, tokenizer, data, seed), so it "
            "cannot be checked against this run; set checkpoint.allow_mismatch=true to resume "
            "it anyway"
        )
    hard, soft = describe_mismatches(saved, now)
    if hard:
        raise CheckpointError(
            f"checkpoint {path} does not fit this model: "
            + "; ".join(hard)
            + " (the architecture or vocabulary changed; checkpoint.allow_mismatch cannot "
            "load weights of other shapes)"
        )
    if soft and not allow_mismatch:
        raise CheckpointError(
            f"checkpoint {path} is from another run: "
            + "; ".join(soft)
            + " (set checkpoint.allow_mismatch=true if this is deliberate)"
        )
    if soft:
        log.warning("checkpoint %s: resuming despite %s", path, "; ".join(soft))
