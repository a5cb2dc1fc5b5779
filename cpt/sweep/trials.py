"""Sweep trials: the grid, each trial's overrides and directory, running one, its recorded state.

A trial is an ordinary ``python -m cpt.train --config base.yaml key=value ... run.dir=...`` run in
``<sweep>/trials/<name>/``; its ``trial.json`` (written atomically) records the overrides, the
status (``done`` / ``failed``), the exit code, the time taken and the tail of its stderr.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cpt import ConfigError


@dataclass
class Trial:
    index: int
    name: str
    point: dict[str, Any]  # the grid values of this trial (without the seed)
    seed: int | None
    overrides: list[str]  # key=value for cpt.train (grid + seed + budget + run.dir)
    dir: str

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def run_dir(self) -> Path:
        return self.path / "run"

    def state(self) -> dict[str, Any]:
        f = self.path / "trial.json"
        return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}


def parse_grid(items: list[str]) -> list[tuple[str, list[Any]]]:
    """``optim.beta=0.03,0.1,0.3`` -> (key, [0.03, 0.1, 0.3]); values are read as YAML."""
    import yaml

    out = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or not text:
            raise ConfigError(f"grid entry {item!r}: expected key.sub=v1,v2,...")
        values = [yaml.safe_load(v) for v in text.split(",")]
        out.append((key.strip(), values))
    keys = [k for k, _ in out]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ConfigError(f"grid key(s) given twice: {', '.join(dupes)}")
    return out


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]", "_", str(value))


def make_trials(
    grid: list[tuple[str, list[Any]]],
    seeds: list[int] | None,
    budget: list[str],
    sweep_dir: Path,
) -> list[Trial]:
    """The cross product of the grid (x seeds), in a fixed order, each with its directory."""
    trials = []
    combos = list(itertools.product(*[values for _, values in grid]))
    for combo in combos:
        point = {k: v for (k, _), v in zip(grid, combo)}
        for seed in seeds or [None]:
            i = len(trials)
            parts = [f"{k.split('.')[-1]}{_slug(v)}" for k, v in point.items()]
            name = f"t{i:03d}_" + "_".join(parts)
            if seed is not None:
                name += f"_seed{seed}"
            tdir = sweep_dir / "trials" / name
            overrides = [f"{k}={_yaml_value(v)}" for k, v in point.items()]
            if seed is not None:
                overrides.append(f"run.seed={seed}")
            overrides += budget + [f"run.dir={tdir / 'run'}", "logging.progress=off"]
            trials.append(Trial(i, name, point, seed, overrides, str(tdir)))
    return trials


def _yaml_value(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def validate(base: Path, grid: list[tuple[str, list[Any]]], trials: list[Trial]) -> None:
    """Every trial's config must load: a grid key that is not a config key fails here, before any
    trial runs, with the trainer's own did-you-mean."""
    from cpt.train.config import load_config

    for key, values in grid:
        try:
            load_config(base, [f"{key}={_yaml_value(values[0])}"])
        except ConfigError as exc:
            raise ConfigError(f"grid key '{key}': {exc}") from None
    for t in trials:
        try:
            load_config(base, t.overrides)
        except ConfigError as exc:
            raise ConfigError(f"trial {t.name}: {exc}") from None


def _write_state(trial: Trial, state: dict[str, Any]) -> None:
    trial.path.mkdir(parents=True, exist_ok=True)
    tmp = trial.path / f".trial.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(trial.path / "trial.json")


def is_done(trial: Trial) -> bool:
    return trial.state().get("status") == "done" and (trial.run_dir / "final").is_dir()


def command(base: Path, trial: Trial) -> list[str]:
    return [sys.executable, "-m", "cpt.train", "--config", str(base), *trial.overrides]


def start(base: Path, trial: Trial) -> subprocess.Popen[bytes]:
    """Launch the trial's cpt.train process (stdout/stderr to files in its directory)."""
    trial.path.mkdir(parents=True, exist_ok=True)
    _write_state(trial, {**asdict(trial), "status": "running", "started": time.time()})
    out = open(trial.path / "stdout.log", "ab")
    err = open(trial.path / "stderr.log", "ab")
    try:
        return subprocess.Popen(command(base, trial), stdout=out, stderr=err)
    finally:
        out.close()
        err.close()


def finish(trial: Trial, rc: int, started: float) -> dict[str, Any]:
    """Record how the trial ended; a non-zero exit or a missing final model is ``failed``."""
    ok = rc == 0 and (trial.run_dir / "final").is_dir()
    err_file = trial.path / "stderr.log"
    tail = ""
    if err_file.is_file():
        tail = err_file.read_text(encoding="utf-8", errors="replace")[-2000:]
    state = {
        **asdict(trial),
        "status": "done" if ok else "failed",
        "returncode": rc,
        "seconds": round(time.time() - started, 2),
        "error": None if ok else (tail.strip().splitlines() or ["(no stderr)"])[-1],
        "stderr_tail": None if ok else tail,
    }
    _write_state(trial, state)
    return state


def run_one(base: Path, trial: Trial) -> dict[str, Any]:
    t0 = time.time()
    proc = start(base, trial)
    return finish(trial, proc.wait(), t0)


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def run_all(
    base: Path, trials: list[Trial], jobs: int = 1, retry_failed: bool = True
) -> RunSummary:
    """Run the trials not yet done, ``jobs`` at once; a failed trial is recorded, the rest go on."""
    summary = RunSummary()
    todo = []
    for t in trials:
        st = t.state().get("status")
        if is_done(t) or (st == "failed" and not retry_failed):
            summary.skipped.append(t.name)
            print(f"[cpt.sweep] skip {t.name} ({st})", flush=True)
        else:
            todo.append(t)
    running: list[tuple[Trial, subprocess.Popen[bytes], float]] = []
    while todo or running:
        while todo and len(running) < max(1, jobs):
            t = todo.pop(0)
            print(f"[cpt.sweep] start {t.name}: {' '.join(t.overrides[:-2])}", flush=True)
            running.append((t, start(base, t), time.time()))
        time.sleep(0.2)
        for item in list(running):
            t, proc, t0 = item
            rc = proc.poll()
            if rc is None:
                continue
            running.remove(item)
            state = finish(t, rc, t0)
            summary.ran.append(t.name)
            if state["status"] == "failed":
                summary.failed.append(t.name)
                print(f"[cpt.sweep] FAILED {t.name} (exit {rc}): {state['error']}", flush=True)
            else:
                print(f"[cpt.sweep] done {t.name} in {state['seconds']:.0f} s", flush=True)
    return summary


def record_lost(trial: Trial, error: str) -> dict[str, Any]:
    """Record a trial whose task died before it could record itself (killed, out of time)."""
    state = {
        **asdict(trial), "status": "failed", "returncode": None, "seconds": None,
        "error": error, "stderr_tail": None,
    }  # fmt: skip
    _write_state(trial, state)
    return state
