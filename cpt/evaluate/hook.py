"""The trainer's evaluation hook: perplexity + lm-eval, forgetting monitor, selector, report."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from cpt import ConfigError
from cpt.config import build
from cpt.data.sources import TokenSource, open_source
from cpt.evaluate.config import EvalConfig
from cpt.evaluate.lmeval import LMEvaluator
from cpt.evaluate.monitor import ForgettingMonitor, regression
from cpt.evaluate.perplexity import (
    bits_per_byte,
    eos_positions,
    perplexity_by_document,
    predicted_bytes,
    token_byte_lengths,
)
from cpt.evaluate.report import write_report
from cpt.evaluate.select import CheckpointSelector, export_checkpoint, export_model
from cpt.evaluate.stats import Units, bootstrap_stderr
from cpt.train.hooks import Action, TrainingView

log = logging.getLogger("cpt.evaluate")


SAMPLES_FILE = "eval_samples.json"


@dataclass
class Scores:
    """One evaluation: values, directions, standard errors and per-unit data for paired tests."""

    metrics: dict[str, float] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    stderr: dict[str, float] = field(default_factory=dict)
    units: dict[str, Units] = field(default_factory=dict)

    @classmethod
    def of(cls, result: Any) -> Scores:
        """An evaluator's answer: ``Scores`` or a plain ``(metrics, higher_is_better)`` pair."""
        if isinstance(result, Scores):
            return result
        metrics, hib = result
        return cls(dict(metrics), dict(hib))


class Evaluator:
    """Scores a model: perplexity per held-out group and lm-eval metrics, as one flat dict.

    Perplexity carries a document-bootstrap standard error; lm-eval metrics lm-eval's own.
    """

    def __init__(
        self,
        config: EvalConfig,
        sources: dict[str, list[TokenSource]],
        lm: LMEvaluator | None,
        *,
        tokenizer_changed: bool = False,
    ) -> None:
        self.config = config
        self.sources = sources  # {"domain": [...], "general": [...], "probe": [...]}
        self.lm = lm
        self._eos: dict[int, Any] = {}
        # Per-token ppl compares runs only under one tokenizer; bits per byte always does.
        self.tokenizer_changed = tokenizer_changed
        self._byte_lengths: Any = None
        self._bytes: dict[str, int] = {}  # bytes predicted per group (fixed windows)

    def _bits_per_byte(self, group: str, sources: list[TokenSource], tokenizer: Any, nll: float):
        if tokenizer is None:
            return None
        if self._byte_lengths is None:
            self._byte_lengths = token_byte_lengths(tokenizer)
        if group not in self._bytes:
            c = self.config
            self._bytes[group] = sum(
                predicted_bytes(
                    s, seq_len=c.seq_len, max_tokens=c.ppl_tokens, byte_lengths=self._byte_lengths
                )
                for s in sources
            )
        return bits_per_byte(nll, self._bytes[group])

    def __call__(self, model: Any, tokenizer: Any) -> Scores:
        out = Scores()
        for group, sources in self.sources.items():
            if not sources:
                continue
            nll: list[float] = []
            tokens: list[float] = []
            for s in sources:
                if id(s) not in self._eos:
                    self._eos[id(s)] = eos_positions(s)
                docs = perplexity_by_document(
                    model,
                    s,
                    seq_len=self.config.seq_len,
                    max_tokens=self.config.ppl_tokens,
                    batch_size=self.config.batch_size,
                    eos=self._eos[id(s)],
                )
                nll += docs.nll
                tokens += [float(t) for t in docs.tokens]
            units = Units(nll, tokens, log=True)
            if not self.tokenizer_changed:
                name = f"ppl/{group}"
                out.metrics[name] = units.value()
                out.higher_is_better[name] = False
                out.stderr[name] = bootstrap_stderr(units, iters=self.config.stderr_bootstrap)
                out.units[name] = units
            bpb = self._bits_per_byte(group, sources, tokenizer, math.fsum(nll))
            if bpb is not None:
                out.metrics[f"bpb/{group}"] = bpb
                out.higher_is_better[f"bpb/{group}"] = False
        if self.lm is not None:
            res = self.lm.evaluate(model, tokenizer)
            out.metrics.update(res.metrics)
            out.higher_is_better.update(res.higher_is_better)
            out.stderr.update(res.stderr)
            out.units.update({k: Units(v) for k, v in res.items.items()})
        return out


