"""The loss-spike guard: a step whose loss jumps above ``factor`` x the running median of the last
``window`` steps is a spike; its batch is skipped (no optimizer step), and after ``max_spikes``
spikes the trainer rolls back to its last checkpoint with the LR lowered (``optim.spike_guard``).

Only accepted steps enter the median, so a burst of spikes cannot raise its own bar. The state is
a few floats, saved in every checkpoint: a resumed run calls the same spikes.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any, Literal

from cpt.train.config import SpikeGuardConfig

Verdict = Literal["ok", "spike", "rollback"]


class SpikeGuard:
    def __init__(self, config: SpikeGuardConfig) -> None:
        self.config = config
        self.history: deque[float] = deque(maxlen=config.window)
        self.spikes = 0  # since the last rollback

    def threshold(self) -> float | None:
        """The loss above which a step is a spike; None while the window is filling."""
        if len(self.history) < self.config.window:
            return None
        return self.config.factor * statistics.median(self.history)

    def observe(self, loss: float) -> Verdict:
        """Judge one step's loss (the same value on every rank)."""
        bar = self.threshold()
        if bar is not None and not (loss <= bar):  # NaN and inf are spikes too
            self.spikes += 1
            return "rollback" if self.spikes >= self.config.max_spikes else "spike"
        self.history.append(float(loss))
        return "ok"

    def after_rollback(self) -> None:
        self.spikes = 0

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "spikes": self.spikes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = deque(
            (float(x) for x in state.get("history", [])), maxlen=self.config.window
        )
        self.spikes = int(state.get("spikes", 0))
