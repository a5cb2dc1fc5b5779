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


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk: int
    ) -> torch.Tensor:
        valid = labels != IGNORE_INDEX
        # 1 / (number of predicted tokens), as a tensor: no device sync on a GPU.
        scale = 1.0 / valid.sum().clamp(min=1).float()
        grad_hidden = torch.zeros_like(hidden)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        with torch.no_grad():
            for start in range(0, hidden.shape[0], chunk):
                h = hidden[start : start + chunk]
                y = labels[start : start + chunk]
                keep = valid[start : start + chunk]
                # One fused log-softmax pass, then exp in place: the softmax.
                log_probs = torch.log_softmax((h @ weight.T).float(), dim=-1)
                target = y.clamp(min=0)
                total -= (log_probs.gather(1, target[:, None])[:, 0] * keep).sum()
                # d(mean loss)/d(logits) = (softmax - one_hot) / count on kept rows, 0 elsewhere.
                grad = log_probs.exp_()
                grad[torch.arange(len(y), device=grad.device), target] -= 1.0
                grad.mul_((keep * scale)[:, None])
                grad = grad.to(weight.dtype)
                torch.mm(grad, weight, out=grad_hidden[start : start + chunk])
                grad_weight.addmm_(grad.T.float(), h.float())
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return total * scale

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