class CPTEvaluationHook:
    """Implements ``cpt.train.hooks.EvaluationHook``."""

    def __init__(
        self,
        config: EvalConfig,
        evaluator: Callable[[Any, Any], Any],
        *,
        tokenizer: Any,
        run_dir: Path,
        accelerator: Any = None,
    ) -> None:
        self.config = config
        self.every = config.every
        self.evaluator = evaluator
        self.tokenizer = tokenizer
        self.run_dir = Path(run_dir)
        self.accelerator = accelerator
        # Under a tokenizer other than the base's, only bits per byte is comparable.
        self.size_metric = "bpb" if getattr(evaluator, "tokenizer_changed", False) else "ppl"
        self.monitor = ForgettingMonitor(config.monitor, self._default_general_metrics())
        self.selector = CheckpointSelector(config.select)
        self.records: list[dict[str, Any]] = []
        self.higher_is_better: dict[str, bool] = {}
        self.writer: Any = None  # a TensorBoard SummaryWriter; made on first use unless set

    def _default_general_metrics(self) -> list[str]:
        names = [f"{self.size_metric}/general"] if self.config.heldout.general else []
        names += [f"{self.size_metric}/probe"] if self.config.heldout.probe else []
        domain = set(self.config.lm_eval.domain_tasks)
        return names + [f"lm/{t}/*" for t in self.config.lm_eval.tasks if t not in domain]

    def _is_main(self) -> bool:
        return self.accelerator is None or bool(getattr(self.accelerator, "is_main_process", True))

    def _watched(self, metrics: dict[str, float]) -> list[str]:
        out = []
        for pattern in self.monitor.metrics:
            if pattern.endswith("/*"):
                out += sorted(k for k in metrics if k.startswith(pattern[:-1]))
            else:
                out.append(pattern)
        return out

    def evaluate(self, model: Any, view: TrainingView) -> list[Action]:
        step = int(view.step)
        if self.records and self.records[-1]["step"] == step:
            model.train()
            return []  # already evaluated at this step (e.g. the end coincides with `every`)
        self._record_samples()
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            scores = Scores.of(self.evaluator(model, self.tokenizer))
        finally:
            model.train()
        # what an evaluation costs: wall and CPU seconds (all threads; honest under shared cores)
        lm = getattr(self.evaluator, "lm", None)
        cost = {"seconds": round(time.perf_counter() - t0, 2),
                "cpu_seconds": round(time.process_time() - c0, 2),
                "lm_requests": int(getattr(lm, "last_requests", 0))}  # fmt: skip
        metrics, hib = scores.metrics, scores.higher_is_better
        self.higher_is_better.update(hib)
        if self.monitor.baseline is None:
            self.monitor.metrics = self._watched(metrics)
        alerts, actions = self.monitor.observe(
            step,
            metrics,
            hib,
            alpha=float(view.alpha),
            lr_multiplier=float(view.lr_multiplier),
            ewc_lambda=float(getattr(view, "ewc_lambda", 0.0)),
            units=scores.units,
        )
        base = self.monitor.baseline or {}
        deltas = {k: regression(v, base[k], False) for k, v in metrics.items() if k in base}
        regs = self.monitor.regressions(metrics, hib)
        general_reg = max(regs.values()) if regs else 0.0
        significant_reg = max(self.monitor.significant(regs).values(), default=0.0)
        domain_key = self.config.select.domain_metric or f"{self.size_metric}/domain"
        gain = 0.0
        if domain_key in metrics and domain_key in base:
            gain = -regression(metrics[domain_key], base[domain_key], hib.get(domain_key, False))
        cand = self.selector.record(step, gain, general_reg, significant_reg)
        record = {
            "step": step,
            "tokens": int(view.tokens_seen),
            "alpha": float(view.alpha),
            "lr_multiplier": float(view.lr_multiplier),
            "metrics": metrics,
            "stderr": {k: v for k, v in scores.stderr.items() if math.isfinite(v)},
            "deltas": deltas,
            "tests": self.monitor.last_tests,
            "domain_gain": gain,
            "general_regression": general_reg,
            "significant_regression": significant_reg,
            "score": cand.score,
            "eligible": cand.eligible,
            "alerts": [asdict(a) for a in alerts],
            "actions": [{"kind": a.kind, "value": a.value, "reason": a.reason} for a in actions],
            "cost": cost,
        }
        self.records.append(record)
        self._log(record, regs)
        if self._is_main() and self.config.report:
            write_report(self.run_dir, self.report(), plots=False)
        return actions

    def _record_samples(self) -> None:
        """Write the fixed lm-eval items once (run_dir/eval_samples.json): a resumed run and a
        later ``python -m cpt.eval --samples`` score the very same items."""
        lm = getattr(self.evaluator, "lm", None)
        if lm is None or not lm.tasks or not self._is_main():
            return
        path = self.run_dir / SAMPLES_FILE
        if path.is_file():
            return
        body = {"tasks": lm.tasks, "limit": lm.limit, "seed": lm.sample_seed,
                "samples": lm.samples()}  # fmt: skip
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)

    def _log(self, record: dict[str, Any], regs: dict[str, float]) -> None:
        summary = ", ".join(f"{k}={v:.4g}" for k, v in sorted(record["metrics"].items()))
        log.info("eval at step %d (%d tokens): %s", record["step"], record["tokens"], summary)
        values: dict[str, float] = {f"eval/{k}": v for k, v in record["metrics"].items()}
        values.update({f"forgetting/{k}": v for k, v in regs.items() if math.isfinite(v)})
        values["forgetting/alert"] = float(bool(record["alerts"]))
        values["select/score"] = record["score"]
        if getattr(self.accelerator, "trackers", None):
            self.accelerator.log(values, step=record["step"])
        elif self.config.tensorboard and self._is_main():
            if self.writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(
                    log_dir=str(self.run_dir / "tb"), filename_suffix=".eval"
                )
            for key, value in values.items():
                self.writer.add_scalar(key, value, global_step=record["step"])
            self.writer.flush()

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.selector.on_checkpoint(int(step), Path(path))

    def protected_checkpoints(self) -> set[Path]:
        return self.selector.protected()

    def report(self) -> dict[str, Any]:
        return {
            "evaluations": self.records,
            "higher_is_better": self.higher_is_better,
            "watched_metrics": self.monitor.metrics,
            "threshold": self.config.monitor.threshold,
            "alerts": [asdict(a) for a in self.monitor.alerts],
            "actions": self.monitor.actions,
            "candidates": [vars(c) for c in self.selector.ranking()],
            "best": None,
        }

    def finalize(self, model: Any, view: TrainingView) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if not self._is_main():
            return
        report = self.report()
        final_step = int(view.step)
        evaluated_final = bool(self.records) and self.records[-1]["step"] == final_step
        best = self.selector.best(final_step if evaluated_final else None)
        if best is not None:
            out = self.run_dir / "best"
            ckpt = self.selector.checkpoints.get(best.step)
            report["best"] = {**vars(best), "exported_to": None}
            try:
                if ckpt is not None and Path(ckpt).exists():
                    export_checkpoint(model, self.tokenizer, Path(ckpt), out)
                    source = ckpt
                else:  # the best is the model as it is now (the final, evaluated step)
                    export_model(model, self.tokenizer, out)
                    source = "final in-memory model"
            except (OSError, ValueError) as err:
                # the run itself succeeded (final/ is written): report, do not crash at the end
                log.error("could not export the best checkpoint (step %d): %s", best.step, err)
                report["best"]["export_error"] = str(err)
            else:
                report["best"].update(exported_to=str(out), source=source)
                log.info("best checkpoint: step %d (score %.4f) -> %s", best.step, best.score, out)
        else:
            log.warning("no eligible checkpoint: run_dir/best not written")
        if self.config.final.enabled:
            report["final"] = self._final(model, report.get("best"))
        if self.config.report:
            write_report(self.run_dir, report, plots=True)

    def _final(self, model: Any, best: dict[str, Any] | None) -> dict[str, Any]:
        """Milestone: the last model and the exported best on full task sets (``eval.final``)."""
        cfg = self.config.final
        tasks = list(cfg.tasks) if cfg.tasks is not None else list(self.config.lm_eval.tasks)
        out: dict[str, Any] = {"tasks": tasks, "limit": cfg.limit}
        if not tasks:
            return out
        limit = int(cfg.limit) if cfg.limit is not None and cfg.limit >= 1 else cfg.limit
        lm = make_lm_evaluator(self.config, tasks, limit)
        targets: list[tuple[str, Any]] = [("last", model)]
        if best and best.get("exported_to") and best.get("source") != "final in-memory model":
            from transformers import AutoModelForCausalLM

            dtype = next(model.parameters()).dtype
            fresh = AutoModelForCausalLM.from_pretrained(best["exported_to"], dtype=dtype)
            targets.append(("best", fresh.to(next(model.parameters()).device)))
        for name, m in targets:
            res = lm.evaluate(m, self.tokenizer)
            out[name] = {"metrics": res.metrics, "stderr": res.stderr}
            log.info("final evaluation (%s): %s", name, res.metrics)
        if "best" not in out and best and best.get("exported_to"):
            out["best"] = out["last"]  # the best is the last model
        model.train()
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "higher_is_better": self.higher_is_better,
            "monitor": self.monitor.state_dict(),
            "selector": self.selector.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.records = [dict(r) for r in state["records"]]
        self.higher_is_better = dict(state["higher_is_better"])
        self.monitor.load_state_dict(state["monitor"])
        self.selector.load_state_dict(state["selector"])


