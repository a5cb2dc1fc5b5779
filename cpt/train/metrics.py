"""Training metrics out: stdout (tqdm bar on a TTY, else a line every N steps), log.jsonl,
TensorBoard, and PNG plots of loss, LR and replay ratio at the end. Main process only.

Each logging window also carries ``tflops`` (model TFLOP/s per device) and ``mfu`` (that over the
device's peak), from the planner's FLOPs per token (``cpt.plan.model.flops_per_token``).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from cpt.train.config import LoggingConfig


class MetricsLogger:
    def __init__(
        self, cfg: LoggingConfig, run_dir: Path, total_steps: int, start_step: int, enabled: bool
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.enabled = enabled
        self._tb: Any = None
        self._bar: Any = None
        self._jsonl: Any = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        # Appending keeps the history of a resumed run; records carry their step.
        self._jsonl = open(run_dir / "log.jsonl", "a", encoding="utf-8")
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(run_dir / "tb"), purge_step=start_step + 1)
        use_bar = cfg.progress == "on" or (cfg.progress == "auto" and sys.stdout.isatty())
        if use_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True)

    def event(self, name: str, /, **fields: Any) -> None:
        """A one-off event (resume, action, epoch wrap): jsonl + stdout."""
        if not self.enabled:
            return
        record = {"event": name, **fields}
        self._jsonl.write(json.dumps(record, sort_keys=True) + "\n")
        self._jsonl.flush()
        self._print(f"[cpt.train] {name}: " + ", ".join(f"{k}={v}" for k, v in fields.items()))

    def log(self, step: int, record: dict[str, Any], force_line: bool = False) -> None:
        if not self.enabled:
            return
        full = {"step": step, **record}
        self._jsonl.write(json.dumps(full, sort_keys=True) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)):
                    self._tb.add_scalar(f"train/{key}", value, step)
                elif isinstance(value, dict):
                    for sub, v in value.items():
                        self._tb.add_scalar(f"{key}/{sub}", v, step)
        if self._bar is not None:
            self._bar.set_postfix(
                loss=f"{record['loss']:.4f}",
                lr=f"{record['lr']:.2e}",
                alpha=f"{record['alpha']:.3f}",
                tok_s=f"{record['tokens_per_s']:.0f}",
            )
        if self._bar is None or force_line:
            self._print(
                f"step {step} loss {record['loss']:.4f} lr {record['lr']:.3e} "
                f"alpha {record['alpha']:.3f} tok/s {record['tokens_per_s']:.0f} "
                f"tokens {record['tokens_seen']}"
            )

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        self.enabled = False
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        if self._jsonl is not None:
            self._jsonl.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    """Step records of log.jsonl; a resumed run's re-logged steps replace the older ones."""
    by_step: dict[int, dict[str, Any]] = {}
    if not path.is_file():
        return []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if "step" in rec and "loss" in rec and "event" not in rec:  # not a spike event
            by_step[int(rec["step"])] = rec
    return [by_step[k] for k in sorted(by_step)]


def alpha_per_step(records: list[dict[str, Any]]) -> tuple[list[int], list[float], list[float]]:
    """(steps, realised, target) of every step: a window record carries its steps' shares
    (``alpha_steps``); an older record only its last step's."""
    xs: list[int] = []
    real: list[float] = []
    target: list[float] = []
    for r in records:
        per = r.get("alpha_steps") or [r["alpha"]]
        per_target = r.get("alpha_target_steps") or [r.get("alpha_target", r["alpha"])] * len(per)
        first = int(r["step"]) - len(per) + 1
        xs += list(range(first, first + len(per)))
        real += [float(a) for a in per]
        target += [float(t) for t in per_target]
    return xs, real, target


