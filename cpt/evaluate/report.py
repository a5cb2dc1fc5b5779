"""End-of-run report: report.json, report.md and PNG plots of the domain/general trade-off."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("cpt.evaluate.report")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# The trainer's own plots of its log (``cpt.train.metrics.write_plots``): the report links them
# instead of drawing the training log a second time.
TRAINER_PLOTS = ("loss.png", "lr.png", "alpha.png")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value + 0.0:.4g}"  # + 0.0: no "-0"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} %"


def render_markdown(report: dict[str, Any]) -> str:
    evals = report["evaluations"]
    names = sorted({k for e in evals for k in e["metrics"]})
    lines = ["# Continued-pretraining run report", ""]
    best = report.get("best")
    if best:
        lines.append(
            f"Best checkpoint: step {best['step']} (score {best['score']:.4f}, domain gain "
            f"{_pct(best['domain_gain'])}, general regression {_pct(best['general_regression'])}), "
            + (
                f"exported to `{best['exported_to']}`."
                if best.get("exported_to")
                else f"NOT exported: {best.get('export_error', 'unknown error')}."
            )
        )
    else:
        lines.append(
            "No checkpoint was eligible as best (none evaluated, or all over the regression limit)."
        )
    lines += ["", f"Alerts: {len(report['alerts'])}; actions: {len(report['actions'])}.", ""]
    tput = report.get("throughput")
    if tput:  # median over the trainer's logging windows (cpt.train.metrics)
        mfu = f", MFU {100 * tput['mfu']:.1f} %" if "mfu" in tput else ""
        lines += [f"Training throughput: {tput['tflops']:.3g} TFLOP/s per device{mfu}.", ""]
    header = ["step", "tokens", "alpha", "lr x"] + names + ["score", "alerts", "actions"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for e in evals:
        cells = [str(e["step"]), str(e["tokens"])]
        cells += [_fmt(e.get("alpha")), _fmt(e.get("lr_multiplier"))]
        for n in names:
            v = e["metrics"].get(n)
            se = e.get("stderr", {}).get(n)
            d = e.get("deltas", {}).get(n)
            p = e.get("tests", {}).get(n, {}).get("p_value")
            cell = _fmt(v) + ("" if se is None else f" ± {se:.2g}")
            if d is not None:
                cell += f" ({_pct(d)}" + ("" if p is None else f", p={p:.2g}") + ")"
            cells.append(cell)
        cells.append(_fmt(e.get("score")))
        cells.append(", ".join(a["metric"] for a in e.get("alerts", [])) or "-")
        cells.append(", ".join(f"{a['kind']}={a['value']:g}" for a in e.get("actions", [])) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Values are ± one standard error (lm-eval's for accuracies, a document bootstrap for "
        "perplexities). Deltas are relative changes against step 0 (the base model); p is the "
        "one-sided paired-bootstrap p-value of a regression on the same items or documents. "
        "ppl/probe is the independent general probe (text that is not the replay source).",
        "",
    ]
    final = report.get("final")
    if final and (final.get("last") or final.get("best")):
        lines += [_final_table(final), ""]
    for plot in report.get("plots", []):
        lines.append(f"![{plot}]({plot})")
    return "\n".join(lines) + "\n"


def _final_table(final: dict[str, Any]) -> str:
    limit = final.get("limit")
    rows = [
        f"Final evaluation ({'full sets' if limit is None else f'limit {limit}'}):",
        "",
        "| model | " + " | ".join(sorted((final.get("last") or final["best"])["metrics"])) + " |",
    ]
    names = sorted((final.get("last") or final["best"])["metrics"])
    rows.append("|" + "---|" * (len(names) + 1))
    for which in ("last", "best"):
        res = final.get(which)
        if not res:
            continue
        cells = [
            _fmt(res["metrics"].get(n))
            + ("" if n not in res["stderr"] else f" ± {res['stderr'][n]:.2g}")
            for n in names
        ]
        rows.append(f"| {which} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _series(evals: list[dict[str, Any]], key: str) -> tuple[list[float], list[float], list[float]]:
    pts = [e for e in evals if key in e["metrics"]]
    xs = [float(e["tokens"]) for e in pts]
    ys = [float(e["metrics"][key]) for e in pts]
    es = [float(e.get("stderr", {}).get(key, 0.0)) for e in pts]
    return xs, ys, es


def plot(run_dir: Path, evals: list[dict[str, Any]], threshold: float | None = None) -> list[str]:
    """``perplexity.png`` in ``run_dir``: domain and general perplexity vs. training tokens."""
    series = [
        ("ppl/domain", "domain ppl"),
        ("ppl/general", "general ppl (replay source)"),
        ("ppl/probe", "general probe ppl (independent text)"),
    ]
    if not any(k in e["metrics"] for e in evals for k, _ in series):  # tokenizer changed
        series = [
            ("bpb/domain", "domain bits/byte"),
            ("bpb/general", "general bits/byte (replay source)"),
            ("bpb/probe", "general probe bits/byte (independent text)"),
        ]
    if not any(k in e["metrics"] for e in evals for k, _ in series):
        return plot_benchmarks(run_dir, evals)
    metric = series[1][0]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in series:
        xs, ys, es = _series(evals, key)
        if xs:
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
    if threshold is not None and evals and metric in evals[0]["metrics"]:
        level = evals[0]["metrics"][metric] * (1 + threshold)
        ax.axhline(level, color="grey", linestyle="--", label="general alert level")
    alert_tokens = [e["tokens"] for e in evals if e.get("alerts")]
    for i, t in enumerate(alert_tokens):
        ax.axvline(t, color="red", alpha=0.3, label="forgetting alert" if i == 0 else None)
    ax.set_xlabel("training tokens")
    name = "perplexity" if metric.startswith("ppl/") else "bits per byte"
    ax.set_ylabel(name)
    ax.set_title(f"domain vs. general {name}")
    ax.legend()
    written = [_save(fig, run_dir / "perplexity.png")]
    plt.close(fig)
    written += plot_benchmarks(run_dir, evals)
    return written


def plot_benchmarks(run_dir: Path, evals: list[dict[str, Any]]) -> list[str]:
    """``benchmarks.png``: every lm-eval accuracy vs. training tokens, ± one standard error."""
    keys = sorted(
        {k for e in evals for k in e["metrics"] if k.startswith("lm/") and k.endswith("/acc")}
    )
    if not keys:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for key in keys:
        xs, ys, es = _series(evals, key)
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=key[3:])
    ax.set_xlabel("training tokens")
    ax.set_ylabel("accuracy (± 1 s.e.)")
    ax.set_title("lm-eval tasks")
    ax.legend(fontsize="small")
    written = [_save(fig, run_dir / "benchmarks.png")]
    plt.close(fig)
    return written


def _save(fig: Any, path: Path) -> str:
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    tmp.replace(path)
    return path.name


def write_report(run_dir: Path, report: dict[str, Any], *, plots: bool = True) -> dict[str, Path]:
    """Write ``report.json`` and ``report.md`` (and the plots) into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    from cpt.train.metrics import read_log, throughput_summary

    report.setdefault("throughput", throughput_summary(read_log(run_dir / "log.jsonl")))
    if plots:
        own = plot(run_dir, report["evaluations"], report.get("threshold"))
        report["plots"] = own + [n for n in TRAINER_PLOTS if (run_dir / n).is_file()]
    atomic_write_text(run_dir / "report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    atomic_write_text(run_dir / "report.md", render_markdown(report))
    out = {"json": run_dir / "report.json", "markdown": run_dir / "report.md"}
    for name in report.get("plots", []):
        out[name] = run_dir / name
    return out
