"""``python -m cpt.sweep``: a small-scale recipe search over cpt.train runs, and a recommendation.

    python -m cpt.sweep --config base.yaml --grid optim.beta=0.03,0.1,0.3 data.alpha=0.5,1.0 \\
        --steps 200 --out runs/sweep [--seeds 1,2] [--jobs 2 | --executor slurm ...] \\
        [--full-tokens 10B --gpu h100 --gpus 8 --price 2]

Every trial is an ordinary ``python -m cpt.train --config base.yaml key=value ...`` run in
``<out>/trials/<name>/`` (the base config needs an ``eval`` section: the figures come from its
report). Rerunning skips finished trials (and retries failed ones unless ``--no-retry``); a trial
that crashes is recorded as failed and the others go on.

Where the trials run (``--executor``): ``local`` (default) runs them on this machine, one after
another or ``--jobs N`` at once; ``slurm`` submits them as a Slurm job array through submitit
(``--partition``, ``--account``, ``--time``, ``--mem``, ``--gpus-per-task``, ``--cpus-per-task``,
``--max-parallel``, ``--sbatch-option``, or the same keys in ``--slurm-config FILE``) and
returns; ``python -m cpt.sweep --out DIR --gather`` then writes the results (or ``--wait``).
``submitit-local`` runs the same array through submitit's local executor, on this machine.
Outputs in ``<out>``: ``results.md`` / ``.csv`` / ``.json``, ``sweep.png``, ``recommendation.md``,
``recipe.yaml`` (the recommended full run) and ``plan.json`` (the planner's cost of it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from cpt import ConfigError, CurateError
from cpt.sweep.slurm import EXECUTORS


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m cpt.sweep", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--config", type=Path, help="the base cpt.train recipe (with an eval section)")
    p.add_argument("--grid", nargs="*", default=[], metavar="key=v1,v2", help="grid axes")
    p.add_argument("--seeds", help="seeds per grid point, e.g. 1,2,3 (error bars = sd over them)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="per-trial budget in optimizer steps")
    budget.add_argument("--tokens", help="per-trial budget in tokens (e.g. 20M)")
    p.add_argument("--out", type=Path, default=Path("runs/sweep"), help="sweep directory")
    p.add_argument("--jobs", type=int, default=1, help="trials at once on this machine")
    p.add_argument("--no-retry", action="store_true", help="do not rerun failed trials")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="where trials run: this machine, a Slurm array, or submitit's local "
                   "executor (default: local)")  # fmt: skip
    p.add_argument("--task", type=int, help="run trial I only (e.g. by hand, or your own array)")
    slurm = p.add_argument_group("Slurm (--executor slurm, through submitit)")
    slurm.add_argument("--slurm-config", type=Path, help="YAML with the keys below (underscores)")
    slurm.add_argument("--partition", help="sbatch --partition")
    slurm.add_argument("--account", help="sbatch --account")
    slurm.add_argument("--time", help="per-trial time limit: minutes or [D-]HH:MM[:SS]")
    slurm.add_argument("--mem", help="memory per trial, e.g. 64G")
    slurm.add_argument("--gpus-per-task", type=int, help="GPUs per trial")
    slurm.add_argument("--cpus-per-task", type=int, help="CPUs per trial")
    slurm.add_argument("--max-parallel", type=int, help="array throttle: trials at once (%%N)")
    slurm.add_argument("--sbatch-option", action="append", default=[], metavar="--KEY=VALUE",
                       help="any further sbatch option (repeatable)")  # fmt: skip
    slurm.add_argument("--wait", action="store_true", help="wait for the array, then gather")
    p.add_argument("--gather", action="store_true", help="only gather and recommend")
    p.add_argument("--limit", type=float, help="general regression limit (default: the base "
                   "config's eval.select.regression_limit)")  # fmt: skip
    full = p.add_argument_group("the recommended full run")
    full.add_argument("--full-tokens", help="its token budget (default: the base config's)")
    full.add_argument("--full-run-dir", default="runs/cpt-full", help="its run.dir")
    full.add_argument("--gpu", default="h100", help="planner: GPU type")
    full.add_argument("--gpus", type=int, default=8, help="planner: GPU count")
    full.add_argument("--mfu", type=float, help="planner: MFU (default: the planner's)")
    full.add_argument("--price", type=float, help="planner: price per GPU-hour")
    return p.parse_args(argv)


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep's definition, stored in ``<out>/sweep.json`` (tasks and reruns read it back)."""
    from cpt.plan.model import parse_count

    stored = args.out / "sweep.json"
    if args.config is None:
        if not stored.is_file():
            raise ConfigError(f"{stored} not found: give --config and --grid to define a sweep")
        return json.loads(stored.read_text(encoding="utf-8"))
    if not args.grid:
        raise ConfigError("--grid: give at least one axis, e.g. optim.beta=0.03,0.1")
    if args.steps is None and args.tokens is None:
        raise ConfigError("give a per-trial budget: --steps N or --tokens N")
    if args.steps is not None:
        budget = [f"schedule.max_steps={args.steps}", "schedule.total_tokens=null"]
    else:
        budget = [f"schedule.total_tokens={int(parse_count(args.tokens, '--tokens'))}",
                  "schedule.max_steps=null"]  # fmt: skip
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    spec = {"config": str(args.config.resolve()), "grid": args.grid, "seeds": seeds,
            "budget": budget, "cwd": str(Path.cwd())}  # fmt: skip
    if stored.is_file():
        old = json.loads(stored.read_text(encoding="utf-8"))
        if {k: old.get(k) for k in ("config", "grid", "seeds", "budget")} != {
            k: spec[k] for k in ("config", "grid", "seeds", "budget")
        }:
            raise ConfigError(
                f"{args.out} holds another sweep (see {stored}); use another --out or delete it"
            )
    return spec


