"""The trainer's configuration: one small dataclass per component, loaded from YAML + CLI overrides.

Every field carries ``help`` metadata (shown by ``--help``) and, where it has one, an allowed range
(``min``/``max``) or set of ``choices``. Loading checks every key: an unknown key is named together
with the closest known ones, a bad value with its key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import yaml

from cpt import ConfigError


def _f(default: Any, help: str, **meta: Any) -> Any:
    """A dataclass field with a default and its help text (and optional min/max/choices)."""
    if isinstance(default, (list, dict)):
        return field(
            default_factory=lambda: type(default)(default), metadata={"help": help, **meta}
        )
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class SourceSpec:
    """One token source of the domain or general side."""

    path: str = _f(
        "", "token data: a cpt manifest.json (format cpt) or a raw .bin file (format raw)"
    )
    format: str = _f(
        "raw", "cpt = cpt token shards; raw = nanoGPT-style flat token file", choices=("cpt", "raw")
    )
    weight: float = _f(
        1.0,
        "share of this source within its side (relative to the others)",
        min=0.0,
        min_exclusive=True,
    )
    dtype: str = _f(
        "uint16", "token dtype of a raw file (little-endian)", choices=("uint16", "uint32")
    )
    name: str = _f("", "a short name for logs (default: the file name)")


@dataclass
class ModelConfig:
    path: str | None = _f(None, "HF causal-LM directory to start from (the base model)")
    init: Dict[str, Any] = _f(
        {},
        "build a fresh model instead: {arch: llama, hidden_size, layers, "
        "heads, kv_heads, intermediate_size, vocab_size, max_position}",
    )
    tokenizer: str | None = _f(
        None, "tokenizer.json file or tokenizer directory (default: the model directory's own)"
    )
    attn_implementation: str = _f(
        "sdpa", "attention kernel", choices=("sdpa", "eager", "flash_attention_2")
    )
    gradient_checkpointing: bool = _f(False, "recompute activations in backward to save memory")
    compile: bool = _f(False, "wrap the model in torch.compile")
    loss_chunk: int = _f(
        1024,
        "tokens per chunk of the fused output projection + cross-entropy, which never holds "
        "the full logits; 0 = the model's own loss (used anyway with compile or FSDP)",
        min=0,
    )


@dataclass
class DataConfig:
    domain: List[SourceSpec] = _f([], "domain sources: list of {path, format, weight, dtype, name}")
    general: List[SourceSpec] = _f(
        [], "general (replay) sources, same form; may be empty if alpha=1"
    )
    alpha: float = _f(
        0.7, "domain share of training sequences (exact in every global batch)", min=0.0, max=1.0
    )
    seq_len: int = _f(1024, "tokens per packed training sequence", min=8)
    micro_batch_size: int = _f(8, "sequences per device per forward pass", min=1)
    eos_id: int | None = _f(None, "document separator id (default: the tokenizer's EOS)", min=0)
    mask_documents: bool = _f(
        False,
        "block attention across documents inside a packed sequence "
        "(4D block-diagonal mask on sdpa/eager, varlen on flash-attn)",
    )
    reshard_on_resume: bool = _f(
        False,
        "allow resuming with another data-parallel size or other "
        "sources (cursors are kept per source name)",
    )


@dataclass
class OptimConfig:
    base_lr: float = _f(3e-4, "the base model's pretraining peak LR", min=0.0, min_exclusive=True)
    beta: float = _f(
        0.1,
        "peak LR = beta x base_lr (continued pretraining: 0.01-0.1)",
        min=0.0,
        max=1.0,
        min_exclusive=True,
    )
    weight_decay: float = _f(0.1, "AdamW weight decay (not on norms, biases, embeddings)", min=0.0)
    adam_beta1: float = _f(0.9, "AdamW beta1", min=0.0, max=1.0)
    adam_beta2: float = _f(0.95, "AdamW beta2", min=0.0, max=1.0)
    eps: float = _f(1e-8, "AdamW epsilon", min=0.0, min_exclusive=True)
    grad_clip: float = _f(1.0, "max global gradient norm; 0 = no clipping", min=0.0)
    grad_accum: int = _f(1, "micro-batches per optimizer step", min=1)
    mixed_precision: str = _f(
        "auto",
        "auto = bf16 where the device has it, else no",
        choices=("auto", "no", "bf16", "fp16"),
    )


@dataclass
class ScheduleConfig:
    kind: str = _f(
        "cosine",
        "cosine: warmup then cosine to min; wsd: warmup-stable-decay; constant: warmup then flat",
        choices=("cosine", "wsd", "constant"),
    )
    max_steps: int | None = _f(None, "optimizer steps (or give total_tokens)", min=1)
    total_tokens: int | None = _f(
        None, "training tokens; steps = ceil(tokens / tokens per step)", min=1
    )
    warmup_frac: float = _f(
        0.01, "linear re-warmup over this fraction of the steps", min=0.0, max=1.0
    )
    min_lr_ratio: float = _f(0.1, "final LR = min_lr_ratio x peak", min=0.0, max=1.0)
    decay_frac: float = _f(0.2, "wsd only: fraction of steps in the final decay", min=0.0, max=1.0)


@dataclass
class CheckpointConfig:
    every: int = _f(
        1000,
        "write a checkpoint every N optimizer steps (and always at the end); 0 = only at the end",
        min=0,
    )
    keep_last: int = _f(
        3, "keep the last N checkpoints (plus the ones the eval hook protects)", min=1
    )
    resume: str = _f("auto", "auto = the latest checkpoint in run_dir if any; none; or a path")
    allow_mismatch: bool = _f(
        False,
        "resume a checkpoint whose model path/config, tokenizer or seed differ from this run's",
    )


@dataclass
class LoggingConfig:
    every: int = _f(10, "log a line every N steps (when stdout is not a TTY)", min=1)
    tensorboard: bool = _f(True, "write TensorBoard events to run_dir/tb")
    plots: bool = _f(True, "write loss/lr/alpha PNG plots to run_dir at the end")
    progress: str = _f("auto", "tqdm progress bar: auto = on a TTY", choices=("auto", "on", "off"))


@dataclass
class RunConfig:
    dir: str = _f("runs/cpt", "run directory: checkpoints, logs, plots, final model")
    seed: int = _f(1234, "seed for model init and torch RNGs", min=0)
    deterministic: bool = _f(False, "torch.use_deterministic_algorithms (bit-exact reruns)")
    threads: int | None = _f(None, "torch CPU threads (default: torch's choice)", min=1)
    hook: str | None = _f(
        None,
        "custom evaluation hook factory 'module:function' called as "
        "f(cfg, accelerator, run_dir) -> EvaluationHook (instead of eval)",
    )


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    run: RunConfig = field(default_factory=RunConfig)
    eval: Dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "evaluation hook settings (schema owned by cpt.evaluate); empty = no evaluation"
        },
    )

    @property
    def run_dir(self) -> Path:
        return Path(self.run.dir)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# Parsing and validation


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check/convert one value against a field type; raise ConfigError naming the key."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:  # X | None
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _convert(value, inner, key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return _build(tp, value, key)
    if origin in (list, List):
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        return [_convert(v, args[0], f"{key}.{i}") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            # Allow 1e9-style floats that are whole numbers (YAML reads 1e9 as a string or float).
            try:
                as_float = float(value)
            except (TypeError, ValueError):
                as_float = None
            if as_float is None or isinstance(value, bool) or not as_float.is_integer():
                raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
            return int(as_float)
        return value
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}") from None
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"config key '{key}': unsupported type {_type_name(tp)}")


def _check_range(value: Any, meta: dict[str, Any], key: str) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"config key '{key}': {value!r} is not one of {', '.join(choices)}")
    lo, hi = meta.get("min"), meta.get("max")
    too_low = lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo))
    if too_low or (hi is not None and value > hi):
        parts = []
        if lo is not None:
            parts.append(f"{'>' if meta.get('min_exclusive') else '>='} {lo}")
        if hi is not None:
            parts.append(f"<= {hi}")
        raise ConfigError(
            f"config key '{key}': {value!r} is out of range (must be {' and '.join(parts)})"
        )


def _build(cls: Any, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key)
        full = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(fields)
            raise ConfigError(f"unknown config key '{full}'{hint} (known keys here: {known})")
        meta = dict(fields[key].metadata)
        if isinstance(value, bool) and "choices" in meta:
            # YAML 1.1 reads bare no/off/yes/on as booleans; map back to the spelled choice.
            words = ("off", "no") if value is False else ("on", "yes")
            value = next((w for w in words if w in meta["choices"]), value)
        converted = _convert(value, hints[key], full)
        _check_range(converted, meta, full)
        kwargs[key] = converted
    return cls(**kwargs)


def _check_whole(cfg: TrainConfig) -> None:
    """Rules that involve more than one key."""
    if cfg.model.path is None and not cfg.model.init:
        raise ConfigError("config: give either 'model.path' (a base model) or 'model.init'")
    if cfg.model.path is not None and cfg.model.init:
        raise ConfigError("config: 'model.path' and 'model.init' are exclusive; give one")
    if not cfg.data.domain and cfg.data.alpha > 0:
        raise ConfigError("config key 'data.domain': no domain sources but alpha > 0")
    if not cfg.data.general and cfg.data.alpha < 1:
        raise ConfigError(
            f"config key 'data.general': no general sources but alpha={cfg.data.alpha} < 1 "
            "(set data.alpha=1.0 for domain-only training)"
        )
    for side in ("domain", "general"):
        for i, spec in enumerate(getattr(cfg.data, side)):
            if not spec.path:
                raise ConfigError(f"config key 'data.{side}.{i}.path': missing")
    if (cfg.schedule.max_steps is None) == (cfg.schedule.total_tokens is None):
        raise ConfigError(
            "config: give exactly one of 'schedule.max_steps' and 'schedule.total_tokens'"
        )


def set_override(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c=value`` in a nested dict; numeric parts index into lists."""
    parts = dotted.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"override '{dotted}': '{part}' is not an index of the list "
                    f"'{'.'.join(parts[:i])}' (length {len(node)})"
                )
            idx = int(part)
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{'.'.join(parts[:i])}' is not a mapping")
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]


