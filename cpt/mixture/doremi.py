"""DoReMi mixture weights (Xie et al. 2023, "DoReMi: Optimizing Data Mixtures Speeds Up Language
Model Pretraining", arXiv:2305.10429, Algorithm 1).

1. A reference model is trained on the sources with the initial weights (uniform by default).
2. A proxy model of the same size is trained with Group DRO over the sources. Each step draws the
   same number of sequences from every source and computes, per source ``i``, the excess loss of
   the proxy over the reference, clipped at zero and averaged over the source's tokens::

       lambda_i = mean_tokens(max(loss_proxy - loss_reference, 0))

   then updates the source weights by an exponentiated-gradient step and smooths them towards
   uniform::

       alpha' = alpha * exp(eta * lambda);  alpha' /= sum(alpha')
       alpha  = (1 - c) * alpha' + c / k

   with the paper's constants ``eta = 1`` and ``c = 1e-3``, and updates the proxy on the
   ``alpha``-weighted sum of the per-source excess losses.
3. The result is the average of ``alpha`` over all proxy steps.

A source the reference learns and the proxy has not learned yet (hard but learnable) has a large
excess loss and gains weight; one both models already fit (easy) or neither can fit (noise) has
an excess loss near zero and loses weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

ETA = 1.0  # the paper's step size for the exponentiated-gradient update
SMOOTHING = 1e-3  # the paper's mixing with the uniform distribution


@dataclass
class DoReMiConfig:
    """Steps and batch shape of both small models; the constants are the paper's."""

    reference_steps: int = 200
    proxy_steps: int = 200
    seq_len: int = 128
    per_source: int = 4  # sequences per source per step
    lr: float = 3e-3
    weight_decay: float = 0.0
    eta: float = ETA
    smoothing: float = SMOOTHING
    seed: int = 0
    threads: int | None = None


@dataclass
class DoReMiResult:
    names: list[str]
    weights: list[float]  # the average of alpha over the proxy steps (sums to 1)
    final_alpha: list[float]
    history: list[list[float]] = field(default_factory=list)  # alpha per proxy step
    excess: list[list[float]] = field(default_factory=list)  # lambda per proxy step
    reference_loss: list[float] = field(default_factory=list)  # per source, at the end
    constants: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "weights": dict(zip(self.names, self.weights)),
            "final_alpha": dict(zip(self.names, self.final_alpha)),
            "reference_loss_end": dict(zip(self.names, self.reference_loss)),
            "steps": len(self.history),
            "constants": self.constants,
        }


class SourceSampler:
    """Random windows of ``seq_len`` tokens from each source (a cpt ``TokenSource``)."""

    def __init__(self, sources: Sequence[Any], seq_len: int, per_source: int, seed: int) -> None:
        for s in sources:
            if s.num_tokens <= seq_len:
                raise ValueError(
                    f"source '{s.name}': {s.num_tokens} tokens, need more than seq_len {seq_len}"
                )
        self.sources = list(sources)
        self.seq_len = seq_len
        self.per_source = per_source
        self.rng = np.random.default_rng(seed)

    def batch(self) -> np.ndarray:
        """``[k * per_source, seq_len]`` int64, source ``i`` in rows ``i*per_source ...``."""
        rows = []
        for s in self.sources:
            starts = self.rng.integers(0, s.num_tokens - self.seq_len, size=self.per_source)
            rows += [np.asarray(s.read(int(a), self.seq_len), dtype=np.int64) for a in starts]
        return np.stack(rows)


def token_losses(model: Any, ids: Any) -> Any:
    """Per-token next-token cross-entropy, ``[batch, seq_len - 1]``."""
    import torch.nn.functional as F

    logits = model(input_ids=ids, use_cache=False).logits.float()
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
    ).view(ids.shape[0], -1)


def per_source_mean(losses: Any, k: int) -> Any:
    """``[batch, T]`` -> ``[k]``: the mean over each source's rows and tokens."""
    return losses.view(k, -1).mean(dim=1)


def update_weights(
    alpha: np.ndarray, excess: np.ndarray, eta: float, smoothing: float
) -> np.ndarray:
    """One exponentiated-gradient step on the simplex, then smoothing towards uniform."""
    logits = np.log(alpha) + eta * excess
    logits -= logits.max()  # the same distribution, no overflow
    new = np.exp(logits)
    new /= new.sum()
    return (1 - smoothing) * new + smoothing / len(alpha)


