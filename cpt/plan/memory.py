"""Memory per GPU of a training run: weights, gradients, AdamW states, activations, buffers.

The model (cpt's trainer: fp32 master weights, AdamW, optional bf16 autocast, cpt's chunked loss):

- weights 4 B/param, gradients 4 B/param, AdamW ``exp_avg`` + ``exp_avg_sq`` 8 B/param (fp32);
  DDP holds them whole on every GPU, FSDP full-shard divides them by the GPU count, FSDP with CPU
  offload keeps them in host memory (reported as ``host``).
- activations saved for backward, per token and Llama block (sdpa/flash attention, no ``S x S``
  score matrix), in elements: RMSNorm input, normalised and output ``3h`` (x2 norms), rotated
  q + k and v ``h + 2 kv``, attention output and the contiguous copy fed to ``o_proj`` ``2h``,
  MLP gate, silu(gate), up and their product ``4 i``: ``9h + 2kv + 4i``. fp32 = 4 B each; bf16
  autocast = 2 B for matmul outputs but the norms run in fp32 and add a bf16 cast of their output
  (``14 B x h`` per norm). Gradient checkpointing keeps only each block's input (``h``) and
  recomputes one block at a time.
- bf16 autocast also keeps a bf16 copy of every matmul weight from forward to backward (2 B/param).
- the loss: cpt's chunked output projection holds ``chunk x V`` fp32 logits, the ``T x h`` hidden
  gradient and a ``V x h`` fp32 head gradient; the model's own loss (``loss_chunk 0``) holds the
  full ``T x V`` logits three times in fp32 (logits, log-softmax, gradient).
- DDP keeps a second fp32 copy of the gradients in its communication buckets; FSDP gathers two
  units (the current one and the prefetched next) plus the current unit's unsharded gradient.
- foreach AdamW (the CUDA default) makes one param-sized fp32 temporary during ``step()``; the
  per-tensor AdamW (the CPU default) two temporaries the size of the largest tensor.
- on CPU, cpt's loss keeps its ``chunk x V`` logits buffer between steps (PyTorch does not cache
  CPU memory, so the loss reuses one); on a GPU the caching allocator frees it into its pool.

Peak: gradients appear as backward frees activations, so the step peaks either at the start of
backward (all activations + the loss buffers) or at the optimizer step (all gradients + the AdamW
temporary): ``peak = weights + optimizer + working + max(activations + loss, grads + step temp)``.
Not modelled: the CUDA context and allocator fragmentation (the GPU table's ``usable_fraction``
leaves room for them) and, on CPU, some 50 MB of first-use runtime buffers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from cpt import ConfigError
from cpt.plan.model import ModelShape

STRATEGIES = ("ddp", "fsdp", "fsdp_offload")
PRECISIONS = ("bf16", "fp32")


@dataclass(frozen=True)
class MemoryEstimate:
    strategy: str
    micro_batch: int
    weights: float
    grads: float
    optimizer: float
    activations: float
    loss_buffers: float
    working: float  # DDP buckets / FSDP gathered units / bf16 weight copies
    step_temp: float
    peak: float  # bytes per GPU
    host: float  # bytes per GPU held in host memory (CPU offload)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _layer_act_bytes(shape: ModelShape, precision: str) -> float:
    """Bytes saved for backward per token and block (module docstring)."""
    h, kv, i = shape.hidden, shape.kv_heads * shape.d_head, shape.inter
    if precision == "fp32":
        return 4.0 * (9 * h + 2 * kv + 4 * i)
    # bf16: the 3h of each norm stays fp32 plus a 2 B cast; matmul outputs are bf16
    return 2 * 14.0 * h + 2.0 * (3 * h + 2 * kv + 4 * i)


def forward_saved_bytes(
    shape: ModelShape, tokens: int, precision: str, checkpointing: bool
) -> float:
    """What the forward pass of one micro-batch leaves saved for backward (all blocks + the final
    norm; with checkpointing only each block's input). Tests compare it with the tensors autograd
    really saves, which tells a checkpointing call that silently did nothing."""
    final_norm = 3 * shape.hidden * 4.0 * tokens
    if checkpointing:
        block_inputs = shape.layers * shape.hidden * 4.0 * tokens  # the residual stream is fp32
        return block_inputs + final_norm
    return shape.layers * _layer_act_bytes(shape, precision) * tokens + final_norm


def activation_bytes(shape: ModelShape, tokens: int, precision: str, checkpointing: bool) -> float:
    """Peak activations of one micro-batch: the forward's saved tensors, plus with checkpointing
    the one block recomputed at a time in backward."""
    saved = forward_saved_bytes(shape, tokens, precision, checkpointing)
    if checkpointing:
        return saved + _layer_act_bytes(shape, precision) * tokens
    return saved


def loss_bytes(shape: ModelShape, tokens: int, loss_chunk: int) -> float:
    v, h = shape.vocab, shape.hidden
    if loss_chunk <= 0:
        return 3 * 4.0 * tokens * v
    return 4.0 * (min(loss_chunk, tokens) * v + tokens * h + v * h)


def estimate_memory(
    shape: ModelShape,
    *,
    seq_len: int,
    micro_batch: int,
    strategy: str,
    gpus: int,
    precision: str = "bf16",
    checkpointing: bool = False,
    loss_chunk: int = 1024,
    device: str = "cuda",
) -> MemoryEstimate:
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if not shape.has_shape:
        raise ConfigError(
            f"model {shape.name}: the memory model needs the architecture (an HF config "
            "directory or a known architecture), not only a size"
        )
    p = shape.total_params()
    tokens = seq_len * micro_batch
    weights, grads, optim = 4.0 * p, 4.0 * p, 8.0 * p
    acts = activation_bytes(shape, tokens, precision, checkpointing)
    loss = loss_bytes(shape, tokens, loss_chunk)
    if device == "cpu":
        largest = max(shape.vocab * shape.hidden, shape.hidden * shape.inter)
        temp = 2 * 4.0 * largest
        if loss_chunk > 0:
            temp += 4.0 * min(loss_chunk, tokens) * shape.vocab  # the kept logits buffer
    else:
        temp = 4.0 * p
    working = 2.0 * shape.matmul_params() if precision == "bf16" else 0.0
    host = 0.0
    if strategy == "ddp":
        working += grads if gpus > 1 else 0.0  # Accelerate does not wrap a single process in DDP
    else:
        unit = max(shape.layer_params(), shape.vocab * shape.hidden)
        param_bytes = 2.0 if precision == "bf16" else 4.0
        gathered = 2 * unit * param_bytes + unit * 4.0
        if precision == "bf16":
            working = 2.0 * unit  # FSDP's bf16 params replace autocast's copies
        working += gathered
        weights, grads, optim, temp = weights / gpus, grads / gpus, optim / gpus, temp / gpus
        if strategy == "fsdp_offload":
            host = weights + grads + optim
            weights = grads = optim = temp = 0.0
    peak = weights + optim + working + max(acts + loss, grads + temp)
    return MemoryEstimate(
        strategy, micro_batch, weights, grads, optim, acts, loss, working, temp, peak, host
    )


def largest_micro_batch(
    shape: ModelShape, budget_bytes: float, limit: int = 1024, **kwargs: Any
) -> int:
    """The largest micro-batch whose peak fits ``budget_bytes`` (0 if not even 1 fits)."""
    best = 0
    mb = 1
    while mb <= limit:  # peak grows with the micro-batch: double, then bisect
        if estimate_memory(shape, micro_batch=mb, **kwargs).peak > budget_bytes:
            break
        best, mb = mb, mb * 2
    lo, hi = best, min(mb, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if estimate_memory(shape, micro_batch=mid, **kwargs).peak <= budget_bytes:
            lo = mid
        else:
            hi = mid
    return lo


def grad_accum_for(global_tokens: float, micro_batch: int, seq_len: int, gpus: int) -> int:
    """Micro-batches per optimizer step so a step holds at least ``global_tokens`` tokens."""
    per_pass = micro_batch * seq_len * gpus
    return max(1, math.ceil(global_tokens / per_pass))


def checkpoint_bytes(shape: ModelShape) -> dict[str, float]:
    """One Accelerate training checkpoint (fp32 model + AdamW states) and one HF export (fp32)."""
    p = shape.total_params()
    return {"training_checkpoint": 12.0 * p, "hf_export": 4.0 * p}


def storage_bytes(shape: ModelShape, keep_last: int, keep_best: int) -> float:
    """Disk for keep_last + best-K training checkpoints and the final/ + best/ exports."""
    sizes = checkpoint_bytes(shape)
    exports = 2 if keep_best > 0 else 1
    return (keep_last + keep_best) * sizes["training_checkpoint"] + exports * sizes["hf_export"]
