"""Replay curricula: the domain share ``alpha`` as a function of the optimizer step.

Three forms, as in nanotron's data stages and the ramps of the continued-pretraining literature:
a constant, a linear ramp from ``start`` to ``end`` over ``[start_step, end_step]``, and stages
(a share from each given step on). The step is the 0-based count of optimizer steps done before
the batch, the same count the LR schedule reads. The mixer (``cpt.data.mixer``) turns the share
of each step into an exact sequence count of its global batch.
"""

from __future__ import annotations

from typing import Any

from cpt import ConfigError


class AlphaSchedule:
    """``schedule(step) -> alpha``; built from a number or ``data.alpha``'s schedule section."""

    def __init__(self, kind: str, points: list[tuple[int, float]]) -> None:
        if kind not in ("constant", "linear", "stages") or not points:
            raise ConfigError(f"data.alpha: cannot build a {kind!r} schedule from {points}")
        for step, alpha in points:
            if not 0.0 <= alpha <= 1.0:
                raise ConfigError(f"data.alpha: {alpha} at step {step} is outside [0, 1]")
        self.kind = kind
        self.points = [(int(s), float(a)) for s, a in points]

    @classmethod
    def constant(cls, alpha: float) -> AlphaSchedule:
        return cls("constant", [(0, float(alpha))])

    @classmethod
    def from_config(cls, spec: Any) -> AlphaSchedule:
        """From a number or an ``AlphaScheduleConfig`` (already validated by the config)."""
        if isinstance(spec, AlphaSchedule):
            return spec
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return cls.constant(float(spec))
        if spec.kind == "constant":
            return cls.constant(spec.value)
        if spec.kind == "linear":
            return cls("linear", [(spec.start_step, spec.start), (spec.end_step, spec.end)])
        return cls("stages", [(st.step, st.alpha) for st in spec.stages])

    def __call__(self, step: int) -> float:
        if self.kind == "constant":
            return self.points[0][1]
        if self.kind == "linear":
            (s0, a0), (s1, a1) = self.points
            if step <= s0:
                return a0
            if step >= s1:
                return a1
            return a0 + (a1 - a0) * (step - s0) / (s1 - s0)
        current = self.points[0][1]
        for start, alpha in self.points:
            if step < start:
                break
            current = alpha
        return current

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest share the schedule ever asks for."""
        values = [a for _, a in self.points]
        return min(values), max(values)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "points": [list(p) for p in self.points]}