def _optimizer(model: Any, cfg: DoReMiConfig) -> Any:
    import torch

    from cpt.train.model import optimizer_groups

    return torch.optim.AdamW(optimizer_groups(model, cfg.weight_decay), lr=cfg.lr)


def train_reference(
    model: Any,
    sampler: SourceSampler,
    cfg: DoReMiConfig,
    weights: Sequence[float] | None = None,
    log: Callable[[str], None] = print,
) -> list[float]:
    """Train ``model`` on the sources at ``weights`` (default uniform); per-source end losses."""
    import torch

    k = len(sampler.sources)
    w = torch.tensor(weights if weights is not None else [1.0 / k] * k, dtype=torch.float32)
    w = w / w.sum()
    opt = _optimizer(model, cfg)
    model.train()
    last = torch.zeros(k)
    for step in range(cfg.reference_steps):
        ids = torch.from_numpy(sampler.batch())
        per_src = per_source_mean(token_losses(model, ids), k)
        loss = (w * per_src).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        last = per_src.detach()
        if (step + 1) % max(1, cfg.reference_steps // 5) == 0:
            log(f"[cpt.mixture] reference step {step + 1}: loss per source "
                + " ".join(f"{v:.3f}" for v in last.tolist()))  # fmt: skip
    model.eval()
    return [float(v) for v in last]


def train_proxy(
    proxy: Any,
    reference: Any,
    sampler: SourceSampler,
    cfg: DoReMiConfig,
    names: Sequence[str],
    log: Callable[[str], None] = print,
) -> DoReMiResult:
    """Group-DRO training of the proxy against the reference: the DoReMi weights."""
    import torch

    k = len(sampler.sources)
    alpha = np.full(k, 1.0 / k)
    total = np.zeros(k)
    history, excesses = [], []
    opt = _optimizer(proxy, cfg)
    reference.eval()
    proxy.train()
    for step in range(cfg.proxy_steps):
        ids = torch.from_numpy(sampler.batch())
        with torch.no_grad():
            ref = token_losses(reference, ids)
        excess_tok = (token_losses(proxy, ids) - ref).clamp(min=0)
        excess = per_source_mean(excess_tok, k)
        alpha = update_weights(alpha, excess.detach().double().numpy(), cfg.eta, cfg.smoothing)
        total += alpha
        history.append(alpha.tolist())
        excesses.append(excess.detach().tolist())
        loss = (torch.from_numpy(alpha).float() * excess).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(proxy.parameters(), 1.0)
        opt.step()
        if (step + 1) % max(1, cfg.proxy_steps // 5) == 0:
            log(f"[cpt.mixture] proxy step {step + 1}: excess "
                + " ".join(f"{n}={v:.3f}" for n, v in zip(names, excess.tolist()))
                + "; alpha " + " ".join(f"{n}={a:.3f}" for n, a in zip(names, alpha)))  # fmt: skip
    mean = total / max(1, cfg.proxy_steps)
    if not math.isclose(float(mean.sum()), 1.0, rel_tol=1e-9):
        mean = mean / mean.sum()
    constants = {"eta": cfg.eta, "smoothing": cfg.smoothing}
    return DoReMiResult(
        list(names), mean.tolist(), alpha.tolist(), history, excesses, [], constants
    )


def doremi(
    build_model: Callable[[], Any],
    sources: Sequence[Any],
    cfg: DoReMiConfig,
    reference: Any | None = None,
    log: Callable[[str], None] = print,
) -> DoReMiResult:
    """The whole procedure: reference (unless given, e.g. the pretrained base), then the proxy.

    ``build_model`` makes a fresh small model (called once for the reference, once for the proxy,
    after seeding, so both start from the same initial weights)."""
    import torch

    if len(sources) < 2:
        raise ValueError(f"DoReMi needs at least two sources, got {len(sources)}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    names = [s.name for s in sources]
    ref_losses: list[float] = []
    if reference is None:
        torch.manual_seed(cfg.seed)
        reference = build_model()
        sampler = SourceSampler(sources, cfg.seq_len, cfg.per_source, cfg.seed)
        ref_losses = train_reference(reference, sampler, cfg, log=log)
    torch.manual_seed(cfg.seed)
    proxy = build_model()
    # the proxy sees other windows than the reference did (seed + 1)
    sampler = SourceSampler(sources, cfg.seq_len, cfg.per_source, cfg.seed + 1)
    result = train_proxy(proxy, reference, sampler, cfg, names, log=log)
    result.reference_loss = ref_losses
    return result
