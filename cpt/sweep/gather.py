"""Gather a sweep: per-trial figures from each run's report, a table, a plot, a recommendation.

A trial's figures are those of its last evaluation (``run/report.json`` of the evaluation hook):
``domain_gain`` (relative fall of the domain metric against step 0, > 0 is better) and
``general_regression`` (the worst relative worsening of a watched general metric, > 0 is worse).
Trials that differ only by seed are one grid point: mean and sample standard deviation (the
error bars; none with one seed).
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cpt.sweep.trials import Trial


@dataclass
class PointResult:
    point: dict[str, Any]
    trials: list[str]
    ok: int  # trials with figures
    failed: list[str]
    domain_gain: float | None
    domain_gain_sd: float | None
    general_regression: float | None
    general_regression_sd: float | None

    @property
    def label(self) -> str:
        return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in self.point.items())


def trial_figures(trial: Trial) -> tuple[float, float] | str:
    """(domain_gain, general_regression) of the trial's last evaluation, or why there is none."""
    state = trial.state()
    if state.get("status") != "done":
        return f"status {state.get('status', 'not run')}: {state.get('error') or ''}".strip()
    path = trial.run_dir / "report.json"
    if not path.is_file():
        return f"{path} not found: the base config needs an 'eval' section (held-out sets)"
    evals = json.loads(path.read_text(encoding="utf-8")).get("evaluations") or []
    if len(evals) < 2:
        return f"{path}: fewer than two evaluations (step 0 and the end are needed)"
    last = evals[-1]
    return float(last["domain_gain"]), float(last["general_regression"])


def _mean_sd(xs: list[float]) -> tuple[float | None, float | None]:
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


def gather(trials: list[Trial]) -> tuple[list[PointResult], dict[str, str]]:
    """Results per grid point (grid order) and the reason per trial that has no figures."""
    groups: dict[str, list[Trial]] = {}
    for t in trials:
        groups.setdefault(json.dumps(t.point, sort_keys=True), []).append(t)
    results, problems = [], {}
    for members in groups.values():
        gains, regs, failed = [], [], []
        for t in members:
            fig = trial_figures(t)
            if isinstance(fig, str):
                problems[t.name] = fig
                failed.append(t.name)
            else:
                gains.append(fig[0])
                regs.append(fig[1])
        g, gsd = _mean_sd(gains)
        r, rsd = _mean_sd(regs)
        results.append(
            PointResult(
                members[0].point, [t.name for t in members], len(gains), failed, g, gsd, r, rsd
            )  # fmt: skip
        )
    return results, problems


def recommend(results: list[PointResult], limit: float) -> PointResult | None:
    """The point with the best mean domain gain whose mean general regression is within ``limit``
    (first in grid order on a tie); None if no point qualifies."""
    ok = [
        r for r in results
        if r.domain_gain is not None and r.general_regression is not None
        and r.general_regression <= limit
    ]  # fmt: skip
    return max(ok, key=lambda r: r.domain_gain) if ok else None  # type: ignore[arg-type,return-value]


def _pct(x: float | None, sd: float | None = None) -> str:
    if x is None:
        return "-"
    return f"{100 * x:+.2f} %" + ("" if sd is None else f" ± {100 * sd:.2f}")


def table_markdown(results: list[PointResult], limit: float, best: PointResult | None) -> str:
    keys = list(results[0].point) if results else []
    header = keys + ["trials ok", "domain gain", "general regression", "within limit"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        within = "-" if r.general_regression is None else (
            "yes" if r.general_regression <= limit else "no")  # fmt: skip
        mark = " **(recommended)**" if r is best else ""
        cells = [str(r.point[k]) for k in keys] + [
            f"{r.ok}/{len(r.trials)}", _pct(r.domain_gain, r.domain_gain_sd),
            _pct(r.general_regression, r.general_regression_sd), within + mark,
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_csv(results: list[PointResult]) -> str:
    keys = list(results[0].point) if results else []
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys + ["trials", "ok", "domain_gain", "domain_gain_sd", "general_regression",
                       "general_regression_sd"])  # fmt: skip
    for r in results:
        w.writerow([r.point[k] for k in keys] + [len(r.trials), r.ok, r.domain_gain,
                   r.domain_gain_sd, r.general_regression, r.general_regression_sd])  # fmt: skip
    return buf.getvalue()


def plot(results: list[PointResult], limit: float, best: PointResult | None, path: Path) -> Path:
    """Domain gain against general regression, one point per grid point with error bars, and
    the regression limit as a vertical line (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        if r.domain_gain is None or r.general_regression is None:
            continue
        x, y = 100 * r.general_regression, 100 * r.domain_gain
        xerr = None if r.general_regression_sd is None else 100 * r.general_regression_sd
        yerr = None if r.domain_gain_sd is None else 100 * r.domain_gain_sd
        style = {"marker": "*", "markersize": 14} if r is best else {"marker": "o"}
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, capsize=3, ls="none", **style)
        ax.annotate(r.label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.axvline(100 * limit, color="red", ls="--", label=f"regression limit {100 * limit:g} %")
    ax.set_xlabel("general regression (%, lower is better)")
    ax.set_ylabel("domain gain (%, higher is better)")
    ax.set_title("domain gain vs. general regression (last eval; bars = sd over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def results_json(results: list[PointResult], problems: dict[str, str]) -> dict[str, Any]:
    return {"points": [asdict(r) for r in results], "problems": problems}
