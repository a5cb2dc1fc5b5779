"""The peak FLOP/s of this CPU, against which MFU is reported on CPU (how: see ``cpu_peak`` in
``gpus.yaml``): the best of several timed dense matmuls in fp32 and bf16, and the best ever seen
for this CPU model and thread count, kept in a small JSON cache."""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CpuPeak:
    flops: float  # FLOP/s: the best rate in use (this measurement or the cached best)
    measured: float  # FLOP/s: the best rate of this measurement
    dtype: str  # the dtype of the measurement's best rate
    key: str  # CPU model and thread count
    source: str


def _settings() -> dict[str, Any]:
    from cpt.plan.gpus import _table

    return dict(_table()["cpu_peak"])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def cache_path() -> Path:
    root = os.environ.get("CPT_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "cpt"
    return base / str(_settings()["cache_file"])


def matmul_rates(size: int, dtypes: list[str], repeats: int, per_repeat: int,
                 skip_slower_than: float) -> dict[str, float]:  # fmt: skip
    """Best FLOP/s per dtype of ``size`` x ``size`` matmuls (``repeats`` timings each)."""
    import torch

    rates: dict[str, float] = {}
    first: dict[str, float] = {}
    for name in dtypes:
        dtype = getattr(torch, name)
        a = torch.ones(size, size, dtype=dtype)  # constant inputs: no RNG (the run's seeds stay)
        b = torch.full((size, size), 0.5, dtype=dtype)
        t0 = time.perf_counter()
        torch.mm(a, b)  # warm-up, also the slow-dtype probe
        first[name] = time.perf_counter() - t0
        if first[name] > skip_slower_than * min(first.values()):
            continue
        best = 0.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(per_repeat):
                torch.mm(a, b)
            best = max(best, 2.0 * size**3 * per_repeat / (time.perf_counter() - t0))
        rates[name] = best
    return rates


def _read_cache(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: measured afresh and rewritten
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float)) and v > 0}


@functools.cache
def cpu_peak(threads: int | None = None) -> CpuPeak:
    """Measure (once per process and thread count) and return the CPU peak in use."""
    import torch

    threads = threads or torch.get_num_threads()
    s = _settings()
    rates = matmul_rates(int(s["matmul_size"]), list(s["dtypes"]), int(s["repeats"]),
                         int(s["matmuls_per_repeat"]), float(s["skip_slower_than"]))  # fmt: skip
    dtype = max(rates, key=lambda k: rates[k])
    measured = rates[dtype]
    key = f"{_cpu_model()} | {threads} threads"
    path = cache_path()
    cache = _read_cache(path)
    best = max(measured, cache.get(key, 0.0))
    if best > cache.get(key, 0.0):
        cache[key] = best
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            tmp.write_text(json.dumps(cache, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache only costs the memory of earlier, better measurements
    n = int(s["matmul_size"])
    source = (f"CPU: best {n}x{n} matmul rate ({', '.join(s['dtypes'])}; best of this run "
              f"{measured / 1e12:.3g} TFLOP/s {dtype}, best seen {best / 1e12:.3g}; gpus.yaml "
              "cpu_peak)")  # fmt: skip
    return CpuPeak(best, measured, dtype, key, source)
