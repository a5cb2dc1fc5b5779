"""Elastic weight consolidation (Kirkpatrick et al. 2017) against the base model: ``optim.ewc``.

The diagonal empirical Fisher is computed once, from the base model before any training step, on
``fisher_samples`` general (replay) sequences with one backward per sequence (micro-batch 1, so
each squared gradient is a per-sample one): ``F = mean_i g_i^2``, NaN set to 0, infinities clamped
to the largest finite entry, then normalised to mean 1 over all entries (so ``lambda`` means the
same for any model size and sample count). It is written as safetensors with the model's identity
in its metadata (``fisher_path``, default ``run_dir/ewc_fisher.safetensors``), reused when the
file exists and refused when it belongs to another model or sample count.

The penalty ``lambda/2 * sum F (theta - theta*)^2`` (theta* = the base weights) is added to each
step's loss through its exact gradient ``lambda F (theta - theta*)``, accumulated into the
parameters' gradients after the data backward and before clipping. That works the same for one
process, DDP (replicated parameters, the same term on every rank) and FSDP2, where the Fisher and
anchor are DTensors sharded like their parameters: each rank adds the term of its own shard, and
only the scalar penalty (for the log) is summed over ranks.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from cpt import ConfigError

log = logging.getLogger("cpt.train.ewc")
FORMAT = "cpt-ewc-fisher/1"


def _local(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's local shard (a view of its storage), or the tensor itself."""
    to_local = getattr(t, "to_local", None)
    return to_local() if to_local is not None else t


