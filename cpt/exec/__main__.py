"""``python -m cpt.exec ray|slurm|submitit-local``: run the tasks of a job that
``cpt-curate run --executor ray|slurm --tasks N`` initialised (it calls this)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cpt import ConfigError, CurateError
from cpt.exec.graph import Job, run_task


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cpt.exec", description=__doc__)
    p.add_argument("executor", choices=["ray", "slurm", "submitit-local"])
    p.add_argument("--config", type=Path, required=True, help="the job's resolved config (YAML)")
    p.add_argument("--tasks", type=int, required=True, help="scan / write tasks of the job")
    p.add_argument("--mem-per-task", help="memory per task (Slurm's mem unless the YAML sets it)")
    p.add_argument(
        "--executor-config",
        type=Path,
        help="YAML: for slurm, partition/account/time/mem/cpus_per_task/max_parallel/options/"
        "job_name; for ray, workers/address",
    )
    p.add_argument("--workers", type=int, help="ray: CPUs of the local cluster (default 2)")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    job = Job(a.config, a.tasks)
    try:
        run_task(job.argv("init"))  # idempotent; refuses another job or task count
        if a.executor == "ray":
            from cpt.config import read_yaml
            from cpt.exec import ray

            extra = read_yaml(a.executor_config) if a.executor_config else {}
            unknown = set(extra) - {"workers", "address"}
            if unknown:
                raise ConfigError(f"{a.executor_config}: unknown ray key(s) {sorted(unknown)}")
            ray.run(job, a.workers or extra.get("workers"), extra.get("address"))
        else:
            from cpt.exec import slurm
            from cpt.sweep.slurm import SlurmOptions

            opts = (
                SlurmOptions.from_yaml(a.executor_config) if a.executor_config else SlurmOptions()
            )
            if opts.mem is None and a.mem_per_task:
                opts.mem = a.mem_per_task
            opts.job_name = "cpt-curate" if opts.job_name == "cpt-sweep" else opts.job_name
            folder = a.config.parent / "submitit"
            arrays = slurm.submit(job, folder, opts, a.executor)
            if a.executor == "slurm" and not a.quiet:
                ids = [j.job_id for arr in arrays for j in arr]
                msg = f"submitted {len(ids)} task(s) in {len(arrays)} array(s), files in {folder}"
                print(f"{msg}; after a failure, relaunch the same command", file=sys.stderr)
    except (ConfigError, CurateError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
