"""A sweep as a job array through ``submitit``: one array task per trial, on Slurm or on this
machine (submitit's local executor, the same array run as local processes).

Each array task calls :func:`cpt.sweep.trials.run_one` on its trial, which runs the ordinary
``python -m cpt.train`` command and records ``trial.json`` exactly as a local sweep does; a trial
that crashes is recorded as ``failed`` and does not stop the others. submitit keeps its files
(the generated sbatch script, pickled tasks, logs) in ``<sweep>/submitit/``. After a Slurm array,
``python -m cpt.sweep --out DIR --gather`` writes the table and the recommendation (or pass
``--wait`` to block until the array is done and gather at once).

The Slurm resources come from ``--partition``, ``--account``, ``--time``, ``--mem``,
``--gpus-per-task``, ``--cpus-per-task``, ``--max-parallel`` and ``--sbatch-option`` on the
command line, or from the same keys (underscores) in a YAML file given with ``--slurm-config``;
the command line wins.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, List, Optional

from cpt import ConfigError

EXECUTORS = ("local", "slurm", "submitit-local")


@dataclass
class SlurmOptions:
    """Per-task Slurm resources of the sweep's job array."""

    partition: Optional[str] = None  # noqa: UP045
    account: Optional[str] = None  # noqa: UP045
    time: Optional[str] = None  # noqa: UP045  minutes, or [D-]HH:MM[:SS]
    mem: Optional[str] = None  # noqa: UP045  e.g. 64G
    gpus_per_task: Optional[int] = None  # noqa: UP045
    cpus_per_task: Optional[int] = None  # noqa: UP045
    max_parallel: Optional[int] = None  # noqa: UP045  array throttle (%N)
    options: List[str] = field(default_factory=list)  # extra sbatch options, --key=value
    job_name: str = "cpt-sweep"

    @classmethod
    def from_yaml(cls, path: Path) -> SlurmOptions:
        from cpt.config import read_yaml

        data = read_yaml(path)
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ConfigError(
                    f"{path}: unknown Slurm key '{key}'{hint} (known: {', '.join(known)})"
                )
        opts = cls(**data)
        if not isinstance(opts.options, list):
            raise ConfigError(f"{path}: 'options' must be a list of --key=value strings")
        opts.time = None if opts.time is None else str(opts.time)
        return opts

    def merged(self, cli: dict[str, Any]) -> SlurmOptions:
        """These options with the command line's given values on top (options lists add up)."""
        data = asdict(self)
        for key, value in cli.items():
            if key == "options":
                data["options"] = [*data["options"], *(value or [])]
            elif value is not None:
                data[key] = value
        return SlurmOptions(**data)


def minutes(text: str) -> int:
    """Slurm's time formats (``90``, ``1:30:00``, ``2-00:00:00``, ``45:00``) in whole minutes."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if m is None:
        raise ConfigError(f"--time {text!r}: expected minutes or [D-]HH:MM[:SS]")
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if b is None:  # minutes (or D-HH)
        total = a * 60 if days is not None else a
    elif c is None:  # MM:SS, or D-HH:MM
        total = a * 60 + b if days is not None else a + (b > 0)
    else:  # HH:MM:SS
        total = a * 60 + b + (c > 0)
    return (days or 0) * 24 * 60 + int(total)  # type: ignore[operator]


def _sbatch_extra(options: list[str]) -> dict[str, Any]:
    """``--gres=gpu:1`` / ``--qos high`` / ``--exclusive`` -> submitit's additional parameters."""
    extra: dict[str, Any] = {}
    for opt in options:
        key, sep, value = opt.strip().lstrip("-").replace(" ", "=", 1).partition("=")
        if not key:
            raise ConfigError(f"--sbatch-option {opt!r}: expected --key=value")
        extra[key.replace("-", "_")] = value if sep else True
    return extra


def make_executor(kind: str, folder: Path, opts: SlurmOptions) -> Any:
    """A submitit executor for ``kind`` (``slurm`` or ``submitit-local``), resources applied."""
    try:
        import submitit
    except ImportError:
        raise ConfigError(
            f"--executor {kind} needs submitit: pip install 'cpt[sweep]' (or submitit)"
        ) from None
    if kind == "submitit-local":
        ex = submitit.LocalExecutor(folder=folder)
        # submitit's local default is 2 minutes, which kills any longer job: without a
        # --time, a local job may run as long as a local process does (a year).
        ex.update_parameters(timeout_min=minutes(opts.time) if opts.time else 365 * 24 * 60)
        return ex
    if kind != "slurm":
        raise ConfigError(f"--executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
    try:
        ex = submitit.SlurmExecutor(folder=folder)
    except RuntimeError as exc:  # submitit looks for srun first
        raise ConfigError(f"--executor slurm: {exc}") from None
    params: dict[str, Any] = {"job_name": opts.job_name}
    for key in ("partition", "account", "mem", "gpus_per_task", "cpus_per_task"):
        if getattr(opts, key) is not None:
            params[key] = getattr(opts, key)
    if opts.time:
        params["time"] = minutes(opts.time)
    if opts.max_parallel:
        params["array_parallelism"] = opts.max_parallel
    if opts.options:
        params["additional_parameters"] = _sbatch_extra(opts.options)
    ex.update_parameters(**params)
    return ex


def submit_array(
    kind: str, sweep_dir: Path, base: Path, trials: list[Any], opts: SlurmOptions
) -> list[Any]:
    """Submit one array task per trial (``run_one(base, trial)``); returns submitit's jobs."""
    from cpt.sweep.trials import run_one

    ex = make_executor(kind, sweep_dir / "submitit", opts)
    try:
        return list(ex.map_array(run_one, [base] * len(trials), trials))
    except FileNotFoundError as exc:  # no sbatch on this machine
        msg = f"--executor {kind}: cannot submit ({exc}); is Slurm installed here?"
        raise ConfigError(msg) from None
