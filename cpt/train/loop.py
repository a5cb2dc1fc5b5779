"""The training loop (nanoGPT-readable, torchtitan-resumable), driven through Accelerate.

One optimizer step = one global batch from the mixer, split into ``grad_accum`` micro-batches per
rank. Order inside a step: forward/backward per micro-batch, clip, update, then (when due) the
evaluation hook and its actions, then (when due) a checkpoint, so a checkpoint always holds the
decisions taken at its step and a resumed run replays them instead of re-deciding.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from cpt import ConfigError
from cpt.checkpoint import CheckpointError, CheckpointManager, checkpoint_name, latest_checkpoint
from cpt.data.curriculum import AlphaSchedule
from cpt.data.loader import MixedLoader, StepBatch
from cpt.data.sources import open_source
from cpt.identity import run_identity
from cpt.schedule import LRSchedule
from cpt.train import ewc as ewc_mod
from cpt.train import new_tokens
from cpt.train.config import TrainConfig
from cpt.train.hooks import Action, EvaluationHook, load_hook
from cpt.train.loss import causal_lm_loss, chunked_head, hidden_states
from cpt.train.metrics import MetricsLogger, Throughput, write_plots
from cpt.train.model import (
    build_model,
    load_tokenizer,
    model_config,
    optimizer_groups,
    tokenizer_hash,
)
from cpt.train.preflight import check_fsdp, check_seq_len, resolve_eos, resolve_mixed_precision
from cpt.train.runlog import LOG_NAME, log_mark, trim_log
from cpt.train.spike import SpikeGuard

log = logging.getLogger("cpt.train")


@dataclass
class View:
    """The read-only picture of the run handed to the evaluation hook (``TrainingView``)."""

    step: int
    tokens_seen: int
    alpha: float
    lr_multiplier: float
    run_dir: Path
    ewc_lambda: float = 0.0


@dataclass
class RunState:
    """The loop's own resumable state (the loader and hook have theirs)."""

    step: int = 0
    tokens_seen: int = 0
    lr_multiplier: float = 1.0
    alpha: float = 0.0
    stopped: bool = False
    last_eval_step: int = -1
    actions: list[dict[str, Any]] = field(default_factory=list)
    guard: dict[str, Any] = field(default_factory=dict)  # the spike guard's state
    ewc_lambda: float | None = None  # None = optim.ewc.lambda (until an action changes it)


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    tokens_seen: int
    final_dir: Path | None
    last_checkpoint: Path | None
    stopped_early: bool
    actions: list[dict[str, Any]]