def _save_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def _limit(args: argparse.Namespace, base: Path) -> float:
    if args.limit is not None:
        return args.limit
    from cpt.train.config import load_config

    return float(load_config(base, []).eval.select.regression_limit)


def recommend_and_write(args: argparse.Namespace, spec: dict[str, Any], trials: list[Any]) -> int:
    import yaml

    from cpt.evaluate.report import atomic_write_text
    from cpt.sweep.gather import gather, plot, recommend, results_json, table_csv, table_markdown
    from cpt.sweep.trials import _yaml_value

    base = Path(spec["config"])
    limit = _limit(args, base)
    results, problems = gather(trials)
    best = recommend(results, limit)
    out = args.out
    table = table_markdown(results, limit, best)
    atomic_write_text(out / "results.md", table)
    atomic_write_text(out / "results.csv", table_csv(results))
    _save_json(out / "results.json", {**results_json(results, problems), "limit": limit})
    plot(results, limit, best, out / "sweep.png")
    lines = ["# Sweep recommendation", "", table]
    for name, why in problems.items():
        lines.append(f"- trial {name}: no figures ({why})")
    print(table, end="")
    if best is None:
        msg = f"no grid point kept general regression within {limit:.1%}: no recipe written"
        print(f"[cpt.sweep] {msg}")
        atomic_write_text(out / "recommendation.md", "\n".join(lines + ["", msg]) + "\n")
        return 0
    from cpt.plan import estimate
    from cpt.plan.estimate import kwargs_from_config
    from cpt.train.config import load_config

    overrides = [f"{k}={_yaml_value(v)}" for k, v in best.point.items()]
    overrides.append(f"run.dir={args.full_run_dir}")
    if args.full_tokens:
        from cpt.plan.model import parse_count

        tokens = int(parse_count(args.full_tokens, "--full-tokens"))
        overrides += [f"schedule.total_tokens={tokens}", "schedule.max_steps=null"]
    cfg = load_config(base, overrides)
    recipe = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    head = (f"# recommended by cpt.sweep ({out}): {best.label}; domain gain "
            f"{best.domain_gain:+.2%}, general regression {best.general_regression:+.2%} "
            f"(limit {limit:.1%})\n")  # fmt: skip
    atomic_write_text(out / "recipe.yaml", head + recipe)
    lines += ["", f"Recommended: **{best.label}** (best domain gain within the {limit:.1%} "
              "regression limit); recipe: `recipe.yaml`.", ""]  # fmt: skip
    kw = kwargs_from_config(cfg)
    if "tokens" not in kw:
        steps = cfg.schedule.max_steps or 0
        per_step = cfg.data.seq_len * cfg.data.micro_batch_size * cfg.optim.grad_accum * args.gpus
        kw["tokens"] = steps * per_step
    try:
        plan = estimate(gpu=args.gpu, gpus=args.gpus, mfu=args.mfu, price=args.price, **kw)
    except ConfigError as exc:
        lines.append(f"Planner: not available for this recipe ({exc}).")
    else:
        _save_json(out / "plan.json", plan.to_dict())
        lines += ["Cost of the full run (cpt.plan):", "", "```", plan.render(), "```"]
    atomic_write_text(out / "recommendation.md", "\n".join(lines) + "\n")
    print(f"[cpt.sweep] recommended: {best.label}; recipe {out / 'recipe.yaml'}")
    print(f"[cpt.sweep] {out / 'recommendation.md'}")
    return 0


