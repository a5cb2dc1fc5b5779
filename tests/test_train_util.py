"""Helpers shared by the trainer tests (tiny data, tiny model); no tests of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cpt.data.sources import write_raw_tokens

EOS = 0
VOCAB = 256


def corpus(seed: int, n_docs: int, lo: int, hi: int, vocab_lo: int, vocab_hi: int) -> np.ndarray:
    """Documents of counting runs (learnable) separated by EOS."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(n_docs):
        length = int(rng.integers(lo, hi))
        start = int(rng.integers(vocab_lo, vocab_hi))
        parts.append((start + np.arange(length)) % (vocab_hi - vocab_lo) + vocab_lo)
        parts.append(np.array([EOS]))
    return np.concatenate(parts)


class ArraySource:
    """An in-memory TokenSource."""

    def __init__(self, name: str, tokens: np.ndarray) -> None:
        self.name = name
        self.tokens = np.asarray(tokens)
        self.num_tokens = len(self.tokens)
        self.identity = f"array:{name}:{self.num_tokens}"

    def read(self, start: int, count: int) -> np.ndarray:
        assert 0 <= start and start + count <= self.num_tokens
        return self.tokens[start : start + count]


def write_data(tmp: Path) -> tuple[Path, Path]:
    dom = write_raw_tokens(tmp / "dom.bin", corpus(1, 200, 20, 150, 1, 100))
    gen = write_raw_tokens(tmp / "gen.bin", corpus(2, 200, 20, 150, 100, 250))
    return dom, gen


def tiny_config(tmp: Path, run_dir: Path, **sections: Any) -> dict[str, Any]:
    """A complete config dict for a ~20k-parameter llama on raw test data."""
    dom, gen = tmp / "dom.bin", tmp / "gen.bin"
    if not dom.exists():
        write_data(tmp)
    cfg: dict[str, Any] = {
        "model": {
            "init": {
                "arch": "llama",
                "hidden_size": 32,
                "layers": 2,
                "heads": 4,
                "intermediate_size": 64,
                "vocab_size": VOCAB,
            }
        },
        "data": {
            "domain": [{"path": str(dom)}],
            "general": [{"path": str(gen)}],
            "alpha": 0.7,
            "seq_len": 32,
            "micro_batch_size": 2,
            "eos_id": EOS,
        },
        "optim": {"base_lr": 1e-2, "beta": 1.0, "grad_accum": 2},
        "schedule": {"max_steps": 8, "warmup_frac": 0.25},
        "checkpoint": {"every": 4, "keep_last": 5},
        "logging": {"every": 2, "tensorboard": False, "plots": False, "progress": "off"},
        "run": {"dir": str(run_dir), "threads": 1, "deterministic": True, "seed": 7},
    }
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    return cfg
