"""The trainer's configuration: one small dataclass per component, loaded from YAML + CLI overrides.

Built on ``cpt.config`` (the one config system, shared with the ``eval:`` section): every field
carries ``help`` metadata (shown by ``--help``) and, where it has one, an allowed range
(``min``/``max``) or set of ``choices``. Loading checks every key: an unknown key is named together
with the closest known ones, a bad value with its key, the value and what is allowed. Checks that
need the model's config or the data run in ``cpt.train.preflight``, still before any weights load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from cpt import ConfigError
from cpt.config import (
    as_dict,
    build,
    deep_merge,
    help_lines,
    parse_overrides,
    read_yaml,
    set_override,
)
from cpt.config import option as _f
from cpt.evaluate.config import EvalConfig


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

    def check_format(self, where: str) -> None:
        # A manifest read as raw tokens would train on the bytes of its JSON text.
        if self.format == "raw" and Path(self.path).suffix == ".json":
            raise ConfigError(
                f"config key '{where}.format': {self.path} is a .json file (a cpt manifest?) "
                "but the format is raw; set format: cpt"
            )


@dataclass
class InitConfig:
    """``model.init``: a fresh model from a Hugging Face config; null = the arch's default."""

    arch: str = _f("llama", "Hugging Face model type (AutoConfig.for_model)")
    vocab_size: Optional[int] = _f(None, "vocabulary size (required)", min=1)  # noqa: UP045
    hidden_size: Optional[int] = _f(None, "hidden size", min=1)  # noqa: UP045
    layers: Optional[int] = _f(None, "decoder layers (num_hidden_layers)", min=1)  # noqa: UP045
    heads: Optional[int] = _f(  # noqa: UP045
        None, "attention heads (num_attention_heads)", min=1
    )
    kv_heads: Optional[int] = _f(  # noqa: UP045
        None, "key/value heads (num_key_value_heads)", min=1
    )
    intermediate_size: Optional[int] = _f(  # noqa: UP045
        None, "MLP width (null = 4 x hidden_size, hidden_size 64 if unset)", min=1
    )
    max_position: Optional[int] = _f(  # noqa: UP045
        None, "maximum positions (max_position_embeddings)", min=1
    )
    tie_word_embeddings: Optional[bool] = _f(  # noqa: UP045
        None, "share the input embedding and output head"
    )
    extra: Dict[str, Any] = _f(
        {}, "further keys of the Hugging Face config, each checked against the arch's config"
    )

    def check(self, where: str) -> None:
        if self.vocab_size is None:
            raise ConfigError(f"config key '{where}.vocab_size': missing")


