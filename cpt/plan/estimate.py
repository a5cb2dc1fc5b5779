"""``cpt.plan.estimate``: compute, time, money, memory and storage of a CPT run."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from cpt import ConfigError
from cpt.plan.gpus import GPU, default_mfu, get_gpu, usable_fraction
from cpt.plan.memory import (
    STRATEGIES,
    checkpoint_bytes,
    estimate_memory,
    grad_accum_for,
    largest_micro_batch,
    storage_bytes,
)
from cpt.plan.model import ModelShape, flops_per_token, parse_count, resolve_model


@dataclass
class StrategyPlan:
    strategy: str
    micro_batch: int  # largest that fits (0 = not even 1)
    grad_accum: int
    global_batch_tokens: int
    memory_at_micro_batch: dict[str, float]  # the MemoryEstimate at that micro-batch (or at 1)
    fits: bool


@dataclass
class Plan:
    model: dict[str, Any]
    tokens: float
    tokens_source: str
    seq_len: int
    gpu: str
    gpu_peak_tflops: float
    gpu_memory_gb: float
    gpus: int
    flops_per_token: float
    flops_6nd: float
    flops_attention: float
    flops: float
    mfu: float
    mfu_source: str
    effective_tflops_per_gpu: float
    gpu_hours: float
    wall_hours: float
    price_per_gpu_hour: float | None
    cost: float | None
    strategies: list[StrategyPlan] = field(default_factory=list)
    checkpoint: dict[str, float] = field(default_factory=dict)
    storage_bytes: float = 0.0
    keep_last: int = 0
    keep_best: int = 0
    loader_needed_tokens_per_s: float = 0.0  # per GPU
    loader_measured_tokens_per_s: float | None = None  # one rank of cpt's loader, this machine

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        return render(self)


def tokens_from_manifests(
    manifests: Sequence[str | Path], epochs: float, alpha: float
) -> tuple[float, str]:
    """Training tokens when the domain data is seen ``epochs`` times at domain share ``alpha``."""
    from cpt.data.sources import open_source

    if not 0 < alpha <= 1:
        raise ConfigError(f"alpha {alpha}: must be in (0, 1] (the domain share of training tokens)")
    total = 0
    for m in manifests:
        path = str(m)
        fmt = "raw" if path.endswith(".bin") else "cpt"
        total += open_source(path, fmt, "uint16", Path(path).stem).num_tokens
    tokens = total * epochs / alpha
    return tokens, f"{total:,} domain tokens x {epochs:g} epochs / alpha {alpha:g}"


def kwargs_from_config(config: Any) -> dict[str, Any]:
    """``estimate`` keywords from a cpt.train recipe (a path or a loaded ``TrainConfig``)."""
    from cpt.train.config import TrainConfig, load_config

    cfg: TrainConfig = config if isinstance(config, TrainConfig) else load_config(config, [])
    model: Any = cfg.model.path
    if model is None:  # a fresh model: its typed model.init as the HF config keys it stands for
        from cpt.train.model import init_kwargs

        init = cfg.model.init
        assert init is not None  # load_config requires model.path or model.init
        model = {"arch": init.arch, **init_kwargs(init), **init.extra}
    out: dict[str, Any] = {
        "model": model,
        "seq_len": cfg.data.seq_len,
        "alpha": cfg.data.alpha,
        "checkpointing": cfg.model.gradient_checkpointing,
        "loss_chunk": cfg.model.loss_chunk,
        "keep_last": cfg.checkpoint.keep_last,
        "keep_best": cfg.eval.select.keep_best if cfg.eval.enabled else 0,
    }
    if cfg.schedule.total_tokens is not None:
        out["tokens"] = cfg.schedule.total_tokens
    return out


def mfu_from_run(run_dir: str | Path) -> float:
    """The median MFU of a cpt run's logging windows (``mfu`` in ``log.jsonl``)."""
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        raise ConfigError(f"run {run_dir}: no log.jsonl")
    values = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise ConfigError(f"{path}:{n}: not JSON") from None
        if isinstance(rec, dict) and isinstance(rec.get("mfu"), (int, float)):
            values.append(float(rec["mfu"]))
    if not values:
        raise ConfigError(f"{path}: no step record has an 'mfu' (a run without a known peak?)")
    return statistics.median(values)