def open_heldout(config: EvalConfig, tokenizer_hash: str | None) -> dict[str, list[TokenSource]]:
    """The held-out sets of ``eval.heldout``, opened by the one token-source opener."""
    sources: dict[str, list[TokenSource]] = {}
    for group in ("domain", "general", "probe"):
        sources[group] = []
        for i, path in enumerate(getattr(config.heldout, group)):
            try:
                src = open_source(
                    path, "auto", config.heldout.raw_dtype, expected_tokenizer_hash=tokenizer_hash
                )
            except (OSError, ValueError, KeyError, ConfigError) as err:
                raise ConfigError(f"config key 'eval.heldout.{group}.{i}': {err}") from None
            sources[group].append(src)
    return sources


def read_samples(path: Path) -> dict[str, list[int]]:
    """The fixed items a run recorded (``eval_samples.json``), checked."""
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        samples = {str(k): [int(i) for i in v] for k, v in body["samples"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"{path}: not a cpt eval_samples.json ({err})") from None
    return samples


def make_lm_evaluator(
    config: EvalConfig,
    tasks: list[str],
    limit: int | float | None,
    samples: dict[str, list[int]] | None = None,
) -> LMEvaluator:
    return LMEvaluator(
        tasks,
        include_paths=[Path(p) for p in config.lm_eval.include_path],
        limit=limit,
        batch_size=config.lm_eval.batch_size,
        max_length=config.lm_eval.max_length,
        offline=config.offline,
        standard=config.lm_eval.standard,
        sample_seed=config.lm_eval.sample_seed,
        samples=samples,
    )


def build_evaluator(
    config: EvalConfig,
    tokenizer: Any,
    tokenizer_hash: str | None,
    samples: dict[str, list[int]] | None = None,
) -> Evaluator:
    """The scoring of ``config`` (perplexity sets + lm-eval tasks): the hook's and the CLI's.

    ``samples``: the fixed lm-eval items to score (e.g. a run's ``eval_samples.json``); else they
    are drawn from ``lm_eval.limit`` and ``lm_eval.sample_seed``.
    """
    if config.lm_eval.tasks and tokenizer is None:
        raise ConfigError(
            "config key 'eval.lm_eval.tasks': lm-eval needs a tokenizer (model.tokenizer)"
        )
    lm = None
    if config.lm_eval.tasks:
        lm = make_lm_evaluator(config, config.lm_eval.tasks, config.lm_eval.limit_arg, samples)
    changed = tokenizer_changed(config, tokenizer_hash)
    return Evaluator(config, open_heldout(config, tokenizer_hash), lm, tokenizer_changed=changed)


def tokenizer_changed(config: EvalConfig, tokenizer_hash: str | None) -> bool:
    """Whether ``eval.base_tokenizer`` names a tokenizer other than the run's."""
    if config.base_tokenizer is None:
        return False
    from cpt.data.shards import tokenizer_hash as file_hash

    path = Path(config.base_tokenizer)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(f"config key 'eval.base_tokenizer': {path} not found")
    return str(file_hash(path)) != (tokenizer_hash or "")


def build_hook(
    eval_cfg: EvalConfig | dict[str, Any],
    *,
    tokenizer: Any,
    tokenizer_hash: str | None,
    accelerator: Any,
    run_dir: Path,
) -> CPTEvaluationHook | None:
    """The trainer's factory: compose the hook for ``eval_cfg`` (None if it evaluates nothing).

    A mapping is checked by the config system first (an empty one means no evaluation).
    """
    if isinstance(eval_cfg, dict):
        if not eval_cfg:
            return None
        config = build(EvalConfig, eval_cfg, "eval")
        config.require_enabled("eval")
    else:
        config = eval_cfg
    if not config.enabled:
        return None
    recorded = Path(run_dir) / SAMPLES_FILE
    samples = read_samples(recorded) if recorded.is_file() else None  # a resumed run
    evaluator = build_evaluator(config, tokenizer, tokenizer_hash, samples)
    return CPTEvaluationHook(
        config, evaluator, tokenizer=tokenizer, run_dir=run_dir, accelerator=accelerator
    )