@dataclass
class ModelConfig:
    path: str | None = _f(None, "HF causal-LM directory to start from (the base model)")
    init: Optional[InitConfig] = _f(  # noqa: UP045 (py39 + get_type_hints)
        None, "build a fresh model instead of loading model.path (keys below)"
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
class AlphaStage:
    """One stage of a staged replay curriculum (nanotron's data stages, for the mix)."""

    step: int = _f(0, "first optimizer step of the stage (0-based, the LR schedule's count)", min=0)
    alpha: float = _f(0.7, "domain share from this step on", min=0.0, max=1.0)


@dataclass
class AlphaScheduleConfig:
    """``data.alpha`` as a curriculum: constant, a linear ramp, or stages at given steps."""

    kind: str = _f(
        "constant",
        "constant: value; linear: start -> end over [start_step, end_step]; stages: a list",
        choices=("constant", "linear", "stages"),
    )
    value: Optional[float] = _f(None, "constant: the domain share", min=0.0, max=1.0)  # noqa: UP045
    start: Optional[float] = _f(None, "linear: share up to start_step", min=0.0, max=1.0)  # noqa: UP045
    end: Optional[float] = _f(None, "linear: share from end_step on", min=0.0, max=1.0)  # noqa: UP045
    start_step: int = _f(0, "linear: step where the ramp begins", min=0)
    end_step: Optional[int] = _f(None, "linear: step where the ramp ends", min=1)  # noqa: UP045
    stages: List[AlphaStage] = _f([], "stages: list of {step, alpha}; the first at step 0")

    def check(self, where: str) -> None:
        need = {"constant": ("value",), "linear": ("start", "end", "end_step"), "stages": ()}
        for key in need[self.kind]:
            if getattr(self, key) is None:
                raise ConfigError(f"config key '{where}.{key}': missing (kind {self.kind})")
        if self.kind == "linear" and self.end_step is not None and self.end_step <= self.start_step:
            raise ConfigError(
                f"config key '{where}.end_step': {self.end_step} must be after start_step "
                f"{self.start_step}"
            )
        if self.kind == "stages":
            if not self.stages:
                raise ConfigError(f"config key '{where}.stages': missing (kind stages)")
            if self.stages[0].step != 0:
                raise ConfigError(
                    f"config key '{where}.stages.0.step': the first stage must start at step 0, "
                    f"got {self.stages[0].step}"
                )
            for i in range(1, len(self.stages)):
                if self.stages[i].step <= self.stages[i - 1].step:
                    raise ConfigError(
                        f"config key '{where}.stages.{i}.step': {self.stages[i].step} is not after "
                        f"the previous stage's step {self.stages[i - 1].step}"
                    )


@dataclass
class DataConfig:
    domain: List[SourceSpec] = _f([], "domain sources: list of {path, format, weight, dtype, name}")
    general: List[SourceSpec] = _f(
        [], "general (replay) sources, same form; may be empty if alpha=1"
    )
    alpha: Union[float, AlphaScheduleConfig] = _f(  # noqa: UP007 (py39 + get_type_hints)
        0.7,
        "domain share of training sequences (exact in every global batch); a number, or a "
        "schedule {kind: constant|linear|stages, ...} (keys under 'data.alpha schedule' below)",
        min=0.0,
        max=1.0,
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
class EWCConfig:
    """``optim.ewc``: elastic weight consolidation against the base model (cpt.train.ewc)."""

    lambda_: float = _f(
        1.0,
        "penalty strength: loss += lambda/2 * sum F (theta - theta*)^2, F normalised to mean 1; "
        "0 = Fisher ready but penalty off (a monitor enable_ewc action turns it on)",
        min=0.0,
        key="lambda",
    )
    fisher_samples: int = _f(
        64, "general sequences (seq_len tokens, one per backward) for the diagonal Fisher", min=1
    )
    fisher_path: Optional[str] = _f(  # noqa: UP045
        None,
        "safetensors file of the Fisher (default run_dir/ewc_fisher.safetensors); reused if it "
        "exists, refused if it is of another model or sample count",
    )


@dataclass
class SpikeGuardConfig:
    """``optim.spike_guard``: skip loss spikes; after max_spikes, roll back with a lower LR."""

    enabled: bool = _f(False, "watch the loss of every step for spikes")
    factor: float = _f(
        3.0, "a spike: loss > factor x the median of the last `window` steps", min=1.0,
        min_exclusive=True,
    )  # fmt: skip
    window: int = _f(50, "steps in the running median (no spike is called before it fills)", min=1)
    max_spikes: int = _f(
        3, "after this many spikes (since the last rollback) roll back to the last checkpoint",
        min=1,
    )  # fmt: skip
    lr_factor: float = _f(
        0.5, "the LR multiplier is multiplied by this at a rollback", min=0.0, max=1.0,
        min_exclusive=True, max_exclusive=True,
    )  # fmt: skip


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
    ewc: Optional[EWCConfig] = _f(  # noqa: UP045
        None, "EWC penalty towards the base model (keys below); absent = off"
    )
    spike_guard: SpikeGuardConfig = _f(SpikeGuardConfig, "loss-spike guard (off by default)")
    # New tokens (cpt.tokenizer extend + resize): cpt.train.new_tokens.
    freeze_body_steps: int = _f(
        0,
        "the first N optimizer steps train only the input embeddings and the output head "
        "(new-token rows settle before the body moves); 0 = off",
        min=0,
    )
    new_token_lr_mult: float = _f(
        1.0,
        "LR multiplier for the new-token rows of the embeddings and head (ids from "
        "optim.new_token_first_id); 1 = same LR as the rest",
        min=0.0,
    )
    new_token_first_id: int | None = _f(
        None,
        "first new-token id (default: base_vocab of resize_report.json in model.path, written "
        "by python -m cpt.tokenizer resize)",
        min=1,
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
    eval: EvalConfig = field(
        default_factory=EvalConfig,
        metadata={"help": "evaluation during training (cpt.evaluate); off unless it names data"},
    )

    @property
    def run_dir(self) -> Path:
        return Path(self.run.dir)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data that ``load_config(data=...)`` reads back to the same config
        (an eval section that evaluates nothing is left out: written out, it would not load)."""
        tree: dict[str, Any] = as_dict(self)
        if not self.eval.enabled:
            del tree["eval"]
        return tree


# ---------------------------------------------------------------------------------------------
# Loading


def _check_whole(cfg: TrainConfig, tree: dict[str, Any]) -> None:
    """Rules that involve more than one key."""
    if cfg.model.path is None and cfg.model.init is None:
        raise ConfigError("config: give either 'model.path' (a base model) or 'model.init'")
    if cfg.model.path is not None and cfg.model.init is not None:
        raise ConfigError("config: 'model.path' and 'model.init' are exclusive; give one")
    from cpt.data.curriculum import AlphaSchedule

    lo, hi = AlphaSchedule.from_config(cfg.data.alpha).bounds()
    if not cfg.data.domain and hi > 0:
        raise ConfigError("config key 'data.domain': no domain sources but alpha > 0")
    if not cfg.data.general and lo < 1:
        shown = cfg.data.alpha if isinstance(cfg.data.alpha, float) else lo
        raise ConfigError(
            f"config key 'data.general': no general sources but alpha={shown} < 1 "
            "(set data.alpha=1.0 for domain-only training)"
        )
    if cfg.optim.ewc is not None and not cfg.data.general:
        raise ConfigError(
            "config key 'optim.ewc': the Fisher is computed on general (replay) sequences: list "
            "them in data.general (alpha may stay 1.0: they need not be trained on)"
        )
    if cfg.eval.monitor.actions.ewc.enabled and cfg.optim.ewc is None:
        raise ConfigError(
            "config key 'eval.monitor.actions.ewc.enabled': needs an 'optim.ewc' section (the "
            "Fisher comes from the base model; set optim.ewc.lambda=0 to start with EWC off)"
        )
    for side in ("domain", "general"):
        for i, spec in enumerate(getattr(cfg.data, side)):
            if not spec.path:
                raise ConfigError(f"config key 'data.{side}.{i}.path': missing")
            spec.check_format(f"data.{side}.{i}")
    if (cfg.schedule.max_steps is None) == (cfg.schedule.total_tokens is None):
        raise ConfigError(
            "config: give exactly one of 'schedule.max_steps' and 'schedule.total_tokens'"
        )
    init = cfg.model.init
    if init is not None and init.max_position is not None and cfg.data.seq_len > init.max_position:
        raise ConfigError(
            f"config key 'data.seq_len': {cfg.data.seq_len} is longer than the model's "
            f"'model.init.max_position' = {init.max_position}"
        )
    if init is not None and cfg.data.eos_id is not None and cfg.data.eos_id >= init.vocab_size:
        raise ConfigError(
            f"config key 'data.eos_id': {cfg.data.eos_id} is outside the vocabulary "
            f"('model.init.vocab_size' = {init.vocab_size})"
        )
    if tree.get("eval"):  # a section that names keys but nothing to evaluate is a mistake
        cfg.eval.require_enabled("eval")


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> TrainConfig:
    """Read YAML (or take ``data``), apply ``key.sub=value`` overrides and validate."""
    tree: dict[str, Any] = read_yaml(path) if path is not None else {}
    if data is not None:
        tree = deep_merge(tree, data)
    for key, value in parse_overrides(overrides or []):
        set_override(tree, key, value)
    cfg = build(TrainConfig, tree, "")
    _check_whole(cfg, tree)
    return cfg


def help_text() -> str:
    """Every key with its default and meaning, generated from the dataclasses."""
    lines = ["configuration keys (YAML sections; override any with key.sub=value):", ""]
    lines += help_lines(TrainConfig)
    lines.append("source entries (data.domain / data.general items):")
    lines += help_lines(SourceSpec, "  - ")
    lines.append("")
    lines.append("data.alpha schedule (instead of a number):")
    lines += help_lines(AlphaScheduleConfig, "data.alpha.")
    lines.append("stage entries (data.alpha.stages items):")
    lines += help_lines(AlphaStage, "  - ")
    return "\n".join(lines)
