"""The memory model against a measured peak: a random-weight Llama, fp32 AdamW, cpt's loss, CPU.

How the peak is measured: a fresh Python process builds the model from a ``LlamaConfig`` (random
weights, nothing downloaded) and runs two training steps (the second one has AdamW's states, as
every later step does) with cpt's chunked loss; the peak is ``ru_maxrss`` at the end minus the
resident size just before the model was built. glibc is told to serve every allocation over
64 KiB with its own mmap (``MALLOC_MMAP_THRESHOLD_``), so freed tensors leave the resident set
at once and the peak RSS is the peak of live tensors, not of the allocator's free lists.

Checkpointing is switched on with the trainer's own call (``activation_checkpointing_enable``,
non-reentrant), and the bytes autograd saves in the first forward are counted as well: they must
match the model's ``forward_saved_bytes``, so a checkpointing call that silently does nothing
fails here rather than showing up as an unexplained peak. A second test checks that the trainer's
model really is checkpointed (a hook counts what its forward saves).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cpt.plan.memory import estimate_memory, forward_saved_bytes
from cpt.plan.model import ModelShape, resolve_model

_SCRIPT = r"""
import json, os, resource, sys
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from cpt.train.loss import causal_lm_loss, hidden_states
from cpt.train.model import optimizer_groups

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

s = json.loads(sys.argv[1])
torch.set_num_threads(int(os.environ.get("CPT_TEST_THREADS", "2")))
torch.manual_seed(0)
cfg = LlamaConfig(hidden_size=s["hidden"], num_hidden_layers=s["layers"],
    num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"],
    intermediate_size=s["inter"], vocab_size=s["vocab"], tie_word_embeddings=s["tied"],
    max_position_embeddings=max(2048, s["seq"]))
cfg._attn_implementation = "sdpa"
x = torch.randint(0, s["vocab"], (s["mb"], s["seq"]))
base = rss()
model = LlamaForCausalLM(cfg)
if s["ckpt"]:  # as cpt/train/loop.py does it
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
model.train()
opt = torch.optim.AdamW(optimizer_groups(model, 0.1), lr=1e-4)  # foreach off on CPU
head = model.get_output_embeddings()
params = {p.untyped_storage().data_ptr() for p in model.parameters()}
saved = {}

def pack(t):  # identity: counts the storages autograd keeps for backward, weights excluded
    st = t.untyped_storage()
    if st.data_ptr() not in params:
        saved[st.data_ptr()] = st.nbytes()
    return t

for i in range(2):
    with torch.autograd.graph.saved_tensors_hooks(pack if i == 0 else (lambda t: t), lambda t: t):
        with hidden_states(head):
            hid = model(input_ids=x, use_cache=False).logits
    causal_lm_loss(hid, head.weight, x, 1024).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
print(json.dumps({"peak": peak, "forward_saved": sum(saved.values())}))
"""


def measured(shape: ModelShape, seq: int, mb: int, ckpt: bool) -> dict[str, float]:
    """The peak (bytes over the resident size before the model) and the forward's saved bytes."""
    spec = {
        "hidden": shape.hidden, "layers": shape.layers, "heads": shape.heads,
        "kv_heads": shape.kv_heads, "inter": shape.inter, "vocab": shape.vocab,
        "tied": shape.tied, "seq": seq, "mb": mb, "ckpt": ckpt,
    }  # fmt: skip
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(spec)],
        env=env, capture_output=True, text=True, timeout=900, check=True,
    )  # fmt: skip
    return {k: float(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def _check(shape: ModelShape, seq: int, mb: int, ckpt: bool, peak: bool) -> None:
    est = estimate_memory(
        shape, seq_len=seq, micro_batch=mb, strategy="ddp", gpus=1, precision="fp32",
        checkpointing=ckpt, loss_chunk=1024, device="cpu",
    )  # fmt: skip
    got = measured(shape, seq, mb, ckpt)
    saved = forward_saved_bytes(shape, seq * mb, "fp32", ckpt)
    assert abs(saved / got["forward_saved"] - 1) < 0.20, (saved, got)
    if peak:
        assert abs(est.peak / got["peak"] - 1) < 0.20, (est, got)


SMALL = ModelShape(
    "small-llama", hidden=384, layers=8, heads=6, kv_heads=2, inter=1024, vocab=16384, tied=True
)


# By hand on the 2-core machine (MB, measured / estimated): plain 632 / 581 (-8 %), forward saved
# 247 / 261; checkpointed 461 / 420 (-9 %), forward saved 15.7 / 17.3. The peak RSS is not
# stable across runs on a shared machine (plain: 632 and 747 MB; checkpointed: 461, 631 and
# 672 MB, for the same script and the same bytes saved by the forward), so the default test
# asserts the saved bytes, which are exact, and the peak is a slow test run by hand.
@pytest.mark.parametrize("ckpt", [False, True], ids=["plain", "grad-checkpointing"])
def test_memory_model_matches_forward_saved_bytes_small_llama(ckpt: bool) -> None:
    _check(SMALL, seq=256, mb=4, ckpt=ckpt, peak=False)


@pytest.mark.slow
def test_memory_model_matches_measured_peak_small_llama() -> None:
    _check(SMALL, seq=256, mb=4, ckpt=False, peak=True)


@pytest.mark.slow
def test_memory_model_matches_measured_peak_smollm2_135m() -> None:
    # by hand on the 2-core machine: 2.68 GB measured, 2.55 GB estimated (-4.8 %), 4 minutes
    _check(resolve_model("smollm2-135m"), seq=256, mb=2, ckpt=False, peak=True)


class _SavedBytesHook:
    """Counts what one forward of the trainer's own model saves for backward (weights excluded)."""

    every = 0

    def __init__(self) -> None:
        self.saved: int | None = None

    def evaluate(self, model: Any, view: Any) -> list[Any]:
        import torch

        params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            st = t.untyped_storage()
            if st.data_ptr() not in params:
                seen[st.data_ptr()] = st.nbytes()
            return t

        x = torch.arange(4 * 32).reshape(4, 32) % 50
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(input_ids=x, use_cache=False)
        self.saved = sum(seen.values())
        model.train()
        return []

    def on_checkpoint(self, step: int, path: Path) -> None: ...

    def protected_checkpoints(self) -> set[Path]:
        return set()

    def finalize(self, model: Any, view: Any) -> None:
        self.evaluate(model, view)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def test_the_trainer_really_checkpoints(tmp_path: Path) -> None:
    """model.gradient_checkpointing: true must cut what the trainer's model saves in forward to
    the block inputs (same losses alone would not tell a no-op)."""
    from test_train_util import tiny_config

    from cpt.train.config import load_config
    from cpt.train.loop import train

    hook = _SavedBytesHook()
    raw = tiny_config(
        tmp_path, tmp_path / "run", schedule={"max_steps": 1},
        model={"gradient_checkpointing": True}, checkpoint={"every": 0, "keep_last": 1},
    )  # fmt: skip
    train(load_config(data=raw), hook=hook)
    # tiny_config's model: hidden 32, 2 layers, 4 x 32 tokens here. Measured by hand: 83,456 B
    # checkpointed (81,920 estimated), 648,704 B without (671,744 estimated)
    tiny = ModelShape("tiny", hidden=32, layers=2, heads=4, kv_heads=4, inter=64, vocab=256)
    assert hook.saved == pytest.approx(forward_saved_bytes(tiny, 128, "fp32", True), rel=0.2)
