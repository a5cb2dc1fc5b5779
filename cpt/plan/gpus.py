"""The accelerator table (``gpus.yaml`` beside this file): dense BF16 peak and memory per device."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cpt import ConfigError

TABLE = Path(__file__).with_name("gpus.yaml")


@dataclass(frozen=True)
class GPU:
    name: str
    peak_bf16_tflops: float
    memory_gb: float
    source: str

    @property
    def peak_flops(self) -> float:
        return self.peak_bf16_tflops * 1e12

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * 1e9


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    data = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    for name, row in data["gpus"].items():
        for key in ("peak_bf16_tflops", "memory_gb", "source"):
            if key not in row:
                raise ConfigError(f"{TABLE}: gpus.{name} has no '{key}'")
    return data


def known_gpus() -> list[str]:
    return sorted(_table()["gpus"])


def usable_fraction() -> float:
    return float(_table()["usable_fraction"])


def default_mfu() -> tuple[float, str]:
    t = _table()
    return float(t["default_mfu"]), str(t["default_mfu_source"])


def get_gpu(name: str) -> GPU:
    """A row of the table by name (case-insensitive); an unknown name lists the known ones."""
    key = name.strip().lower()
    rows = _table()["gpus"]
    if key not in rows:
        close = difflib.get_close_matches(key, list(rows), n=2, cutoff=0.5)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise ConfigError(
            f"unknown GPU type {name!r}{hint}; known: {', '.join(known_gpus())} "
            f"(add a row to {TABLE})"
        )
    row = rows[key]
    return GPU(key, float(row["peak_bf16_tflops"]), float(row["memory_gb"]), str(row["source"]))


def match_device_name(device_name: str) -> GPU | None:
    """The table row for a ``torch.cuda.get_device_name()`` string, e.g. 'NVIDIA H100 80GB HBM3'."""
    text = device_name.lower()
    if "h100" in text:
        return get_gpu("h100-pcie" if "pcie" in text else "h100")
    if "a100" in text:
        return get_gpu("a100-40gb" if "40gb" in text else "a100-80gb")
    for key in ("h200", "l40s", "mi300x"):
        if key in text.replace(" ", ""):
            return get_gpu(key)
    if re.search(r"\bl4\b", text):  # not the L40 / L40S
        return get_gpu("l4")
    return None
