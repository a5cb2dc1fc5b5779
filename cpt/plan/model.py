"""Model shape and model FLOPs per token: the one formula the planner and the training log share.

FLOPs per trained token (forward + backward), the PaLM convention (Chowdhery et al. 2022, app. B)::

    flops_per_token = 6 * N  +  12 * L * d_attn * S

- ``N`` = parameters that take part in a matrix multiply: every linear layer of every block plus
  the output projection (``lm_head``, counted even when it is tied to the input embedding, because
  the ``d x V`` matmul runs either way). The input embedding is left out: it is a table lookup
  with no FLOPs, and counting it would inflate MFU for large-vocabulary models. Norm weights are
  left out too (elementwise, negligible).
- ``12 L d_attn S``: the attention scores ``QK^T`` and their use ``AV`` (2 matmuls x 2 FLOPs per
  multiply-add x 3 for forward + backward) over the full sequence ``S`` (no causal halving, as
  MFU figures in the literature count it), ``d_attn = heads x head_dim``.

Plain "6ND" figures (e.g. 8B on 50B tokens = 2.4e21) are the first term with ``N`` the quoted size.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cpt import ConfigError

# Shapes of well-known models (from their published HF config.json), so a plan needs no download.
KNOWN_ARCHITECTURES: dict[str, dict[str, Any]] = {
    "smollm2-135m": dict(hidden=576, layers=30, heads=9, kv_heads=3, inter=1536, vocab=49152,
                         tied=True),
    "smollm2-360m": dict(hidden=960, layers=32, heads=15, kv_heads=5, inter=2560, vocab=49152,
                         tied=True),
    "smollm2-1.7b": dict(hidden=2048, layers=24, heads=32, kv_heads=32, inter=8192, vocab=49152,
                         tied=True),
    "llama3-8b": dict(hidden=4096, layers=32, heads=32, kv_heads=8, inter=14336, vocab=128256,
                      tied=False),
    "llama3-70b": dict(hidden=8192, layers=80, heads=64, kv_heads=8, inter=28672, vocab=128256,
                       tied=False),
    "llama3-405b": dict(hidden=16384, layers=126, heads=128, kv_heads=8, inter=53248,
                        vocab=128256, tied=False),
}  # fmt: skip
# Llama 3.1 changed the RoPE scaling and context length, not the shapes.
KNOWN_ARCHITECTURES["llama3.1-8b"] = KNOWN_ARCHITECTURES["llama3-8b"]
KNOWN_ARCHITECTURES["llama3.1-70b"] = KNOWN_ARCHITECTURES["llama3-70b"]
KNOWN_ARCHITECTURES["llama3.1-405b"] = KNOWN_ARCHITECTURES["llama3-405b"]


@dataclass(frozen=True)
class ModelShape:
    """A decoder-only transformer as the planner sees it (Llama-style: GQA, SwiGLU MLP).

    ``params_override`` is set when only a size is known ("8B"): then ``matmul_params`` is that
    size and there is no attention term (no shape to compute it from).
    """

    name: str
    hidden: int = 0
    layers: int = 0
    heads: int = 0
    kv_heads: int = 0
    inter: int = 0
    vocab: int = 0
    tied: bool = False
    head_dim: int = 0  # 0 = hidden // heads
    params_override: float | None = None

    @property
    def has_shape(self) -> bool:
        return self.params_override is None

    @property
    def d_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def d_attn(self) -> int:
        return self.heads * self.d_head

    def layer_params(self) -> int:
        """Parameters of one block: q, k, v, o projections, gate/up/down, two RMSNorm weights."""
        h, kv = self.hidden, self.kv_heads * self.d_head
        attn = h * self.d_attn + 2 * h * kv + self.d_attn * h
        return attn + 3 * h * self.inter + 2 * h

    def total_params(self) -> float:
        """All parameters (embedding, blocks, final norm, lm_head unless tied)."""
        if not self.has_shape:
            return float(self.params_override)  # type: ignore[arg-type]
        emb = self.vocab * self.hidden
        head = 0 if self.tied else emb
        return float(emb + self.layers * self.layer_params() + self.hidden + head)

    def matmul_params(self) -> float:
        """``N`` of the FLOPs formula: block linears + lm_head (see the module docstring)."""
        if not self.has_shape:
            return float(self.params_override)  # type: ignore[arg-type]
        return float(
            self.layers * (self.layer_params() - 2 * self.hidden) + self.vocab * self.hidden
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_params": self.total_params(), "N": self.matmul_params()}


def flops_per_token(shape: ModelShape, seq_len: int, attention: bool = True) -> float:
    """Training FLOPs per token (forward + backward) by the module docstring's formula."""
    dense = 6.0 * shape.matmul_params()
    if not attention or not shape.has_shape:
        return dense
    return dense + 12.0 * shape.layers * shape.d_attn * seq_len