def parse_overrides(items: list[str]) -> list[tuple[str, Any]]:
    out = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key.sub=value")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {exc}") from None
        out.append((key.strip(), value))
    return out


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> TrainConfig:
    """Read YAML (or take ``data``), apply ``key.sub=value`` overrides and validate."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path}: invalid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: top level must be a mapping")
        tree = loaded or {}
    if data is not None:
        tree = _deep_merge(tree, data)
    for key, value in parse_overrides(overrides or []):
        set_override(tree, key, value)
    cfg = _build(TrainConfig, tree, "")
    _check_whole(cfg)
    return cfg


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
        )
    return out


def help_text() -> str:
    """Every key with its default and meaning, generated from the dataclasses."""
    lines = ["configuration keys (YAML sections; override any with key.sub=value):", ""]

    def walk(cls: Any, prefix: str, indent: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                lines.append(f"{prefix}{f.name}:")
                walk(tp, f"{prefix}{f.name}.", indent)
                lines.append("")
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            else:
                default = f.default_factory()  # type: ignore[misc]
            meta = dict(f.metadata)
            allowed = ""
            if "choices" in meta:
                allowed = f" [{'|'.join(meta['choices'])}]"
            elif "min" in meta or "max" in meta:
                lo = meta.get("min", "")
                hi = meta.get("max", "")
                allowed = f" [{lo}..{hi}]"
            lines.append(f"  {prefix}{f.name} = {default!r}{allowed}")
            lines.append(f"      {meta.get('help', '')}")

    walk(TrainConfig, "", "")
    lines.append("source entries (data.domain / data.general items):")
    walk(SourceSpec, "  - ", "")
    return "\n".join(lines)
