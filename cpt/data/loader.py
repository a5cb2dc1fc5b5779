"""The training data loader: mixer plan -> contiguous reads per source -> packed micro-batches.

One optimizer step consumes one *global batch* of ``micro_batch_size x grad_accum x world_size``
sequences. Every rank computes the same plan for the whole global batch (cheap arithmetic) and reads
only its own slots ``rank, rank + W, rank + 2W, ...``; together the ranks read exactly the global
stream that a single rank would read with the same global batch. The state (step, per-source
cursors, mixer remainder and credits) is tiny, so resume is exact without replaying batches.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from cpt import InputError
from cpt.data.curriculum import AlphaSchedule
from cpt.data.mixer import Mixer
from cpt.data.packing import pack
from cpt.data.sources import TokenSource

log = logging.getLogger("cpt.data")


@dataclass
class LoaderState:
    """Everything needed to continue the stream exactly where it stopped."""

    step: int = 0  # global batches produced
    consumed: dict[str, int] = field(default_factory=dict)  # tokens read per source (monotonic)
    mixer: dict[str, Any] = field(default_factory=dict)
    domain_sequences: int = 0
    total_sequences: int = 0
    world_size: int = 1
    seq_len: int = 0
    identities: dict[str, str] = field(default_factory=dict)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LoaderState:
        """From a checkpoint's (untrusted) JSON: wrong keys or types are an ``InputError``."""
        try:
            out = cls(**state)
            out.consumed = {str(k): int(v) for k, v in out.consumed.items()}
            out.identities = {str(k): str(v) for k, v in out.identities.items()}
            out.step, out.world_size, out.seq_len = (
                int(out.step),
                int(out.world_size),
                int(out.seq_len),
            )
            out.domain_sequences = int(out.domain_sequences)
            out.total_sequences = int(out.total_sequences)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"data-loader state in the checkpoint is malformed: {exc}") from None
        return out


@dataclass
class StepBatch:
    """What one rank trains on for one optimizer step, plus global mix statistics."""

    micro_batches: list[dict[str, np.ndarray]]
    domain_sequences: int  # in the whole global batch (all ranks)
    global_sequences: int
    tokens_by_source: dict[str, int]  # in the whole global batch
    wrapped: list[str]  # sources that started a new epoch during this batch
    target: float = float("nan")  # the share the mixer (or its curriculum) asked for

    @property
    def alpha(self) -> float:
        return self.domain_sequences / self.global_sequences


