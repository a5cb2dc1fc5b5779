"""datatrove's pipeline equivalent to cpt's scan filters: JSONL reader, Gopher repetition
and quality filters, PII formatter, JSONL writer, on the first ``docs`` documents of one
file (datatrove runs ~100x slower, so a slice keeps the bench short), one local task.
Its rate is compared per CPU second (wall time is noisy on a shared machine).

A run's CPU includes datatrove's start-up (imports, spacy's tokenizer loaded on the first
document, the executor's set-up), seconds that would dominate a short slice. So the same
pipeline also runs on ``STARTUP_DOCS`` document(s), and the rate the bench compares is the
marginal one: (bytes of the slice - bytes of the start-up run) / (CPU of the slice - CPU of
the start-up run)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

# Documents of the start-up run: one, so every lazily loaded part is loaded.
STARTUP_DOCS = 1


@dataclass
class Result:
    seconds: float
    cpu_seconds: float
    kept: int
    docs: int
    # Bytes of the JSONL lines read (cpt's report counts the same).
    input_bytes: int
    # The same pipeline on STARTUP_DOCS documents: its CPU seconds and input bytes.
    startup_cpu_seconds: float
    startup_bytes: int

    @property
    def mb_per_cpu_s(self) -> float:
        """MB per CPU second with the start-up subtracted (see the module docstring)."""
        return (
            (self.input_bytes - self.startup_bytes)
            / 1e6
            / (self.cpu_seconds - self.startup_cpu_seconds)
        )


def _pipeline(files: Sequence[str], out: str, docs: int) -> int:
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
            JsonlReader(folder, paths_file=str(paths_file), limit=docs),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            PIIFormatter(),
            JsonlWriter(f"{out}/kept", compression="zstd"),
        ],
        tasks=1,
        workers=1,
        logging_dir=f"{out}/logs",
        skip_completed=False,
    ).run()
    kept = 0
    for stats in Path(out, "logs", "stats").glob("*.json"):
        for step in json.loads(stats.read_text()):
            if "WRITER" in step["name"]:
                kept += int(step["stats"]["total"])
    print(kept)
    return 0


def _head_bytes(path: Path, docs: int) -> int:
    total = 0
    with path.open("rb") as f:
        for _, line in zip(range(docs), f):
            total += len(line.rstrip(b"\n"))
    return total


def _child(file: Path, out: Path, docs: int) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, kept docs) of the pipeline on the first ``docs`` lines of
    ``file``, in a child process (its CPU includes its imports)."""
    cmd = [sys.executable, "-m", "cpt.bench.curate_datatrove", str(out), str(docs), str(file)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"datatrove pipeline failed: {done.stderr.strip()[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, cpu, int(done.stdout.strip().splitlines()[-1])


def run(file: Path, out: Path, docs: int) -> Result:
    """Time the pipeline on the first ``docs`` lines of ``file`` (plain JSONL), and on the
    first ``STARTUP_DOCS`` for its start-up cost."""
    if docs <= STARTUP_DOCS:
        raise ValueError(f"datatrove slice of {docs} docs: give more than {STARTUP_DOCS}")
    _, startup_cpu, _ = _child(file, out / "startup", STARTUP_DOCS)
    seconds, cpu, kept = _child(file, out / "slice", docs)
    if cpu <= startup_cpu:
        raise RuntimeError(
            f"datatrove: {docs} docs took {cpu:.2f} CPU s, no more than its start-up "
            f"({startup_cpu:.2f} s): give a larger slice"
        )
    return Result(
        seconds=seconds,
        cpu_seconds=cpu,
        kept=kept,
        docs=docs,
        input_bytes=_head_bytes(file, docs),
        startup_cpu_seconds=startup_cpu,
        startup_bytes=_head_bytes(file, STARTUP_DOCS),
    )


if __name__ == "__main__":
    sys.exit(_pipeline(sys.argv[3:], sys.argv[1], int(sys.argv[2])))
