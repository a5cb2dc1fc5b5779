"""The causal-LM loss without the full logits: the output projection and cross-entropy in chunks.

With a large vocabulary, most of a small model's step goes to the [tokens, vocab] logits: written
once, read by the softmax, kept for backward, and matched by a gradient of the same size. Here the
forward pass walks the tokens a chunk at a time: it computes the chunk's logits, its loss, and at
once the chunk's gradients with respect to the hidden states and the output weight, then drops
the logits. Backward only scales the stored gradients. The math is the model's own
``lm_head`` + mean cross-entropy over non-ignored labels (softmax in float32, as transformers
does), so losses match to float rounding (tested); memory for logits falls from
``tokens x vocab`` to ``chunk x vocab``.

The hidden states still come from the wrapped model's own forward (so DDP hooks, gradient
checkpointing and autocast apply); only the head's projection is skipped there, see
:func:`hidden_states`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

IGNORE_INDEX = -100

# Config attributes of heads whose logits are transformed after the projection (Gemma's
# soft-capping, Cohere's and Granite's scaling): the chunked loss would miss that step.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling")


# Reused logits buffers, per CPU device: a fresh [chunk, vocab] tensor costs a page fault per
# 4 KiB on every chunk (PyTorch does not cache CPU memory); CUDA's allocator already reuses.
_SCRATCH: dict[torch.device, torch.Tensor] = {}


def _logits_buffer(rows: int, vocab: int, device: torch.device) -> torch.Tensor:
    if device.type != "cpu":
        return torch.empty((rows, vocab), dtype=torch.float32, device=device)
    buf = _SCRATCH.get(device)
    if buf is None or buf.numel() < rows * vocab:
        buf = _SCRATCH[device] = torch.empty(rows * vocab, dtype=torch.float32, device=device)
    return buf[: rows * vocab].view(rows, vocab)


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk: int
    ) -> torch.Tensor:
        device = hidden.device
        # The projection runs in the dtype the model's own head would use (autocast's, if on);
        # the softmax always in float32. Pure float32 takes the allocation-free path.
        mm_dtype = (
            torch.get_autocast_dtype(device.type)
            if torch.is_autocast_enabled(device.type)
            else weight.dtype
        )
        exact32 = mm_dtype == weight.dtype == hidden.dtype == torch.float32
        valid = labels != IGNORE_INDEX
        # 1 / (number of predicted tokens), as a tensor: no device sync on a GPU.
        scale = 1.0 / valid.sum().clamp(min=1).float()
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        total = torch.zeros((), dtype=torch.float32, device=device)
        w = weight.to(mm_dtype)
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start : start + chunk].to(mm_dtype)
            rows = h.shape[0]
            target = labels[start : start + chunk].clamp(min=0)
            row_scale = valid[start : start + chunk] * scale
            z = _logits_buffer(rows, weight.shape[0], device)
            if exact32:
                torch.mm(h, w.T, out=z)
            else:
                z.copy_(h @ w.T)
            # loss = logsumexp(z) - z[target]; z becomes softmax(z) in place.
            picked = z.gather(1, target[:, None])[:, 0]
            top = z.amax(dim=1, keepdim=True)
            z.sub_(top).exp_()
            sums = z.sum(dim=1, keepdim=True)
            total += ((top[:, 0] + sums[:, 0].log() - picked) * row_scale).sum()
            # d(mean loss)/d(logits) = (softmax - one_hot) / count on kept rows, 0 elsewhere.
            z.mul_(row_scale[:, None] / sums)
            z[torch.arange(rows, device=device), target] -= row_scale
            grad = z if exact32 else z.to(mm_dtype)
            if exact32:
                torch.mm(grad, w, out=grad_hidden[start : start + chunk])
            else:
                grad_hidden[start : start + chunk] = grad @ w
            grad_weight.addmm_(grad.T.float(), h.float())
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return total

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_loss, grad_weight * grad_loss, None, None


def causal_lm_loss(
    hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk: int
) -> torch.Tensor:
    """Mean next-token cross-entropy of ``hidden @ weight.T`` against ``labels``.

    ``hidden`` is [batch, seq, dim] (the model's final hidden states), ``labels`` [batch, seq] with
    -100 where no loss is wanted; as in transformers, position t predicts label t+1.
    """
    dim = hidden.shape[-1]
    h = hidden[:, :-1, :].reshape(-1, dim)
    y = labels[:, 1:].reshape(-1)
    return _ChunkedLinearCrossEntropy.apply(h, weight, y, chunk)


def unsupported_reason(model: nn.Module) -> str | None:
    """Why the chunked loss cannot stand in for this model's own, or None if it can."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if not isinstance(head, nn.Linear):
        return "the model has no linear output head (get_output_embeddings)"
    if head.bias is not None:
        return "the output head has a bias"
    config = getattr(model, "config", None)
    for name in _LOGIT_TRANSFORMS:
        value = getattr(config, name, None)
        if value not in (None, 1, 1.0):
            return f"the model transforms its logits ({name}={value})"
    return None


def chunked_head(model: nn.Module, cfg: Any, fsdp: bool) -> tuple[nn.Linear | None, str]:
    """The output head to compute the chunked loss with (None: the model's own loss), and how
    the loss is computed, for the log. ``cfg`` is the ``model`` config section."""
    if cfg.loss_chunk == 0:
        return None, "model's own"
    reason = unsupported_reason(model)
    if cfg.compile:
        reason = "model.compile is on"
    elif fsdp:
        reason = "FSDP shards the output head"
    if reason is not None:
        return None, f"model's own ({reason})"
    return model.get_output_embeddings(), f"chunked ({cfg.loss_chunk} tokens)"


@contextmanager
def hidden_states(head: nn.Linear) -> Iterator[None]:
    """Inside this block the output head returns its input, so the model's ``logits`` output
    holds the final hidden states. (An instance attribute shadows ``nn.Linear.forward``; the
    parameters, state dict and tying are untouched.)"""
    head.forward = _identity  # type: ignore[method-assign]
    try:
        yield
    finally:
        del head.forward


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x
