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
    """Flat scores: ``metrics['lm/<task>/<metric>']`` and whether higher is better for each."""

    metrics: dict[str, float] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)


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


def _absolute_data_files(value: Any, base: Path) -> Any:
    if isinstance(value, str):
        p = Path(value)
        return str(p if p.is_absolute() else (base / p).resolve())
    if isinstance(value, list):
        return [_absolute_data_files(v, base) for v in value]
    if isinstance(value, dict):
        return {k: _absolute_data_files(v, base) for k, v in value.items()}
    return value


def resolve_task_dir(src: Path, dest: Path) -> list[str]:
    """Copy the task YAMLs of ``src`` into ``dest`` with ``data_files`` made absolute.

    Task files name data relative to their own directory so they can ship inside the wheel;
    lm-eval would resolve them against the working directory instead. Returns the task names found.
    """
    names = []
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise LMEvalError(f"{path}: invalid task YAML: {err}") from err
        if not isinstance(doc, dict) or "task" not in doc:
            raise LMEvalError(f"{path}: not an lm-eval task (no 'task' key)")
        kwargs = doc.get("dataset_kwargs") or {}
        if "data_files" in kwargs:
            kwargs["data_files"] = _absolute_data_files(kwargs["data_files"], path.parent)
            for f in _flatten(kwargs["data_files"]):
                if not Path(f).is_file():
                    raise LMEvalError(f"{path}: data file {f} does not exist")
        (dest / path.name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        names.append(str(doc["task"]))
    return names


def _flatten(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flatten(v)]
    return []


def flatten_results(results: dict[str, Any]) -> LMEvalResult:
    """``results['results'][task]['acc,none']`` -> ``metrics['lm/task/acc']`` (stderr dropped)."""
    out = LMEvalResult()
    hib = results.get("higher_is_better", {})
    for task, scores in sorted(results.get("results", {}).items()):
        for key, value in scores.items():
            if "," not in key or "_stderr" in key:
                continue
            metric, _filter = key.split(",", 1)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            name = f"lm/{task}/{metric}"
            out.metrics[name] = float(value)
            direction = hib.get(task, {}).get(metric)
            if direction is None:
                direction = not _is_lower_better(metric)
            out.higher_is_better[name] = bool(direction)
    return out


def _is_lower_better(metric: str) -> bool:
    return "perplexity" in metric or metric in {"bits_per_byte", "ppl"}


class LMEvaluator:
    """Runs ``lm_eval.simple_evaluate`` on the in-memory model.

    ``tasks`` are names from the shipped ``cpt/tasks`` directory, from ``include_paths`` (user task
    directories, used as they are) or lm-eval built-ins that need no download.
    """

    def __init__(
        self,
        tasks: list[str],
        *,
        include_paths: list[Path] | None = None,
        limit: int | float | None = None,
        batch_size: int = 8,
        max_length: int | None = None,
    ) -> None:
        self.tasks = list(tasks)
        self.include_paths = [Path(p) for p in include_paths or []]
        for p in self.include_paths:
            if not p.is_dir():
                raise LMEvalError(f"lm_eval.include_path: {p} is not a directory")
        self.limit = limit
        self.batch_size = batch_size
        self.max_length = max_length
        self._tmp = tempfile.TemporaryDirectory(prefix="cpt-tasks-")
        self.resolved_dir = Path(self._tmp.name)
        self.shipped_names = resolve_task_dir(SHIPPED_TASKS, self.resolved_dir)
        self._task_manager: Any = None
        self._tokenizer_copy: Any = None
        self._tokenizer_src: Any = None

    def _manager(self) -> Any:
        if self._task_manager is None:
            go_offline()
            from lm_eval.tasks import TaskManager

            paths = [str(self.resolved_dir)] + [str(p) for p in self.include_paths]
            self._task_manager = TaskManager(include_path=paths)
            known = set(self._task_manager.all_tasks)
            missing = [t for t in self.tasks if t not in known]
            if missing:
                raise LMEvalError(
                    f"lm_eval.tasks: unknown task(s) {missing}; shipped tasks: {self.shipped_names}"
                )
        return self._task_manager

    def evaluate(self, model: Any, tokenizer: Any) -> LMEvalResult:
        if not self.tasks:
            return LMEvalResult()
        manager = self._manager()
        import lm_eval
        from lm_eval.models.huggingface import HFLM

        # lm-eval may set a pad token on the tokenizer it gets: hand it a private copy
        if self._tokenizer_src is not tokenizer:
            self._tokenizer_copy = copy.deepcopy(tokenizer)
            self._tokenizer_src = tokenizer
        was_training = model.training
        try:
            lm = HFLM(
                pretrained=model,
                tokenizer=self._tokenizer_copy,
                batch_size=self.batch_size,
                max_length=self.max_length,
            )
            results = lm_eval.simple_evaluate(
                model=lm,
                tasks=self.tasks,
                limit=self.limit,
                task_manager=manager,
                log_samples=False,
                bootstrap_iters=0,
            )
        except ConnectionError as err:  # e.g. a built-in task whose dataset lives on the hub
            raise LMEvalError(
                f"lm-eval tasks {self.tasks}: data not available offline ({err}); use task YAMLs "
                "that read local files (dataset_path: json, dataset_kwargs.data_files)"
            ) from err
        except AssertionError as err:  # lm-eval checks its inputs with bare asserts
            raise LMEvalError(
                f"lm-eval rejected a request of tasks {self.tasks} ({err or 'assertion failed'}); "
                f"is a document longer than max_length={self.max_length}?"
            ) from err
        finally:
            model.train(was_training)
        if results is None:  # only on non-zero ranks of a distributed lm-eval run
            return LMEvalResult()
        flat = flatten_results(results)
        for name, value in flat.metrics.items():
            if math.isnan(value):
                raise LMEvalError(f"lm-eval returned NaN for {name}")
        return flat