def estimate(
    model: str | Path | ModelShape,
    *,
    tokens: float | str | None = None,
    manifests: Sequence[str | Path] = (),
    epochs: float = 1.0,
    alpha: float = 0.7,
    seq_len: int = 4096,
    gpu: str = "h100",
    gpus: int = 8,
    mfu: float | None = None,
    tflops: float | None = None,
    from_run: str | Path | None = None,
    price: float | None = None,
    attention: bool = True,
    precision: str = "bf16",
    checkpointing: bool = False,
    loss_chunk: int = 1024,
    global_batch_tokens: float = 4 * 1024 * 1024,
    keep_last: int = 3,
    keep_best: int = 2,
    measure_loader: bool = False,
) -> Plan:
    """Plan a run. The rate per GPU is, in order: ``tflops`` (effective TFLOP/s), ``mfu``, the MFU
    measured by the cpt run in ``from_run``, else the table's sourced default MFU."""
    shape = resolve_model(model)
    device: GPU = get_gpu(gpu)
    if gpus < 1:
        raise ConfigError(f"gpus {gpus}: must be >= 1")
    if tokens is not None:
        n_tokens, source = parse_count(tokens, "tokens"), "given"
    elif manifests:
        n_tokens, source = tokens_from_manifests(manifests, epochs, alpha)
    else:
        raise ConfigError("give a token budget (tokens) or domain token manifests")
    per_token = flops_per_token(shape, seq_len, attention)
    dense = 6.0 * shape.matmul_params() * n_tokens
    total = per_token * n_tokens
    if tflops is not None:
        rate, mfu_used, mfu_src = tflops * 1e12, tflops * 1e12 / device.peak_flops, "given TFLOP/s"
    elif mfu is not None:
        rate, mfu_used, mfu_src = mfu * device.peak_flops, mfu, "given"
    elif from_run is not None:
        mfu_used = mfu_from_run(from_run)
        rate, mfu_src = mfu_used * device.peak_flops, f"measured by the cpt run {from_run}"
    else:
        mfu_used, mfu_src = default_mfu()
        rate = mfu_used * device.peak_flops
    if not 0 < mfu_used <= 1:
        raise ConfigError(f"MFU {mfu_used:g}: must be in (0, 1]")
    gpu_hours = total / rate / 3600
    plan = Plan(
        model=shape.to_dict(),
        tokens=n_tokens,
        tokens_source=source,
        seq_len=seq_len,
        gpu=device.name,
        gpu_peak_tflops=device.peak_bf16_tflops,
        gpu_memory_gb=device.memory_gb,
        gpus=gpus,
        flops_per_token=per_token,
        flops_6nd=dense,
        flops_attention=total - dense,
        flops=total,
        mfu=mfu_used,
        mfu_source=mfu_src,
        effective_tflops_per_gpu=rate / 1e12,
        gpu_hours=gpu_hours,
        wall_hours=gpu_hours / gpus,
        price_per_gpu_hour=price,
        cost=None if price is None else gpu_hours * price,
        keep_last=keep_last,
        keep_best=keep_best,
        loader_needed_tokens_per_s=rate / per_token,
    )
    if shape.has_shape:
        budget = device.memory_bytes * usable_fraction()
        mem_kwargs = dict(
            seq_len=seq_len, gpus=gpus, precision=precision, checkpointing=checkpointing,
            loss_chunk=loss_chunk,
        )  # fmt: skip
        for strategy in STRATEGIES:
            mb = largest_micro_batch(shape, budget, strategy=strategy, **mem_kwargs)
            mem = estimate_memory(shape, micro_batch=max(mb, 1), strategy=strategy, **mem_kwargs)
            accum = grad_accum_for(global_batch_tokens, max(mb, 1), seq_len, gpus)
            plan.strategies.append(
                StrategyPlan(
                    strategy, mb, accum, accum * max(mb, 1) * seq_len * gpus, mem.to_dict(), mb > 0
                )
            )
        plan.checkpoint = checkpoint_bytes(shape)
        plan.storage_bytes = storage_bytes(shape, keep_last, keep_best)
    if measure_loader:
        from cpt.plan.loader_rate import measure_loader as _measure

        best = next((s.micro_batch for s in plan.strategies if s.fits), 1)
        plan.loader_measured_tokens_per_s = _measure(seq_len, max(best, 1))
    return plan


