"""The Slurm executor: one submitit job array per stage of the task graph, each array
depending (``afterok``) on every job of the stage before, so the whole job is submitted at
once and Slurm runs it in order. Resources come from the sweep's ``SlurmOptions`` (partition,
account, time, mem, ... in a YAML file); ``mem`` defaults to ``--mem-per-task``.
``submitit-local`` runs the same arrays as local processes, waiting for each stage (the local
executor has no dependencies): the test path without a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cpt import CurateError
from cpt.exec.graph import Job, run_task
from cpt.sweep.slurm import SlurmOptions, make_executor


def dependency(previous: list[Any]) -> str | None:
    """The sbatch ``--dependency`` of a stage: after every job of the stage before succeeded."""
    ids = [str(j.job_id) for j in previous]
    return "afterok:" + ":".join(ids) if ids else None


def wait_local(j: Any, task: str) -> None:
    """Wait for a submitit-local job; a task that failed or died is a CurateError naming it."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    try:
        j.result()
    except (FailedJobError, UncompletedJobError) as e:
        raise CurateError(
            f"task {task} (submitit job {j.job_id}) did not finish ({type(e).__name__}; its "
            f"log: {j.paths.stderr}); relaunch the same command to run it and the tasks left"
        ) from None


def submit(job: Job, folder: Path, opts: SlurmOptions, kind: str = "slurm") -> list[list[Any]]:
    """Submit the job's unfinished tasks, one array per stage; the submitit jobs per stage."""
    ex = make_executor(kind, folder, opts)
    arrays: list[list[Any]] = []
    previous: list[Any] = []
    for stage, todo in job.stages()[1:]:
        if not todo:
            continue
        if kind == "slurm":
            ex.update_parameters(
                job_name=f"{opts.job_name}-{stage}", dependency=dependency(previous)
            )
        jobs = list(ex.map_array(run_task, [job.argv(t) for t in todo]))
        if kind != "slurm":
            for j, task in zip(jobs, todo):  # local jobs cannot wait on dependencies: wait here
                wait_local(j, task)
        arrays.append(jobs)
        previous = jobs
    return arrays
