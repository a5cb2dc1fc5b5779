"""``python -m cpt.bench train``: tokens/s of cpt's training loop against Hugging Face ``Trainer``.

Same tiny Llama-style model (same initial weights), same token rows, sequence length, batch,
precision and thread count, one process, run one after the other:

- ``cpt``: ``cpt.train`` (mixer + packer + loop through Accelerate, chunked output projection
  + cross-entropy).
- ``cpt-own-loss``: the same with ``model.loss_chunk: 0`` (the model's own loss on full logits),
  which splits cpt's gain into the loop's part and the loss's part.
- ``hf-packed``: ``transformers.Trainer`` on exactly the rows cpt trained on (the ``run_clm``
  "group texts" recipe): the loop overhead compared like for like.
- ``hf-padded``: ``Trainer`` on whole documents (truncated to ``seq_len``) padded per batch, the
  other common recipe; only real (non-pad) tokens count, so padding waste shows up here.
- ``loader``: cpt's data loader alone (plan, read, pack), in tokens/s, against cpt's training rate.

Training rates are measured from the end of the warm-up steps to the last step (no checkpoint or
final save inside the window).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LOOPS = ("cpt", "cpt-own-loss", "hf-packed", "hf-padded")


def _find_shared_data() -> Path | None:
    for base in (Path.cwd(), Path(__file__).resolve()):
        for parent in (base, *base.parents):
            cand = parent / "shared" / "data"
            if cand.is_dir():
                return cand
    return None


def _make_data(tmp: Path, args: argparse.Namespace) -> tuple[Path, Path, Path | None, int, int]:
    """Domain/general raw token files: real text with a real tokenizer when available."""
    from cpt.data.sources import write_raw_tokens

    shared = _find_shared_data()
    if shared is not None and not args.synthetic:
        from cpt.curate import tokenize

        # the engine tokenizes; its Megatron export is the flat .bin the raw reader takes
        tok = shared / "tokenizers" / "smollm2-135m.tokenizer.json"
        files = []
        for name, corpus in (
            ("domain", "domain/licenses-train"),
            ("general", "general/sotu-train"),
        ):
            src = shared / f"{corpus}.jsonl.zst"
            tokenize([src], tok, tmp / f"{name}-shards", megatron=tmp / name)
            files.append(tmp / f"{name}.bin")
        return files[0], files[1], tok, 49152, 0
    rng = np.random.default_rng(0)
    vocab, eos = 8192, 0

    def docs(n: int) -> np.ndarray:
        parts = []
        for _ in range(n):
            parts.append(rng.integers(1, vocab, int(rng.integers(50, 2000))))
            parts.append(np.array([eos]))
        return np.concatenate(parts)

    dom = write_raw_tokens(tmp / "domain.bin", docs(400))
    return dom, write_raw_tokens(tmp / "general.bin", docs(200)), None, vocab, eos


def _config(
    tmp: Path,
    args: argparse.Namespace,
    dom: Path,
    gen: Path,
    tok: Path | None,
    vocab: int,
    eos: int,
    steps: int,
) -> dict[str, Any]:
    return {
        "model": {
            "init": {
                "arch": "llama",
                "hidden_size": args.hidden,
                "layers": args.layers,
                "heads": 4,
                "intermediate_size": 4 * args.hidden,
                "vocab_size": vocab,
                "tie_word_embeddings": True,
                "max_position": args.seq_len,
            }
        },
        "data": {
            "domain": [{"path": str(dom)}],
            "general": [{"path": str(gen)}],
            "alpha": 0.7,
            "seq_len": args.seq_len,
            "micro_batch_size": args.batch,
            "eos_id": eos,
        },
        "optim": {"base_lr": 1e-3, "beta": 1.0, "mixed_precision": "no"},
        "schedule": {"max_steps": steps, "warmup_frac": 0.1},
        "checkpoint": {"every": 0, "keep_last": 1},
        "logging": {"every": 10**9, "tensorboard": False, "plots": False, "progress": "off"},
        "run": {"dir": str(tmp / "cpt-run"), "seed": 0, "threads": args.threads},
    }


# The clock of the training measurements: wall time, or this process's CPU time (tokens per
# CPU-second), which other jobs on a shared machine disturb far less.
_CLOCK = [time.perf_counter]


def _rate(stamps: list[float], tokens: list[int], warmup: int) -> float:
    """Tokens per second between the end of step ``warmup`` and the last step."""
    return sum(tokens[warmup + 1 :]) / (stamps[-1] - stamps[warmup])


def bench_cpt(cfg: dict[str, Any], warmup: int) -> tuple[float, list[np.ndarray], Any]:
    from cpt.train.config import load_config
    from cpt.train.loop import Trainer

    stamps: list[float] = []
    rows: list[np.ndarray] = []

    def on_step(step: int, batch: Any, loss: Any) -> None:
        stamps.append(_CLOCK[0]())
        rows.extend(row for mb in batch.micro_batches for row in mb["input_ids"])

    trainer = Trainer(load_config(data=cfg), on_step=on_step)
    trainer.run()
    tokens = [cfg["data"]["seq_len"] * cfg["data"]["micro_batch_size"]] * len(stamps)
    return _rate(stamps, tokens, warmup), rows, trainer


def _hf_model(cfg: dict[str, Any]) -> Any:
    import torch

    from cpt.train.config import load_config
    from cpt.train.model import build_model

    torch.manual_seed(cfg["run"]["seed"])
    return build_model(load_config(data=cfg).model)


class _Timer:
    """A TrainerCallback recording the wall time at the end of every optimizer step."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.stamps.append(_CLOCK[0]())


