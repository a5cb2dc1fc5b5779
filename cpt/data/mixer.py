"""The replay mixer: which side and which source each training sequence comes from.

No coin flips: the domain share ``alpha`` is realised exactly in every global batch (to within one
sequence, with the fractional remainder carried to the next batch so the long-run share is exact
too), and within a side the sources are chosen by their weights with smooth weighted round-robin,
a low-discrepancy schedule whose counts never stray more than one pick from the weights.
Everything here is integer/float arithmetic on a tiny state, so every rank computes the same plan.
"""

from __future__ import annotations

import math
from typing import Any

from cpt import ConfigError

_EPS = 1e-9  # keeps 0.7 * 10 = 6.9999... from being floored to 6


class MixConfigError(ConfigError, ValueError):
    """A replay share or source weight the mixer cannot use (a ``cpt.ConfigError``)."""


class WeightedPicker:
    """Smooth weighted round-robin over fixed weights (deterministic, low discrepancy)."""

    def __init__(self, weights: list[float]) -> None:
        bad = [w for w in weights if not (math.isfinite(w) and w >= 0)]
        if bad:
            raise MixConfigError(f"data source weight {bad[0]} is not a finite number >= 0")
        total = float(sum(weights))
        if not weights or total <= 0:
            raise MixConfigError("data source weights: at least one must be positive")
        self.weights = [w / total for w in weights]
        self.credits = [0.0] * len(weights)

    def pick(self) -> int:
        for i, w in enumerate(self.weights):
            self.credits[i] += w
        best = max(range(len(self.credits)), key=lambda i: (self.credits[i], -i))
        self.credits[best] -= 1.0
        return best


def split_batch(alpha: float, batch: int, carry: float) -> tuple[int, float]:
    """Domain sequences in a global batch of ``batch`` and the remainder carried onward."""
    if alpha <= 0.0 or alpha >= 1.0:
        return (0 if alpha <= 0.0 else batch), 0.0
    exact = alpha * batch + carry
    n_domain = min(batch, max(0, math.floor(exact + _EPS)))
    return n_domain, exact - n_domain


def interleave(n_domain: int, batch: int) -> list[bool]:
    """Spread ``n_domain`` domain slots evenly over the batch (Bresenham), True = domain.

    Even spreading gives every data-parallel rank and micro-batch nearly the same mix.
    """
    return [(k + 1) * n_domain // batch > k * n_domain // batch for k in range(batch)]


class Mixer:
    """Plans each global batch: a list of (side, source index within the side) per sequence slot."""

    def __init__(self, alpha: float, domain_weights: list[float], general_weights: list[float]):
        self.alpha = alpha
        self.carry = 0.0
        self.pickers = {
            "domain": WeightedPicker(domain_weights) if domain_weights else None,
            "general": WeightedPicker(general_weights) if general_weights else None,
        }

    def set_alpha(self, alpha: float) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise MixConfigError(f"data.alpha must be in [0, 1], got {alpha}")
        if alpha > 0 and self.pickers["domain"] is None:
            raise MixConfigError(f"data.alpha = {alpha} > 0 needs data.domain sources")
        if alpha < 1 and self.pickers["general"] is None:
            raise MixConfigError(f"data.alpha = {alpha} < 1 needs data.general sources")
        if alpha != self.alpha:
            self.carry = 0.0  # a remainder of the old share must not leak into the new one
        self.alpha = alpha

    def plan(self, batch: int) -> list[tuple[str, int]]:
        n_domain, self.carry = split_batch(self.alpha, batch, self.carry)
        out = []
        for is_domain in interleave(n_domain, batch):
            side = "domain" if is_domain else "general"
            picker = self.pickers[side]
            assert picker is not None  # set_alpha/constructor guarantee it
            out.append((side, picker.pick()))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "carry": self.carry,
            "credits": {k: (list(p.credits) if p else None) for k, p in self.pickers.items()},
        }

    def load_state_dict(self, state: dict[str, Any], *, reset_credits: bool = False) -> None:
        self.alpha = float(state["alpha"])
        self.carry = float(state["carry"])
        if reset_credits:
            return
        for side, picker in self.pickers.items():
            saved = state["credits"].get(side)
            if picker is not None and saved is not None:
                if len(saved) != len(picker.credits):
                    raise ValueError(
                        f"mixer state has {len(saved)} {side} sources, "
                        f"config has {len(picker.credits)}"
                    )
                picker.credits = [float(c) for c in saved]