def _gb(x: float) -> str:
    return f"{x / 1e9:,.1f} GB"


def render(p: Plan) -> str:
    m = p.model
    shape = (
        f"{m['layers']} layers, hidden {m['hidden']}, {m['heads']} heads / {m['kv_heads']} kv, "
        f"MLP {m['inter']}, vocab {m['vocab']}"
        if m["params_override"] is None
        else "size only (no attention term, no memory model)"
    )
    lines = [
        f"model: {m['name']}: {m['total_params'] / 1e9:.3f} B params, N = {m['N'] / 1e9:.3f} B "
        f"in matmuls ({shape})",
        f"tokens: {p.tokens:.4g} ({p.tokens_source}); sequence length {p.seq_len}",
        "FLOPs = 6 N D + 12 L d_attn S D (PaLM convention, embedding lookup not counted):",
        f"  6ND {p.flops_6nd:.4g} + attention {p.flops_attention:.4g} = {p.flops:.4g} "
        f"({p.flops_per_token:.4g} per token)",
        f"rate: {p.gpu} peak {p.gpu_peak_tflops:g} TFLOP/s dense bf16 x MFU {p.mfu:.1%} "
        f"({p.mfu_source}) = {p.effective_tflops_per_gpu:.1f} TFLOP/s per GPU",
        f"GPU-hours: {p.gpu_hours:,.0f}; wall-clock on {p.gpus} x {p.gpu}: {p.wall_hours:,.1f} h "
        f"({p.wall_hours / 24:,.1f} days)",
    ]
    if p.cost is not None:
        lines.append(f"cost: ${p.cost:,.0f} at ${p.price_per_gpu_hour:g} per GPU-hour")
    if p.strategies:
        lines.append(
            f"memory per GPU ({p.gpu}, {p.gpu_memory_gb:g} GB, {usable_fraction():.0%} usable):"
        )
        for s in p.strategies:
            mem = s.memory_at_micro_batch
            parts = (
                f"weights {_gb(mem['weights'])}, grads {_gb(mem['grads'])}, AdamW "
                f"{_gb(mem['optimizer'])}, activations {_gb(mem['activations'])}, loss "
                f"{_gb(mem['loss_buffers'])}, working {_gb(mem['working'])}"
            )
            host = f", host {_gb(mem['host'])}" if mem["host"] else ""
            if s.fits:
                lines.append(
                    f"  {s.strategy:>12}: micro-batch {s.micro_batch} fits (peak "
                    f"{_gb(mem['peak'])}: {parts}{host}); grad_accum {s.grad_accum} -> "
                    f"{s.global_batch_tokens:,} tokens per step"
                )
            else:
                lines.append(
                    f"  {s.strategy:>12}: does NOT fit even at micro-batch 1 (peak "
                    f"{_gb(mem['peak'])}: {parts}{host})"
                )
        ck = p.checkpoint
        lines.append(
            f"checkpoints: {_gb(ck['training_checkpoint'])} each (fp32 model + AdamW), HF export "
            f"{_gb(ck['hf_export'])}; keep_last {p.keep_last} + best {p.keep_best} + final/best "
            f"exports: {_gb(p.storage_bytes)}"
        )
    need = p.loader_needed_tokens_per_s
    line = f"data loader: the run needs {need:,.0f} tokens/s per GPU"
    if p.loader_measured_tokens_per_s is not None:
        got = p.loader_measured_tokens_per_s
        verdict = "enough" if got >= need else "TOO SLOW: add loader workers or faster storage"
        line += (
            f"; cpt's loader gives {got:,.0f} tokens/s per rank here ({got / need:.1f}x, {verdict})"
        )
    lines.append(line)
    return "\n".join(lines)


def implied_mfu(plan: Plan, wall_hours: float, attention: bool = True) -> float:
    """The MFU a run of ``plan``'s FLOPs must have had to finish in ``wall_hours`` on its GPUs."""
    if wall_hours <= 0:
        raise ConfigError(f"wall-clock {wall_hours} h: must be > 0")
    flops = plan.flops if attention else plan.flops_6nd
    return flops / (plan.gpus * wall_hours * 3600 * plan.gpu_peak_tflops * 1e12)