def bench_hf(
    cfg: dict[str, Any],
    examples: list[dict[str, np.ndarray]],
    tmp: Path,
    padded: bool,
    eos: int,
    warmup: int,
) -> float:
    import torch
    from transformers import Trainer, TrainingArguments, default_data_collator

    from cpt.train.model import optimizer_groups

    model = _hf_model(cfg)
    model.config.use_cache = False
    batch = cfg["data"]["micro_batch_size"]
    steps = cfg["schedule"]["max_steps"]
    args = TrainingArguments(
        output_dir=str(tmp / ("hf-padded" if padded else "hf-packed")),
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=1e-3,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, steps // 10),
        weight_decay=0.1,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        logging_steps=10**9,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    opt = torch.optim.AdamW(optimizer_groups(model, 0.1), lr=1e-3, betas=(0.9, 0.95))

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(examples)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {k: torch.as_tensor(v) for k, v in examples[i].items()}

    real_tokens: list[int] = []  # per batch, in the order the Trainer draws them (shuffled)
    if padded:

        class PadCollator:
            """Pad to the longest document in the batch; labels -100 on padding."""

            def __call__(self, feats: list[dict[str, Any]]) -> dict[str, Any]:
                real_tokens.append(sum(len(f["input_ids"]) for f in feats))
                n = max(len(f["input_ids"]) for f in feats)
                ids = torch.full((len(feats), n), eos, dtype=torch.long)
                mask = torch.zeros((len(feats), n), dtype=torch.long)
                for i, f in enumerate(feats):
                    ids[i, : len(f["input_ids"])] = f["input_ids"]
                    mask[i, : len(f["input_ids"])] = 1
                labels = ids.masked_fill(mask == 0, -100)
                return {"input_ids": ids, "attention_mask": mask, "labels": labels}

        collator: Any = PadCollator()
    else:
        collator = default_data_collator
    timer = _Timer()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Rows(),
        data_collator=collator,
        optimizers=(opt, None),
        callbacks=[timer],
    )
    # the LR schedule is HF's own; the rate does not depend on it
    trainer.train()
    if padded:
        per_step = real_tokens[: len(timer.stamps)]
    else:
        per_step = [batch * cfg["data"]["seq_len"]] * len(timer.stamps)
    return _rate(timer.stamps, per_step, warmup)