def _slurm_options(args: argparse.Namespace) -> Any:
    from cpt.sweep.slurm import SlurmOptions, minutes

    base = SlurmOptions.from_yaml(args.slurm_config) if args.slurm_config else SlurmOptions()
    cli = {k: getattr(args, k) for k in ("partition", "account", "time", "mem", "gpus_per_task",
                                         "cpus_per_task", "max_parallel")}  # fmt: skip
    opts = base.merged({**cli, "options": args.sbatch_option})
    if opts.time:
        minutes(opts.time)
    return opts


def _run_array(args: argparse.Namespace, base: Path, trials: list[Any], opts: Any) -> bool:
    """Submit the trials not yet done as one array; True when they have finished (gather now)."""
    from cpt.sweep.slurm import submit_array
    from cpt.sweep.trials import is_done

    todo = [t for t in trials if not is_done(t)]
    if args.no_retry:
        todo = [t for t in todo if t.state().get("status") != "failed"]
    for t in trials:
        if t not in todo:
            print(f"[cpt.sweep] skip {t.name} ({t.state().get('status')})", flush=True)
    if not todo:
        return True
    jobs = submit_array(args.executor, args.out.resolve(), base, todo, opts)
    ids = [str(j.job_id) for j in jobs]
    _save_json(args.out / "jobs.json", {"executor": args.executor,
               "jobs": dict(zip([t.name for t in todo], ids))})  # fmt: skip
    array = ids[0].split("_")[0]
    where = args.out / "submitit"
    print(f"[cpt.sweep] {args.executor}: {len(todo)} trials submitted as array {array} "
          f"(submitit files in {where})", flush=True)  # fmt: skip
    if args.executor == "slurm" and not args.wait:
        print(f"[cpt.sweep] when it is done: python -m cpt.sweep --out {args.out} --gather")
        return False
    failed = 0
    for t, job in zip(todo, jobs):
        try:
            state = job.result()
        except Exception as exc:  # the task itself died (killed, timed out): record it
            from cpt.sweep.trials import record_lost

            state = record_lost(t, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}")
        failed += state["status"] != "done"
        print(f"[cpt.sweep] {t.name}: {state['status']}", flush=True)
    print(f"[cpt.sweep] array done: {len(todo) - failed} done, {failed} failed")
    return True


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        from cpt.sweep.trials import make_trials, parse_grid, run_all, run_one, validate

        spec = _spec(args)
        base = Path(spec["config"])
        grid = parse_grid(spec["grid"])
        trials = make_trials(grid, spec["seeds"], spec["budget"], args.out.resolve())
        if args.task is not None:
            if not 0 <= args.task < len(trials):
                raise ConfigError(f"--task {args.task}: the sweep has trials 0..{len(trials) - 1}")
            state = run_one(base, trials[args.task])
            print(f"[cpt.sweep] {trials[args.task].name}: {state['status']}")
            return 0 if state["status"] == "done" else 1
        if not args.gather:
            validate(base, grid, trials)
            if args.executor != "local":
                opts = _slurm_options(args)  # checked before anything is written
            args.out.mkdir(parents=True, exist_ok=True)
            _save_json(args.out / "sweep.json", spec)
            if args.executor == "local":
                summary = run_all(base, trials, jobs=args.jobs, retry_failed=not args.no_retry)
                print(f"[cpt.sweep] ran {len(summary.ran)}, skipped {len(summary.skipped)}, "
                      f"failed {len(summary.failed)}")  # fmt: skip
            elif not _run_array(args, base, trials, opts):
                return 0
        return recommend_and_write(args, spec, trials)
    except CurateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
