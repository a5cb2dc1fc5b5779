"""datatrove's pipeline equivalent to cpt's scan filters: JSONL reader, Gopher repetition
and quality filters, PII formatter, JSONL writer; one task per input file, run locally."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass
class Result:
    seconds: float
    cpu_seconds: float
    kept: int


def _pipeline(files: Sequence[str], out: str, workers: int) -> int:
    """Runs in a child process (datatrove's executor forks its own workers)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    folder = str(Path(files[0]).parent)
    names = [Path(f).name for f in files]
    paths_file = Path(out) / "paths.txt"
    paths_file.parent.mkdir(parents=True, exist_ok=True)
    paths_file.write_text("\n".join(names) + "\n")
    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(folder, paths_file=str(paths_file)),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            PIIFormatter(),
            JsonlWriter(f"{out}/kept", compression="zstd"),
        ],
        tasks=len(files),
        workers=workers,
        logging_dir=f"{out}/logs",
        skip_completed=False,
    ).run()
    kept = 0
    for stats in Path(out, "logs", "stats").glob("*.json"):
        for step in json.loads(stats.read_text()):
            if step.get("name", "").startswith("💽 Writer") or "Writer" in step.get("name", ""):
                kept += int(step.get("stats", {}).get("total", 0))
    print(kept)
    return 0


def run(files: Sequence[Path], out: Path, workers: int) -> Result:
    """Time the pipeline in a child process; CPU includes its workers."""
    cmd = [sys.executable, "-m", "cpt.bench.curate_datatrove", str(out), str(workers)]
    cmd += [str(f) for f in files]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"datatrove pipeline failed: {done.stderr.strip()[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    kept = int(done.stdout.strip().splitlines()[-1])
    return Result(seconds=seconds, cpu_seconds=cpu, kept=kept)


if __name__ == "__main__":
    sys.exit(_pipeline(sys.argv[3:], sys.argv[1], int(sys.argv[2])))
