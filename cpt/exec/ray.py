"""The Ray executor: each task of a stage is a Ray task running ``cpt-curate task ID`` on a
worker; a stage starts when every task of the one before has finished. ``address`` joins an
existing cluster (``ray start --head`` / a KubeRay cluster); without it a local one of
``workers`` CPUs starts."""

from __future__ import annotations

from typing import Any

from cpt import ConfigError, CurateError
from cpt.exec.graph import Job, run_task


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs ray: pip install 'cpt[scale]'") from None
    return ray


def run(job: Job, workers: int | None = None, address: str | None = None) -> list[str]:
    """Run the job's unfinished tasks as Ray tasks; the ids run, in order."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers or 2, **kwargs)
    remote = ray.remote(num_cpus=1, max_retries=0)(run_task)
    ran: list[str] = []
    try:
        for _stage, todo in job.stages()[1:]:
            running = {remote.remote(job.argv(t)): t for t in todo}
            pending = list(running)
            while pending:  # one at a time, so a failure names its task
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    ray.get(done[0])
                except ray.exceptions.RayTaskError as e:  # wraps the task's CurateError
                    raise CurateError(str(e.cause)) from None
                except ray.exceptions.RayError as e:  # its worker died: kill -9, OOM, node lost
                    raise CurateError(
                        f"task {running[done[0]]}: its Ray worker died ({type(e).__name__}); "
                        "relaunch the same command to run it and the tasks left"
                    ) from None
            ran += todo
    finally:
        if started:
            ray.shutdown()
    return ran