def bench_loader(trainer: Any, seconds: float) -> float:
    """cpt's loader alone: plan + read + pack, tokens/s (continues the trained stream)."""
    loader = trainer.loader
    loader.on_wrap = None  # the run (and its log) is over
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < seconds:
        loader.next_step()
        n += 1
    return n * loader.tokens_per_step / (time.perf_counter() - t0)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m cpt.bench train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--steps", type=int, default=8, help="measured optimizer steps")
    p.add_argument("--warmup", type=int, default=2, help="steps left out of the measurement")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=8, help="sequences per step")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--repeats", type=int, default=2, help="rounds of the three loops (best kept)")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall = tokens/s; cpu = tokens per CPU-second of this process "
        "(steadier on a shared machine)",
    )
    p.add_argument("--synthetic", action="store_true", help="random tokens instead of real text")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    _CLOCK[0] = time.process_time if args.clock == "cpu" else time.perf_counter

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="cpt-bench-train-") as tmp_name:
        tmp = Path(tmp_name)
        dom, gen, tok, vocab, eos = _make_data(tmp, args)
        steps = args.steps + args.warmup + 1
        cfg = _config(tmp, args, dom, gen, tok, vocab, eos, steps)
        print(
            f"model: llama hidden {args.hidden} x {args.layers} layers, vocab {vocab}; "
            f"seq_len {args.seq_len}, batch {args.batch}, fp32, threads "
            f"{torch.get_num_threads()}, {args.steps} measured steps",
            flush=True,
        )

        # The loops run in turn, ``--repeats`` times, so a change in machine load during the
        # run does not favour whichever ran first; each keeps its best and median rate.
        rates: dict[str, list[float]] = {k: [] for k in LOOPS}
        docs = _documents(dom, gen, eos, args.seq_len)
        trainer = None
        for rep in range(args.repeats):
            cfg["run"]["dir"] = str(tmp / f"cpt-run-{rep}")
            rate, rows, trainer = bench_cpt(cfg, args.warmup)
            rates["cpt"].append(rate)
            own_cfg = {**cfg, "model": {**cfg["model"], "loss_chunk": 0}}
            own_cfg["run"] = {**cfg["run"], "dir": str(tmp / f"cpt-own-{rep}")}
            rates["cpt-own-loss"].append(bench_cpt(own_cfg, args.warmup)[0])
            packed = [
                {
                    "input_ids": r,
                    "labels": r.copy(),
                    "position_ids": _positions(r, eos),
                    "attention_mask": np.ones_like(r),
                }
                for r in rows
            ]
            rates["hf-packed"].append(
                bench_hf(cfg, packed, tmp, padded=False, eos=eos, warmup=args.warmup)
            )
            rates["hf-padded"].append(
                bench_hf(cfg, docs, tmp, padded=True, eos=eos, warmup=args.warmup)
            )
            for name in LOOPS:
                print(f"[{rep}] {name:<13}{rates[name][-1]:12,.0f} tokens/s", flush=True)
        best = {k: max(v) for k, v in rates.items()}
        median = {k: float(np.median(v)) for k, v in rates.items()}
        for label, values in (("best", best), ("median", median)):
            print(f"{label}: " + ", ".join(f"{k} {v:,.0f}" for k, v in values.items()), flush=True)
        cpt_rate, cpt_own, hf_packed, hf_padded = (best[k] for k in LOOPS)

        loader_rate = bench_loader(trainer, seconds=3.0)
        print(f"loader alone {loader_rate:12,.0f} tokens/s", flush=True)

    figures = {
        "median_cpt_vs_hf_packed": median["cpt"] / median["hf-packed"],
        "median_cpt_vs_hf_padded": median["cpt"] / median["hf-padded"],
        "cpt_tokens_per_s": cpt_rate,
        "cpt_own_loss_tokens_per_s": cpt_own,
        "hf_packed_tokens_per_s": hf_packed,
        "hf_padded_tokens_per_s": hf_padded,
        "loader_tokens_per_s": loader_rate,
        "cpt_vs_hf_packed": cpt_rate / hf_packed,
        "cpt_own_loss_vs_hf_packed": cpt_own / hf_packed,
        "cpt_vs_hf_padded": cpt_rate / hf_padded,
        "loader_vs_training": loader_rate / cpt_rate,
    }
    print(f"\ncpt / hf-packed  {figures['cpt_vs_hf_packed']:.2f}x  (same rows: loop + loss)")
    print(
        f"cpt-own-loss / hf-packed  {figures['cpt_own_loss_vs_hf_packed']:.2f}x  "
        "(same rows and loss: the loop alone)"
    )
    print(f"cpt / hf-padded  {figures['cpt_vs_hf_padded']:.2f}x  (padding-free packing too)")
    print(
        f"medians: cpt / hf-packed {figures['median_cpt_vs_hf_packed']:.2f}x, "
        f"cpt / hf-padded {figures['median_cpt_vs_hf_padded']:.2f}x"
    )
    print(f"loader / training {figures['loader_vs_training']:.0f}x  (target >= 20x)")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


def _positions(row: np.ndarray, eos: int) -> np.ndarray:
    from cpt.data.packing import position_ids

    return position_ids(row[None, :], eos)[0]


def _documents(dom: Path, gen: Path, eos: int, seq_len: int) -> list[dict[str, np.ndarray]]:
    """Whole documents (up to seq_len tokens), domain and general interleaved 7:3."""
    out: dict[str, list[np.ndarray]] = {}
    for name, path in (("d", dom), ("g", gen)):
        toks = np.fromfile(path, dtype="<u2").astype(np.int64)
        cuts = np.flatnonzero(toks == eos)
        starts = np.concatenate([[0], cuts[:-1] + 1])
        out[name] = [toks[s : e + 1][:seq_len] for s, e in zip(starts, cuts) if e > s]
    docs, i, j = [], 0, 0
    for k in range(len(out["d"]) + len(out["g"])):
        if (k % 10 < 7 and i < len(out["d"])) or j >= len(out["g"]):
            docs.append(out["d"][i])
            i += 1
        else:
            docs.append(out["g"][j])
            j += 1
    return [{"input_ids": d} for d in docs]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