def write_plots(run_dir: Path, records: list[dict[str, Any]] | None = None) -> list[Path]:
    """loss.png, lr.png, alpha.png from log.jsonl (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = records if records is not None else read_log(run_dir / "log.jsonl")
    if not records:
        return []
    steps = [r["step"] for r in records]
    out = []
    panels = [
        ("loss", "training loss", "loss"),
        ("lr", "learning rate", "lr"),
        ("alpha", "domain share (realised)", "alpha"),
    ]
    for key, title, fname in panels:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        if key == "alpha":
            xs, real, target = alpha_per_step(records)
            ax.plot(xs, real, lw=1.2, label="realised")
            ax.plot(xs, target, lw=1, ls="--", label="target")
            ax.set_ylim(-0.02, 1.02)
            ax.legend()
        else:
            ax.plot(steps, [r[key] for r in records], lw=1.2)
        ax.set_xlabel("optimizer step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = run_dir / f"{fname}.png"
        tmp = run_dir / f".{fname}.tmp.png"
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        tmp.replace(path)
        out.append(path)
    return out


class Throughput:
    """Model FLOPs of a logging window -> TFLOP/s per device and MFU."""

    def __init__(
        self, flops_per_token: float, peak_flops: float | None, peak_source: str, world: int
    ) -> None:
        self.flops_per_token = flops_per_token
        self.peak_flops = peak_flops
        self.peak_source = peak_source
        self.world = max(1, world)

    @classmethod
    def for_model(cls, model: Any, seq_len: int, device: Any, world: int) -> Throughput:
        """FLOPs per token from the model's config (the planner's formula); the peak from the GPU
        table for a known GPU, a measured matmul rate on CPU, none for an unknown device."""
        from cpt import ConfigError
        from cpt.plan.gpus import match_device_name
        from cpt.plan.model import ModelShape, flops_per_token, from_hf_config

        try:
            shape = from_hf_config(model.config.to_dict(), name="model")
        except (
            ConfigError,
            AttributeError,
        ):  # not a Llama-like config: matmul weights, no attention
            import torch

            n = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
            shape = ModelShape("model", params_override=float(n))
        per_token = flops_per_token(shape, seq_len)
        kind = getattr(device, "type", str(device))
        if kind == "cuda":
            import torch

            name = torch.cuda.get_device_name(device)
            gpu = match_device_name(name)
            if gpu is None:
                return cls(per_token, None, f"{name}: not in cpt/plan/gpus.yaml, no MFU", world)
            return cls(per_token, gpu.peak_flops, f"{gpu.name} bf16 dense (gpus.yaml)", world)
        if kind == "cpu":
            from cpt.plan.cpu_peak import cpu_peak

            peak = cpu_peak()
            return cls(per_token, peak.flops, peak.source, world)
        return cls(per_token, None, f"device {kind}: no known peak, no MFU", world)

    def describe(self) -> dict[str, Any]:
        peak = None if self.peak_flops is None else self.peak_flops / 1e12
        return {"flops_per_token": self.flops_per_token, "peak_tflops": peak,
                "peak_source": self.peak_source}  # fmt: skip

    def window(self, tokens: int, seconds: float) -> dict[str, float]:
        """``tokens`` trained by all ranks in ``seconds``."""
        per_device = tokens * self.flops_per_token / max(seconds, 1e-9) / self.world
        out = {"tflops": per_device / 1e12}
        if self.peak_flops:
            out["mfu"] = per_device / self.peak_flops
        return out


def throughput_summary(records: list[dict[str, Any]]) -> dict[str, float] | None:
    """Median TFLOP/s per device and MFU over a run's logging windows (None if not logged)."""
    tf = [float(r["tflops"]) for r in records if isinstance(r.get("tflops"), (int, float))]
    if not tf:
        return None
    out = {"tflops": statistics.median(tf), "windows": float(len(tf))}
    mfu = [float(r["mfu"]) for r in records if isinstance(r.get("mfu"), (int, float))]
    if mfu:
        out["mfu"] = statistics.median(mfu)
    return out
