"""A Slurm job array for a sweep: one array task per trial, each calling back into cpt.sweep.

The script is plain bash with ``#SBATCH`` comment lines, so it runs unchanged outside Slurm with
``SLURM_ARRAY_TASK_ID`` set by hand (that is how it is tested). Each task runs its trial through
``python -m cpt.sweep --out DIR --task I``, which records ``trial.json`` exactly as a local sweep
does; after the array, ``python -m cpt.sweep --out DIR --gather`` writes the table and the
recommendation.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path


def write_sbatch(
    sweep_dir: Path,
    n_trials: int,
    *,
    max_parallel: int | None = None,
    options: list[str] | None = None,
    workdir: Path | None = None,
) -> Path:
    """Write ``<sweep>/slurm/sweep.sbatch`` (atomically) and return its path."""
    slurm = sweep_dir / "slurm"
    slurm.mkdir(parents=True, exist_ok=True)
    array = f"0-{n_trials - 1}" + (f"%{max_parallel}" if max_parallel else "")
    py = shlex.quote(sys.executable)
    out = shlex.quote(str(sweep_dir.resolve()))
    lines = [
        "#!/bin/bash",
        "#SBATCH --job-name=cpt-sweep",
        f"#SBATCH --array={array}",
        f"#SBATCH --output={sweep_dir.resolve() / 'slurm' / '%A_%a.out'}",
        *[f"#SBATCH {opt}" for opt in options or []],
        "# One trial per array task; then: python -m cpt.sweep --out DIR --gather",
        "set -euo pipefail",
        f"cd {shlex.quote(str((workdir or Path.cwd()).resolve()))}",
        f'exec {py} -m cpt.sweep --out {out} --task "$SLURM_ARRAY_TASK_ID"',
        "",
    ]
    path = slurm / "sweep.sbatch"
    tmp = slurm / f".sweep.sbatch.tmp{os.getpid()}"
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.chmod(0o755)
    tmp.replace(path)
    return path