def from_hf_config(cfg: dict[str, Any], name: str = "model") -> ModelShape:
    """A shape from a Hugging Face ``config.json`` mapping (Llama, Mistral, Qwen2, SmolLM, ...)."""
    cfg = dict(cfg.get("text_config") or cfg)  # multimodal configs nest the LM
    need = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    missing = [k for k in need if not isinstance(cfg.get(k), int)]
    if missing:
        raise ConfigError(f"{name}: config has no integer {', '.join(missing)}")
    hidden = int(cfg["hidden_size"])
    return ModelShape(
        name=name,
        hidden=hidden,
        layers=int(cfg["num_hidden_layers"]),
        heads=int(cfg["num_attention_heads"]),
        kv_heads=int(cfg.get("num_key_value_heads") or cfg["num_attention_heads"]),
        inter=int(cfg.get("intermediate_size") or 4 * hidden),
        vocab=int(cfg["vocab_size"]),
        tied=bool(cfg.get("tie_word_embeddings", False)),
        head_dim=int(cfg.get("head_dim") or 0),
    )


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmbt]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def parse_count(text: str | float | int, what: str = "count") -> float:
    """``8B`` / ``135M`` / ``1T`` / ``5e10`` -> a number; a clear error otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    m = _SIZE.match(str(text))
    if not m:
        raise ConfigError(f"{what} {text!r}: expected a number like 8B, 135M, 1T or 5e10")
    return float(m.group(1)) * _SCALE[m.group(2).lower()]


def resolve_model(spec: str | Path | ModelShape | dict[str, Any]) -> ModelShape:
    """A model from an HF directory (its config.json), a known architecture name, a size, or a
    config mapping (HF keys or ``cpt.train``'s ``model.init`` short names)."""
    if isinstance(spec, ModelShape):
        return spec
    if isinstance(spec, dict):
        from cpt.train.model import _INIT_NAMES  # the trainer's names, one place

        cfg = {_INIT_NAMES.get(k, k): v for k, v in spec.items()}
        return from_hf_config(cfg, name=str(spec.get("arch", "model.init")))
    text = str(spec)
    if text.lower() in KNOWN_ARCHITECTURES:
        return ModelShape(name=text.lower(), **KNOWN_ARCHITECTURES[text.lower()])
    path = Path(text)
    if path.exists():
        cfg_file = path / "config.json" if path.is_dir() else path
        if not cfg_file.is_file():
            raise ConfigError(f"model {path}: a directory without config.json (not an HF model)")
        try:
            cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"model {cfg_file}: not valid JSON ({exc})") from None
        return from_hf_config(cfg, name=str(cfg_file))
    if _SIZE.match(text):
        return ModelShape(name=text, params_override=parse_count(text, "model size"))
    raise ConfigError(
        f"model {text!r}: not an HF model directory, a size (e.g. 8B) or a known architecture "
        f"({', '.join(sorted(KNOWN_ARCHITECTURES))})"
    )
