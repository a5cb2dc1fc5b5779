"""The replay mixer: which side and which source each training sequence comes from.

No coin flips: the domain share ``alpha`` is realised exactly in every global batch (to within one
sequence, with the fractional remainder carried to the next batch so the long-run share is exact
too), and within a side the sources are chosen by their weights with smooth weighted round-robin,
a low-discrepancy schedule whose counts never stray more than one pick from the weights.
Everything here is integer/float arithmetic on a tiny state, so every rank computes the same plan.

``alpha`` may be a curriculum (``cpt.data.curriculum.AlphaSchedule``): batch ``k`` then gets the
share ``schedule(k)``, and the remainder is carried across the schedule's changes, so over any run
of steps the domain count is ``floor(sum of alpha_k x batch)``: exact in every batch where
``alpha_k x batch`` is whole, never more than one sequence off where it is not. A monitor action
(``set_alpha``) overrides the schedule from then on.
"""

from __future__ import annotations

import math
from typing import Any

from cpt import ConfigError
from cpt.data.curriculum import AlphaSchedule

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

    def __init__(
        self,
        alpha: float | AlphaSchedule,
        domain_weights: list[float],
        general_weights: list[float],
    ):
        self.schedule = AlphaSchedule.from_config(alpha)
        self.override: float | None = None  # set by a monitor action; replaces the schedule
        self.steps = 0  # batches planned
        self.carry = 0.0
        self.pickers = {
            "domain": WeightedPicker(domain_weights) if domain_weights else None,
            "general": WeightedPicker(general_weights) if general_weights else None,
        }
        lo, hi = self.schedule.bounds()
        self._check(lo)
        self._check(hi)
        self.alpha = self.alpha_at(0)  # the share of the next batch

    def _check(self, alpha: float) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise MixConfigError(f"data.alpha must be in [0, 1], got {alpha}")
        if alpha > 0 and self.pickers["domain"] is None:
            raise MixConfigError(f"data.alpha = {alpha} > 0 needs data.domain sources")
        if alpha < 1 and self.pickers["general"] is None:
            raise MixConfigError(f"data.alpha = {alpha} < 1 needs data.general sources")

    def alpha_at(self, step: int) -> float:
        """The target share of batch ``step`` (0-based)."""
        return self.override if self.override is not None else self.schedule(step)

    def set_alpha(self, alpha: float) -> None:
        """Fix the share from the next batch on (a monitor action), replacing the schedule."""
        self._check(alpha)
        if alpha != self.alpha_at(self.steps):
            self.carry = 0.0  # a remainder of the old share must not leak into the new one
        self.override = alpha
        self.alpha = alpha

    def plan(self, batch: int) -> list[tuple[str, int]]:
        alpha = self.alpha_at(self.steps)
        n_domain, self.carry = split_batch(alpha, batch, self.carry)
        self.steps += 1
        self.alpha = self.alpha_at(self.steps)
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
            "override": self.override,
            "steps": self.steps,
            "carry": self.carry,
            "credits": {k: (list(p.credits) if p else None) for k, p in self.pickers.items()},
        }

    def load_state_dict(
        self, state: dict[str, Any], *, reset_credits: bool = False, steps: int | None = None
    ) -> None:
        """Restore; ``steps`` = the loader's batch count, for a state written before curricula."""
        saved_alpha = float(state["alpha"])
        self.steps = int(state.get("steps", steps or 0))
        if "override" in state:
            self.override = None if state["override"] is None else float(state["override"])
        else:  # older state: an alpha other than the schedule's was set by an action
            self.override = saved_alpha if saved_alpha != self.schedule(self.steps) else None
        self.alpha = self.alpha_at(self.steps)
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
