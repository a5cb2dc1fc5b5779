"""What cpt's data loader delivers on this machine: tokens/s of one rank's ``MixedLoader``.

The planner compares this with the tokens/s one GPU consumes at the planned FLOP rate. Random
token files (with EOS every ~500 tokens, as documents) stand in for real shards: the loader's
work (mixing plan, reads, packing, document positions) does not depend on the token values.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def measure_loader(
    seq_len: int, micro_batch: int, seconds: float = 1.0, tokens: int = 2_000_000
) -> float:
    """Tokens/s of cpt's loader (raw sources, alpha 0.7), timed for about ``seconds``."""
    from cpt.data.loader import MixedLoader
    from cpt.data.sources import RawTokenSource, write_raw_tokens

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="cpt-plan-") as tmp:
        sources = []
        for name in ("domain", "general"):
            ids = rng.integers(1, 50_000, size=tokens, dtype=np.int64)
            ids[rng.integers(0, tokens, size=tokens // 500)] = 0  # document ends
            path = write_raw_tokens(Path(tmp) / f"{name}.bin", ids)
            sources.append(RawTokenSource(path, name=name))
        loader = MixedLoader(
            [(sources[0], 1.0)],
            [(sources[1], 1.0)],
            alpha=0.7,
            seq_len=seq_len,
            micro_batch_size=micro_batch,
            eos_id=0,
        )
        loader.next_step()  # first touch of the memory maps
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            loader.next_step()
            steps += 1
        return steps * loader.tokens_per_step / (time.perf_counter() - t0)