def general_sequences(sources: list[Any], samples: int, seq_len: int) -> Iterable[np.ndarray]:
    """``samples`` sequences of ``seq_len`` tokens, taken round-robin over the general sources
    and spread evenly over each (deterministic: no RNG is drawn)."""
    per = [samples // len(sources) + (i < samples % len(sources)) for i in range(len(sources))]
    for src, count in zip(sources, per):
        if count == 0:
            continue
        usable = src.num_tokens - seq_len
        if usable < 0:
            raise ConfigError(
                f"config key 'optim.ewc': general source '{src.name}' has {src.num_tokens} "
                f"tokens, fewer than one sequence of {seq_len}"
            )
        for k in range(count):
            yield np.asarray(src.read(usable * k // max(1, count), seq_len), dtype=np.int64)


def compute_fisher(
    model: nn.Module, sequences: Iterable[np.ndarray], device: Any = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The normalised diagonal empirical Fisher of ``model`` (names of ``named_parameters``)."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    was_training = model.training
    model.eval()  # no dropout: the Fisher of the model as it is
    count = 0
    for seq in sequences:
        ids = torch.from_numpy(seq).unsqueeze(0).to(device)
        model.zero_grad(set_to_none=True)
        model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
        for n, p in params.items():
            if p.grad is not None:
                total[n] += p.grad.detach().float() ** 2
        count += 1
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    if count == 0:
        raise ConfigError("config key 'optim.ewc.fisher_samples': no sequences for the Fisher")
    fisher = {n: (t / count).nan_to_num_(nan=0.0) for n, t in total.items()}
    finite = [t[torch.isfinite(t)] for t in fisher.values()]
    top = max((float(t.max()) for t in finite if t.numel()), default=0.0)
    clamped = sum(int((~torch.isfinite(t)).sum()) for t in fisher.values())
    for t in fisher.values():
        t.clamp_(min=0.0, max=top)  # +inf -> the largest finite entry
    n_entries = sum(t.numel() for t in fisher.values())
    mean = sum(float(t.double().sum()) for t in fisher.values()) / max(1, n_entries)
    if mean > 0:
        for t in fisher.values():
            t /= mean
    meta = {"samples": str(count), "normaliser": repr(mean), "clamped": str(clamped)}
    return {n: t.cpu().contiguous() for n, t in fisher.items()}, meta


def fisher_identity(identity: dict[str, Any], samples: int, seq_len: int) -> dict[str, str]:
    """What a Fisher file must match to be reused: the model (source, config, seed for a fresh
    init) and how the Fisher was computed."""
    model = identity["model"]
    return {
        "format": FORMAT,
        "model_source": str(model["source"]),
        "model_config_hash": str(model["config_hash"]),
        "seed": str(identity["seed"]) if model["source"] == "init" else "",
        "samples": str(samples),
        "seq_len": str(seq_len),
    }


def save_fisher(path: Path, fisher: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(fisher, str(tmp), metadata=metadata)
    tmp.replace(path)


def load_fisher(
    path: Path, expected: dict[str, str], shapes: dict[str, list[int]]
) -> dict[str, torch.Tensor]:
    """Read a Fisher file; refuse one of another model, sample count or parameter set."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open API)
    except (SafetensorError, OSError) as exc:
        raise ConfigError(f"config key 'optim.ewc.fisher_path': {path}: {exc}") from None
    wrong = [
        f"{k}: file {meta.get(k)!r}, this run {v!r}"
        for k, v in expected.items()
        if meta.get(k) != v
    ]
    if wrong:
        raise ConfigError(
            f"config key 'optim.ewc.fisher_path': {path} is the Fisher of another model or "
            f"setting ({'; '.join(wrong)}); delete it or point fisher_path elsewhere"
        )
    bad = sorted(n for n in shapes if n not in tensors or list(tensors[n].shape) != shapes[n])
    if bad or set(tensors) - set(shapes):
        extra = sorted(set(tensors) - set(shapes))
        raise ConfigError(
            f"config key 'optim.ewc.fisher_path': {path} does not fit this model's parameters "
            f"(missing or other shape: {bad[:3]}; unknown: {extra[:3]})"
        )
    return tensors


def fisher_path(cfg: Any) -> Path:
    """Where the run's Fisher lives: ``optim.ewc.fisher_path``, else in the run directory."""
    assert cfg.optim.ewc is not None
    given = cfg.optim.ewc.fisher_path
    return Path(given) if given else cfg.run_dir / "ewc_fisher.safetensors"


def base_fisher(
    cfg: Any, acc: Any, model: nn.Module, general: list[Any], identity: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """The base model's Fisher for a run (``cfg`` a ``TrainConfig``): read from its file, or
    computed once (by the main process, before any wrapping or resume) and written there."""
    from accelerate.utils import DistributedType

    ewc_cfg = cfg.optim.ewc
    assert ewc_cfg is not None
    path = fisher_path(cfg)
    expected = fisher_identity(identity, ewc_cfg.fisher_samples, cfg.data.seq_len)
    if acc.is_main_process and not path.is_file():
        seqs = general_sequences(general, ewc_cfg.fisher_samples, cfg.data.seq_len)
        t0 = time.perf_counter()
        device = torch.device("cpu")
        if acc.distributed_type != DistributedType.FSDP:
            device = acc.device  # prepare() moves it there anyway; FSDP shards from CPU
            model.to(device)
        fisher, meta = compute_fisher(model, seqs, device)
        save_fisher(path, fisher, {**meta, **expected})
        log.info("EWC Fisher: %d samples in %.1f s -> %s", ewc_cfg.fisher_samples,
                 time.perf_counter() - t0, path)  # fmt: skip
    acc.wait_for_everyone()
    shapes = {n: list(p.shape) for n, p in model.named_parameters() if p.requires_grad}
    return load_fisher(path, expected, shapes)


def _like(full: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """``full`` placed like ``param``: the same device and dtype, and for a DTensor the same
    mesh and sharding (a collective: every rank calls it in the same order)."""
    full = full.to(device=_local(param).device, dtype=param.dtype)
    mesh = getattr(param, "device_mesh", None)
    if mesh is None:
        return full
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(full, mesh, param.placements)


class EWC:
    """The penalty for one (possibly wrapped, possibly sharded) model."""

    def __init__(self, model: nn.Module, fisher: dict[str, torch.Tensor], lam: float) -> None:
        """``model`` = the unwrapped module whose parameters the optimizer updates (under FSDP2
        its DTensors); call before any step: its weights are the anchor theta*."""
        self.lam = float(lam)
        self.params: list[tuple[str, nn.Parameter]] = []
        self.fisher: list[torch.Tensor] = []
        self.anchor: list[torch.Tensor] = []
        for name, p in model.named_parameters():
            if name not in fisher:
                continue
            self.params.append((name, p))
            self.fisher.append(_like(fisher[name], p))
            self.anchor.append(p.detach().clone())
        missing = sorted(set(fisher) - {n for n, _ in self.params})
        if missing:
            raise ConfigError(
                f"config key 'optim.ewc': Fisher entries without a parameter: {missing[:3]}"
            )

    def memory_bytes(self) -> int:
        """Bytes this rank holds for the Fisher and the anchor (its shards under FSDP)."""
        return sum(_local(t).numel() * _local(t).element_size() for t in self.fisher + self.anchor)

    def penalty(self) -> torch.Tensor:
        """``lambda/2 * sum F (theta - theta*)^2``, differentiable (one process; under FSDP the
        DTensor arithmetic gives the sum over all shards)."""
        total = torch.zeros((), device=_local(self.params[0][1]).device)
        for (_, p), f, a in zip(self.params, self.fisher, self.anchor):
            term = (f * (p - a) ** 2).sum()
            full = getattr(term, "full_tensor", None)
            total = total + (full() if full is not None else term)
        return 0.5 * self.lam * total

    @torch.no_grad()
    def add_gradient(self) -> float:
        """Add ``lambda F (theta - theta*)`` to each parameter's gradient; return the penalty
        (summed over the shards of all ranks). A zero lambda costs nothing."""
        if self.lam == 0.0:
            return 0.0
        local_sum = torch.zeros((), dtype=torch.float64)
        group = None
        for (_, p), f, a in zip(self.params, self.fisher, self.anchor):
            if not p.requires_grad:
                continue  # frozen (e.g. a body held for its first steps): no update, no penalty
            diff = _local(p) - _local(a)
            weighted = _local(f) * diff
            local_sum += float((weighted * diff).sum())
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            _local(p.grad).add_(weighted, alpha=self.lam)
            mesh = getattr(p, "device_mesh", None)
            if mesh is not None and group is None:
                group = mesh.get_group()
        if group is not None:
            import torch.distributed as dist

            local_sum = local_sum.to(_local(self.params[0][1]).device)
            dist.all_reduce(local_sum, group=group)
        return 0.5 * self.lam * float(local_sum)