class MixedLoader:
    def __init__(
        self,
        domain: list[tuple[TokenSource, float]],
        general: list[tuple[TokenSource, float]],
        *,
        alpha: float | AlphaSchedule,
        seq_len: int,
        micro_batch_size: int,
        grad_accum: int = 1,
        eos_id: int,
        rank: int = 0,
        world_size: int = 1,
        mask_documents: bool = False,
        vocab_size: int | None = None,
        on_wrap: Callable[[str, int], None] | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of {world_size}")
        self.sides = {"domain": [s for s, _ in domain], "general": [s for s, _ in general]}
        names = [s.name for s in self.sides["domain"] + self.sides["general"]]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError(f"data sources share the name(s) {dupes}; give each a distinct 'name'")
        for src in self.sides["domain"] + self.sides["general"]:
            if src.num_tokens < 1:
                raise InputError(f"data source '{src.name}' has no tokens")
        self.mixer = Mixer(alpha, [w for _, w in domain], [w for _, w in general])
        self.seq_len = seq_len
        self.micro_batch_size = micro_batch_size
        self.grad_accum = grad_accum
        self.eos_id = eos_id
        self.rank = rank
        self.world_size = world_size
        self.mask_documents = mask_documents
        self.vocab_size = vocab_size
        self.on_wrap = on_wrap
        self.state = LoaderState(
            consumed={n: 0 for n in names},
            world_size=world_size,
            seq_len=seq_len,
            identities={s.name: s.identity for s in self.sides["domain"] + self.sides["general"]},
        )

    @property
    def global_batch(self) -> int:
        return self.micro_batch_size * self.grad_accum * self.world_size

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.seq_len

    def set_alpha(self, alpha: float) -> None:
        self.mixer.set_alpha(alpha)

    @property
    def alpha(self) -> float:
        return self.mixer.alpha

    def _read(self, src: TokenSource, consumed: int) -> np.ndarray:
        """``seq_len`` tokens starting at stream offset ``consumed``, wrapping at the end."""
        n = src.num_tokens
        pos = consumed % n
        if pos + self.seq_len <= n:
            out = src.read(pos, self.seq_len)
        else:
            parts, need = [], self.seq_len
            while need:
                take = min(need, n - pos)
                parts.append(src.read(pos, take))
                need -= take
                pos = 0
            out = np.concatenate(parts)
        if len(out) != self.seq_len:
            raise InputError(
                f"data source '{src.name}': read {len(out)} tokens at offset "
                f"{consumed % n}, expected {self.seq_len}"
            )
        if self.vocab_size is not None and out.size and int(out.max()) >= self.vocab_size:
            raise InputError(
                f"data source '{src.name}': token id {int(out.max())} near offset {consumed % n} "
                f"is outside the model's vocabulary ({self.vocab_size}); wrong tokenizer?"
            )
        return out

    def next_step(self) -> StepBatch:
        target = self.mixer.alpha_at(self.mixer.steps)
        plan = self.mixer.plan(self.global_batch)
        rows: list[np.ndarray] = []
        tokens_by_source: dict[str, int] = {}
        wrapped: list[str] = []
        n_domain = 0
        for slot, (side, idx) in enumerate(plan):
            src = self.sides[side][idx]
            n_domain += side == "domain"
            before = self.state.consumed[src.name]
            after = before + self.seq_len
            self.state.consumed[src.name] = after
            tokens_by_source[src.name] = tokens_by_source.get(src.name, 0) + self.seq_len
            if after // src.num_tokens > before // src.num_tokens:
                wrapped.append(src.name)
                if self.on_wrap is not None:
                    self.on_wrap(src.name, after // src.num_tokens)
            if slot % self.world_size == self.rank:
                rows.append(self._read(src, before))
        self.state.step += 1
        self.state.domain_sequences += n_domain
        self.state.total_sequences += len(plan)
        mb = self.micro_batch_size
        micro = [
            pack(np.stack(rows[i * mb : (i + 1) * mb]), self.eos_id, self.mask_documents)
            for i in range(self.grad_accum)
        ]
        return StepBatch(micro, n_domain, len(plan), tokens_by_source, wrapped, target)

    # -- state -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        self.state.mixer = self.mixer.state_dict()
        return self.state.state_dict()

    def load_state_dict(self, state: dict[str, Any], *, allow_reshard: bool = False) -> None:
        """Restore; refuse a changed world size or changed sources unless ``allow_reshard``."""
        saved = LoaderState.from_dict(state)
        problems = []
        if saved.world_size != self.world_size:
            problems.append(f"data-parallel size was {saved.world_size}, now {self.world_size}")
        if saved.seq_len != self.seq_len:
            problems.append(f"seq_len was {saved.seq_len}, now {self.seq_len}")
        if saved.identities != self.state.identities:
            problems.append(f"sources were {saved.identities}, now {self.state.identities}")
        if problems and not allow_reshard:
            raise InputError(
                "cannot resume the data stream: "
                + "; ".join(problems)
                + " (set data.reshard_on_resume=true to continue anyway)"
            )
        same_sources = list(saved.identities) == list(self.state.identities)
        consumed = {n: int(saved.consumed.get(n, 0)) for n in self.state.consumed}
        for name in set(saved.identities) & set(self.state.identities):
            if saved.identities[name] != self.state.identities[name]:
                consumed[name] = 0  # a different file under the same name starts from its start
        try:
            self.mixer.load_state_dict(
                saved.mixer, reset_credits=not same_sources, steps=saved.step
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"mixer state in the checkpoint is malformed: {exc!r}") from None
        self.state = LoaderState(
            step=saved.step,
            consumed=consumed,
            mixer=saved.mixer,
            domain_sequences=saved.domain_sequences,
            total_sequences=saved.total_sequences,
            world_size=self.world_size,
            seq_len=self.seq_len,
            identities=self.state.identities,
        )
        if problems:
            log.warning("resharded data stream on resume: %s", "; ".join(problems))
