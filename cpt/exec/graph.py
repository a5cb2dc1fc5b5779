"""The task graph as the engine reports it, and the command that runs one task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cpt import CurateError


@dataclass(frozen=True)
class Job:
    """A job that ``cpt-curate run --executor ...`` initialised: its config and task count."""

    config: Path
    tasks: int
    quiet: bool = True

    def argv(self, *rest: str) -> list[str]:
        """``cpt-curate task`` with this job's config and task count, then ``rest``."""
        # CPT_CURATE_BIN: a cpt-curate binary for the workers (default: this Python's cpt).
        exe = os.environ.get("CPT_CURATE_BIN")
        head = [exe] if exe else [sys.executable, "-m", "cpt.curate"]
        base = [*head, "task", "--config", str(self.config)]
        return [*base, "--tasks", str(self.tasks), *(["--quiet"] if self.quiet else []), *rest]

    def stages(self) -> list[tuple[str, list[str]]]:
        """(stage, ids of its tasks that have no completion marker), in graph order."""
        out = subprocess.run(self.argv("--list"), capture_output=True, text=True)
        if out.returncode != 0:
            raise CurateError(f"cpt-curate task --list: {out.stderr.strip()}")
        graph = json.loads(out.stdout)
        return [
            (s["name"], [t["id"] for t in s["tasks"] if not t["done"]]) for s in graph["stages"]
        ]


def run_task(argv: list[str]) -> str:
    """Run one task's command (on whichever worker calls it); its id on success."""
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        how = f"exit {out.returncode}" if out.returncode > 0 else f"signal {-out.returncode}"
        raise CurateError(f"task {argv[-1]} failed ({how}): {out.stderr.strip()}")
    return argv[-1]
