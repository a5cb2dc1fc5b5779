"""Standard errors and the paired significance test behind the forgetting monitor's alerts.

A metric is a ratio of sums over units: ``value = sum(num) / sum(den)``. An accuracy has one unit
per item (``num`` = the item's score, ``den`` = 1); a perplexity has one unit per held-out
document (``num`` = summed NLL in nats, ``den`` = predicted tokens, value = exp(num / den)).

The test (stated once, used everywhere): a **paired bootstrap** over the units. The units of the
baseline (step 0) and of the current evaluation are the same items / documents in the same order
(fixed lm-eval samples, fixed perplexity windows), so each bootstrap replicate draws one set of
unit indices and applies it to both; the one-sided p-value is the fraction of replicates in which
the current model is *not* worse than the baseline. Seeded: the same inputs give the same p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = [
    "PairedTest",
    "Units",
    "bootstrap_stderr",
    "paired_bootstrap",
    "paired_regression_test",
    "regression",
]

# resample rows per numpy batch (bounds memory at about 8 * CHUNK * n bytes)
_CHUNK = 500


@dataclass
class Units:
    """Per-unit numerators and denominators of a metric; ``log`` = the value is exp(num / den)."""

    num: list[float]
    den: list[float] = field(default_factory=list)  # empty = 1 per unit
    log: bool = False

    def __post_init__(self) -> None:
        if self.den and len(self.den) != len(self.num):
            raise ValueError(f"units: {len(self.num)} numerators but {len(self.den)} denominators")

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        num = np.asarray(self.num, dtype=np.float64)
        den = np.asarray(self.den, dtype=np.float64) if self.den else np.ones_like(num)
        return num, den

    def value(self) -> float:
        num, den = self.arrays()
        return float(_value(num.sum(), den.sum(), self.log))  # a Python float: JSON-safe

    def to_dict(self) -> dict[str, Any]:
        return {"num": list(self.num), "den": list(self.den), "log": self.log}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Units:
        return cls([float(x) for x in d["num"]], [float(x) for x in d["den"]], bool(d["log"]))


def _value(num: Any, den: Any, log: bool) -> Any:
    ratio = num / den
    return np.exp(ratio) if log else ratio


def _replicates(
    n: int, iters: int, seed: int, arrays: Sequence[tuple[np.ndarray, np.ndarray]], log: bool
) -> list[np.ndarray]:
    """Bootstrap values of each (num, den) pair, all drawn with the same unit indices."""
    rng = np.random.default_rng(seed)
    out: list[list[np.ndarray]] = [[] for _ in arrays]
    done = 0
    while done < iters:
        k = min(_CHUNK, iters - done)
        idx = rng.integers(0, n, size=(k, n))
        for i, (num, den) in enumerate(arrays):
            out[i].append(_value(num[idx].sum(axis=1), den[idx].sum(axis=1), log))
        done += k
    return [np.concatenate(v) for v in out]


def bootstrap_stderr(units: Units, *, iters: int = 1000, seed: int = 0) -> float:
    """Standard error of the metric by resampling its units (documents for perplexity)."""
    num, den = units.arrays()
    if len(num) < 2:
        return math.nan
    (vals,) = _replicates(len(num), iters, seed, [(num, den)], units.log)
    return float(np.std(vals, ddof=1))


def paired_bootstrap(
    units: Sequence[Units], *, iters: int = 2000, seed: int = 0
) -> list[np.ndarray]:
    """Bootstrap values of several evaluations of the same units, every replicate drawing one set
    of unit indices for all of them (so differences between them are paired)."""
    arrays = [u.arrays() for u in units]
    sizes = {len(num) for num, _ in arrays}
    if len(sizes) != 1 or len({u.log for u in units}) != 1:
        raise ValueError(
            f"paired bootstrap: the evaluations have {sorted(sizes)} units (or compute the "
            "metric differently); they must be the same items"
        )
    return _replicates(sizes.pop(), iters, seed, arrays, units[0].log)


@dataclass
class PairedTest:
    regression: float  # relative worsening of the current value vs. the baseline (> 0 = worse)
    p_value: float  # one-sided: share of paired replicates where the current is not worse
    units: int


def paired_regression_test(
    base: Units, current: Units, *, higher_is_better: bool, iters: int = 2000, seed: int = 0
) -> PairedTest:
    """Paired bootstrap of the relative regression of ``current`` against ``base``."""
    b_num, b_den = base.arrays()
    c_num, c_den = current.arrays()
    if len(b_num) != len(c_num):
        raise ValueError(
            f"paired test: the baseline has {len(b_num)} units and the current evaluation "
            f"{len(c_num)}; they must be the same items"
        )
    if base.log != current.log:
        raise ValueError("paired test: the two evaluations compute the metric differently")
    reg = float(regression(current.value(), base.value(), higher_is_better))
    n = len(b_num)
    if n < 2:
        return PairedTest(reg, math.nan, n)
    vb, vc = paired_bootstrap([base, current], iters=iters, seed=seed)
    worse = (vb - vc) if higher_is_better else (vc - vb)
    return PairedTest(reg, float(np.mean(worse <= 0)), n)


def regression(value: float, base: float, higher_is_better: bool) -> float:
    """Signed relative worsening vs. ``base`` (> 0 = worse), e.g. 0.05 = 5 % worse."""
    worse = (base - value) if higher_is_better else (value - base)
    if base == 0:
        return 0.0 if worse <= 0 else math.inf
    return worse / abs(base)
