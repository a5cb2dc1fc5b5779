"""Executors of a curation job split into tasks (``cpt-curate run --tasks N``).

The engine owns the task graph and every task body (``cpt-curate task --list`` /
``cpt-curate task ID``); these executors only decide where each task runs: ``ray`` as Ray
tasks, ``slurm`` as one submitit job array per stage, chained by ``afterok`` dependencies
(``submitit-local`` runs the same arrays on this machine, stage after stage). A task with a
completion marker is never rerun, so relaunching the same command finishes a job.
"""