StepCallback = Callable[[int, StepBatch, torch.Tensor], None]


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        *,
        hook: EvaluationHook | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.cfg = cfg
        self.on_step = on_step
        self._hook_override = hook

    # -- setup ---------------------------------------------------------------------------------

    def _setup(self) -> None:
        from accelerate import Accelerator
        from accelerate.utils import DistributedType, set_seed

        cfg = self.cfg
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        if cfg.run.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
        # Several processes without a GPU (e.g. torchrun on CPU): Accelerate only sets up the
        # gloo process group when told it runs on CPU.
        multi_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
        self.acc = Accelerator(
            mixed_precision=resolve_mixed_precision(cfg.optim.mixed_precision), cpu=multi_cpu
        )
        check_fsdp(self.acc)  # before any data or weights are read
        self.run_dir = cfg.run_dir
        if self.acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        set_seed(cfg.run.seed)

        self.tokenizer = load_tokenizer(cfg.model)
        self.tok_hash = tokenizer_hash(cfg.model)
        hf_cfg = model_config(cfg.model)  # no weights yet: the checks below come first

        # Open the data before building the model: a wrong path fails in seconds.
        def sources(side: str) -> list[tuple[Any, float]]:
            out = []
            for spec in getattr(cfg.data, side):
                src = open_source(
                    spec.path,
                    spec.format,
                    spec.dtype,
                    spec.name,
                    expected_tokenizer_hash=self.tok_hash or None,
                )
                out.append((src, spec.weight))
            return out

        domain, general = sources("domain"), sources("general")
        opened = [src for src, _ in domain + general]
        eos_id = resolve_eos(cfg, opened, self.tokenizer, int(hf_cfg.vocab_size))
        check_seq_len(cfg, hf_cfg, opened)
        # The hook opens its held-out data now, so a bad eval path also fails before the model.
        self.hook = self._hook_override or load_hook(cfg, self.acc, self.tokenizer, self.tok_hash)

        model = build_model(cfg.model, hf_cfg)
        general_sources = [src for src, _ in general]
        vocab = int(model.get_input_embeddings().weight.shape[0])
        # Recorded in every checkpoint and compared on resume (cpt.identity).
        self.identity = run_identity(
            model,
            str(cfg.model.path) if cfg.model.path is not None else "init",
            self.tok_hash,
            {src.name: src.identity for src, _ in domain + general},
            cfg.run.seed,
        )
        if cfg.model.gradient_checkpointing:
            kwargs = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):  # the transformers 5 name
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
            model.config.use_cache = False
        model.train()
        fsdp = self.acc.distributed_type == DistributedType.FSDP
        self.new_tokens = new_tokens.build_control(cfg, model, fsdp=fsdp)
        # The fused kernel: one pass over each tensor instead of a dozen; on CPU it made the
        # step of SmolLM2-135M 3x cheaper than the default for-each (2.2 vs 6.7 CPU s).
        optimizer = torch.optim.AdamW(
            optimizer_groups(model, cfg.optim.weight_decay),
            lr=0.0,
            betas=(cfg.optim.adam_beta1, cfg.optim.adam_beta2),
            eps=cfg.optim.eps,
            fused=self.acc.device.type in ("cpu", "cuda"),
        )
        self.loss_head, self.loss_kind = chunked_head(model, cfg.model, fsdp)
        self.throughput = Throughput.for_model(  # MFU per logging window (cpt.plan's FLOPs)
            model, cfg.data.seq_len, self.acc.device, self.acc.num_processes
        )
        fisher = None
        if cfg.optim.ewc is not None:
            fisher = ewc_mod.base_fisher(cfg, self.acc, model, general_sources, self.identity)
        if cfg.model.compile:
            model = torch.compile(model)
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        self.ewc: ewc_mod.EWC | None = None
        if fisher is not None:  # the anchor: the prepared (sharded) weights before any resume
            assert cfg.optim.ewc is not None
            self.ewc = ewc_mod.EWC(self.acc.unwrap_model(self.model), fisher, cfg.optim.ewc.lambda_)
        self.guard = SpikeGuard(cfg.optim.spike_guard) if cfg.optim.spike_guard.enabled else None

        self.loader = MixedLoader(
            domain,
            general,
            alpha=AlphaSchedule.from_config(cfg.data.alpha),
            seq_len=cfg.data.seq_len,
            micro_batch_size=cfg.data.micro_batch_size,
            grad_accum=cfg.optim.grad_accum,
            eos_id=int(eos_id),
            rank=self.acc.process_index,
            world_size=self.acc.num_processes,
            mask_documents=cfg.data.mask_documents,
            vocab_size=vocab,
            on_wrap=self._on_wrap,
        )

        tps = self.loader.tokens_per_step
        if cfg.schedule.max_steps is not None:
            self.total_steps = cfg.schedule.max_steps
        else:
            assert cfg.schedule.total_tokens is not None
            self.total_steps = math.ceil(cfg.schedule.total_tokens / tps)
        self.schedule = LRSchedule.build(
            base_lr=cfg.optim.base_lr,
            beta=cfg.optim.beta,
            total_steps=self.total_steps,
            warmup_frac=cfg.schedule.warmup_frac,
            min_lr_ratio=cfg.schedule.min_lr_ratio,
            kind=cfg.schedule.kind,
            decay_frac=cfg.schedule.decay_frac,
        )
        self.ckpt = CheckpointManager(
            self.run_dir / "checkpoints", cfg.checkpoint.keep_last, self.acc
        )
        self.state = RunState(alpha=self.loader.alpha)
        self._resume()
        self.metrics = MetricsLogger(
            cfg.logging,
            self.run_dir,
            self.total_steps,
            self.state.step,
            enabled=self.acc.is_main_process,
        )
        if self.acc.is_main_process:
            self.metrics.event(
                "start",
                steps=self.total_steps,
                tokens_per_step=tps,
                world_size=self.acc.num_processes,
                resumed_at=self.state.step,
                log_trimmed=getattr(self, "_log_trim", (0, ""))[1],
                mixed_precision=self.acc.mixed_precision,
                peak_lr=self.schedule.peak_lr,
                loss_function=self.loss_kind,
                alpha_schedule=self.loader.mixer.schedule.describe(),
                **self.throughput.describe(),
                **new_tokens.describe(self.new_tokens),
            )
            if self.ewc is not None:
                self.metrics.event(
                    "ewc",
                    **{"lambda": self.ewc.lam},
                    parameters=len(self.ewc.params),
                    memory_mb_per_rank=round(self.ewc.memory_bytes() / 2**20, 3),
                    fisher_path=str(ewc_mod.fisher_path(cfg)),
                )

    def _resume(self) -> None:
        choice = self.cfg.checkpoint.resume
        if choice == "none":
            return
        if choice == "auto":
            path = latest_checkpoint(self.ckpt.root)
            if path is None:
                return
        else:
            path = Path(choice)
            if not path.is_dir():
                raise ConfigError(
                    f"config key 'checkpoint.resume': {path} is not a checkpoint directory"
                )
        state, hook_state = self.ckpt.load(
            path, self.identity, allow_mismatch=self.cfg.checkpoint.allow_mismatch
        )
        self.loader.load_state_dict(state["loader"], allow_reshard=self.cfg.data.reshard_on_resume)
        try:
            self.state = RunState(**state["run"])
        except TypeError as exc:
            raise CheckpointError(
                f"checkpoint {path}: key 'run' of trainer_state.json: {exc}"
            ) from None
        if self.acc.is_main_process and path.parent.resolve() == self.ckpt.root.resolve():
            # The steps after this checkpoint are trained again: drop their old log records.
            self._log_trim = trim_log(self.run_dir / LOG_NAME, state.get("log"))
        self._restore_extras()
        if self.hook is not None and hook_state is not None:
            self.hook.load_state_dict(hook_state)
        self._resumed_from = path

    def _restore_extras(self) -> None:
        """The guard's window and EWC's current lambda, from ``self.state``."""
        if self.guard is not None:
            self.guard.load_state_dict(self.state.guard)
        if self.ewc is not None and self.state.ewc_lambda is not None:
            self.ewc.lam = self.state.ewc_lambda
        self.state.alpha = self.loader.alpha

    def _on_wrap(self, name: str, epoch: int) -> None:
        if self.acc.is_main_process and hasattr(self, "metrics"):
            self.metrics.event("epoch", source=name, epoch=epoch, step=self.state.step)

    # -- the loop ------------------------------------------------------------------------------

    def view(self) -> View:
        return View(
            step=self.state.step,
            tokens_seen=self.state.tokens_seen,
            alpha=self.state.alpha,
            lr_multiplier=self.state.lr_multiplier,
            run_dir=self.run_dir,
            ewc_lambda=self.ewc.lam if self.ewc is not None else 0.0,
        )

    def _evaluate(self) -> None:
        assert self.hook is not None
        actions = self.hook.evaluate(self.acc.unwrap_model(self.model), self.view())
        self.model.train()
        self.state.last_eval_step = self.state.step
        for action in actions:
            self._apply(action)

    def _apply(self, action: Action) -> None:
        if action.kind == "raise_replay":
            self.loader.set_alpha(float(action.value))
            self.state.alpha = float(action.value)
        elif action.kind == "lower_lr":
            self.state.lr_multiplier *= float(action.value)
        elif action.kind == "stop":
            self.state.stopped = True
        elif action.kind in ("enable_ewc", "raise_ewc"):
            if self.ewc is None:
                raise ConfigError(f"action {action.kind}: needs an 'optim.ewc' section")
            self.ewc.lam = float(action.value)  # the new lambda
            self.state.ewc_lambda = self.ewc.lam
        else:
            raise ValueError(f"unknown action kind {action.kind!r}")
        record = {"step": self.state.step, **asdict(action)}
        self.state.actions.append(record)
        if self.acc.is_main_process:
            self.metrics.event("action", **record)

    def _loss(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        # use_cache=False: no KV cache in training, and HF only infers document masks from
        # restarting position ids when there is no cache.
        if self.loss_head is None:
            return self.model(**inputs, use_cache=False).loss
        labels = inputs.pop("labels")
        with hidden_states(self.loss_head):
            hidden = self.model(**inputs, use_cache=False).logits
        return causal_lm_loss(hidden, self.loss_head.weight, labels, self.cfg.model.loss_chunk)

    def _train_step(self, batch: StepBatch) -> tuple[torch.Tensor, str]:
        lr = self.schedule(self.state.step) * self.state.lr_multiplier
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        device = self.acc.device
        n_micro = len(batch.micro_batches)
        loss_sum = torch.zeros((), device=device)
        for i, micro in enumerate(batch.micro_batches):
            inputs = {
                k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in micro.items()
            }
            sync = self.acc.no_sync(self.model) if i < n_micro - 1 else nullcontext()
            with sync:
                loss = self._loss(inputs) / n_micro
                self.acc.backward(loss)
            loss_sum += loss.detach()
        if self.guard is not None:  # every rank judges the same (averaged) loss
            mean = float(self.acc.reduce(loss_sum.clone(), reduction="mean").item())
            verdict = self.guard.observe(mean)
            if verdict != "ok":
                self.optimizer.zero_grad(set_to_none=True)  # the batch is skipped
                return loss_sum, verdict
        if self.ewc is not None:
            self.ewc_penalty = self.ewc.add_gradient()
        if self.new_tokens is not None:  # drops frozen grads before the clip sees them
            self.new_tokens.before_step(self.state.step)
        if self.cfg.optim.grad_clip > 0:
            self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        if self.new_tokens is not None:
            self.new_tokens.after_step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_sum, "ok"

    def _rollback(self, spike_step: int) -> None:
        """After max_spikes spikes: back to the last checkpoint, LR multiplied by lr_factor."""
        factor = self.cfg.optim.spike_guard.lr_factor
        path = latest_checkpoint(self.ckpt.root)
        reason = f"{self.cfg.optim.spike_guard.max_spikes} loss spikes by step {spike_step}"
        if path is not None:
            state, hook_state = self.ckpt.load(
                path, self.identity, allow_mismatch=self.cfg.checkpoint.allow_mismatch
            )
            self.loader.load_state_dict(
                state["loader"], allow_reshard=self.cfg.data.reshard_on_resume
            )
            self.state = RunState(**state["run"])
            self._restore_extras()
            if self.hook is not None and hook_state is not None:
                self.hook.load_state_dict(hook_state)
        assert self.guard is not None
        self.guard.after_rollback()
        self.state.lr_multiplier *= factor
        record = {"step": self.state.step, "kind": "rollback", "value": factor,
                  "reason": reason, "from_step": spike_step,
                  "checkpoint": str(path) if path is not None else None}  # fmt: skip
        self.state.actions.append(record)
        if self.acc.is_main_process:
            self.metrics.event("action", **record)

    def _checkpoint(self) -> Path:
        if self.acc.is_main_process:
            # Logged before the write and covered by the mark: a resume from this checkpoint
            # keeps exactly the records up to here (a kill mid-write leaves it to be trimmed).
            path = self.ckpt.root / checkpoint_name(self.state.step)
            self.metrics.event("checkpoint", step=self.state.step, path=str(path))
        if self.guard is not None:
            self.state.guard = self.guard.state_dict()
        trainer_state = {
            "run": asdict(self.state),
            "loader": self.loader.state_dict(),
            "total_steps": self.total_steps,
            "identity": self.identity,
            "log": log_mark(self.run_dir / LOG_NAME) if self.acc.is_main_process else None,
        }
        hook_state = self.hook.state_dict() if self.hook is not None else None
        protected = self.hook.protected_checkpoints() if self.hook is not None else set()
        path = self.ckpt.save(self.state.step, trainer_state, hook_state, protected)
        if self.hook is not None:
            self.hook.on_checkpoint(self.state.step, path)
        return path

    def run(self) -> TrainResult:
        self._setup()
        cfg = self.cfg
        every_eval = self.hook.every if self.hook is not None else 0
        if every_eval > 0 and self.state.step == 0 and self.state.last_eval_step < 0:
            self._evaluate()  # the base model: the reference for forgetting
        last_ckpt: Path | None = None
        window_losses: list[torch.Tensor] = []
        window_start = time.perf_counter()
        window_tokens = 0
        window_alpha: list[tuple[float, float]] = []  # (realised, target) of each step
        self.ewc_penalty = 0.0
        while self.state.step < self.total_steps and not self.state.stopped:
            batch = self.loader.next_step()
            lr = self.schedule(self.state.step) * self.state.lr_multiplier
            loss, verdict = self._train_step(batch)
            self.state.step += 1
            self.state.tokens_seen += self.loader.tokens_per_step
            self.state.alpha = self.loader.alpha
            window_alpha.append((batch.alpha, batch.target))
            if verdict != "ok" and self.acc.is_main_process:
                assert self.guard is not None
                self.metrics.event("spike", step=self.state.step, loss=float(loss),
                                   threshold=self.guard.threshold(), skipped=True)  # fmt: skip
            if verdict == "rollback":
                self._rollback(self.state.step)
                window_losses, window_tokens, window_alpha = [], 0, []
                continue
            if verdict == "ok":
                window_losses.append(loss)
            window_tokens += self.loader.tokens_per_step
            if self.on_step is not None:
                self.on_step(self.state.step, batch, loss)
            self.metrics.advance()
            step = self.state.step
            is_last = step >= self.total_steps
            if (step % cfg.logging.every == 0 or is_last) and window_losses:
                mean_loss = torch.stack(window_losses).mean()
                mean_loss = float(self.acc.reduce(mean_loss, reduction="mean").item())
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                self.metrics.log(
                    step,
                    {
                        "loss": mean_loss,
                        "lr": lr,
                        "tokens_per_s": window_tokens / elapsed,
                        "alpha": batch.alpha,
                        "alpha_target": batch.target,
                        "alpha_steps": [a for a, _ in window_alpha],
                        "alpha_target_steps": [t for _, t in window_alpha],
                        "alpha_cumulative": self.loader.state.domain_sequences
                        / max(1, self.loader.state.total_sequences),
                        "tokens_seen": self.state.tokens_seen,
                        "tokens_by_source": dict(self.loader.state.consumed),
                        "lr_multiplier": self.state.lr_multiplier,
                        **(
                            {"ewc_penalty": self.ewc_penalty, "ewc_lambda": self.ewc.lam}
                            if self.ewc is not None
                            else {}
                        ),  # fmt: skip
                        **self.throughput.window(window_tokens, elapsed),
                        **(self.new_tokens.log_values(step - 1) if self.new_tokens else {}),
                    },
                )
                window_losses, window_tokens, window_alpha = [], 0, []
                window_start = time.perf_counter()
            if every_eval > 0 and (step % every_eval == 0 or is_last):
                self._evaluate()
            done = is_last or self.state.stopped
            if done or (cfg.checkpoint.every > 0 and step % cfg.checkpoint.every == 0):
                last_ckpt = self._checkpoint()
        if self.state.step >= self.total_steps or self.state.stopped:
            if last_ckpt is None:  # resumed from the final checkpoint: nothing left to train
                last_ckpt = latest_checkpoint(self.ckpt.root)
            final_dir = self._finish()
        else:
            final_dir = None
        return TrainResult(
            self.run_dir,
            self.state.step,
            self.state.tokens_seen,
            final_dir,
            last_ckpt,
            self.state.stopped,
            list(self.state.actions),
        )

    def _finish(self) -> Path:
        final = self.run_dir / "final"
        self.acc.wait_for_everyone()
        state_dict = self.acc.get_state_dict(self.model)
        if self.acc.is_main_process:
            tmp = self.run_dir / "final.tmp"
            if tmp.exists():
                shutil.rmtree(tmp)
            unwrapped = self.acc.unwrap_model(self.model)
            unwrapped.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(tmp)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            if self.cfg.logging.plots:  # first: the evaluation report links these plots
                write_plots(self.run_dir)
            if self.hook is not None:
                self.hook.finalize(unwrapped, self.view())
            self.metrics.event(
                "done", step=self.state.step, tokens=self.state.tokens_seen, final=str(final)
            )
            self.metrics.close()
        self.acc.wait_for_everyone()
        return final


def train(
    cfg: TrainConfig, *, hook: EvaluationHook | None = None, on_step: StepCallback | None = None
) -> TrainResult:
    return Trainer(cfg, hook=hook, on_step=on_step).run()
