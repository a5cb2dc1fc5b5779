"""The identity of a training run, recorded in every checkpoint and checked on resume.

A checkpoint continues one run: the same model (architecture config and parameter shapes, and
where the weights came from), the same tokenizer, the same seed. Data identity is recorded too;
the data loader compares it (with its own override, ``data.reshard_on_resume``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Config keys that change with the library version or runtime toggles, not with the model.
_VOLATILE = {"transformers_version", "use_cache", "architectures", "torch_dtype", "dtype"}


def config_hash(hf_config: Any) -> str:
    """sha256 of the model's HF config (private and volatile keys left out)."""
    items = hf_config.to_dict() if hasattr(hf_config, "to_dict") else dict(hf_config)
    kept = {k: v for k, v in items.items() if not k.startswith("_") and k not in _VOLATILE}
    text = json.dumps(kept, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def run_identity(
    model: Any, model_source: str, tokenizer_hash: str, data: dict[str, str], seed: int
) -> dict[str, Any]:
    """Call on the unwrapped model before FSDP/compile change its parameter names and shapes."""
    return {
        "model": {
            "source": model_source,
            "config_hash": config_hash(model.config),
            "parameters": {n: list(p.shape) for n, p in model.named_parameters()},
        },
        "tokenizer": tokenizer_hash or None,
        "data": dict(data),
        "seed": int(seed),
    }


def _shape_changes(saved: Any, now: dict[str, list[int]]) -> list[str]:
    if not isinstance(saved, dict):
        return [f"parameter shapes: checkpoint records {type(saved).__name__}, not a table"]
    out = []
    for name in sorted(set(saved) | set(now)):
        a, b = saved.get(name), now.get(name)
        if a != b:
            out.append(f"parameter {name}: checkpoint {a}, this model {b}")
    if len(out) > 3:  # an architecture change touches many: the first ones say enough
        out = out[:3] + [f"... {len(out) - 3} more parameters differ"]
    return out


def describe_mismatches(saved: dict[str, Any], now: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(hard, soft) differences, each naming the checkpoint's value and this run's.

    hard: parameter shapes (the weights cannot be loaded); soft: everything an explicit
    override may accept (model source or config, tokenizer, seed)."""
    sm, nm = saved.get("model") or {}, now["model"]
    hard = _shape_changes(sm.get("parameters"), nm["parameters"])
    soft = []
    for label, a, b in (
        ("model.path", sm.get("source"), nm["source"]),
        ("model config hash", sm.get("config_hash"), nm["config_hash"]),
        ("tokenizer hash", saved.get("tokenizer"), now["tokenizer"]),
        ("run.seed", saved.get("seed"), now["seed"]),
    ):
        if a != b:
            soft.append(f"{label}: checkpoint {a!r}, this run {b!r}")
    return hard, soft
