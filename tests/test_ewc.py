"""EWC: the Fisher, the penalty and its gradient against a hand computation on a tiny model; the
Fisher file (reused, refused for another model); the trainer and the monitor's EWC actions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_util import VOCAB, tiny_config

from cpt import ConfigError
from cpt.config import build
from cpt.evaluate.monitor import ForgettingMonitor, MonitorConfig
from cpt.train import ewc as ewc_mod
from cpt.train.config import load_config


def _tiny(seed: int = 0, hidden: int = 16) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=32)  # fmt: skip
    return LlamaForCausalLM(cfg)


def _sequences(n: int, length: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(1, VOCAB, length).astype(np.int64) for _ in range(n)]


def test_fisher_is_the_normalised_mean_of_per_sample_squared_gradients() -> None:
    model = _tiny()
    seqs = _sequences(3)
    fisher, meta = ewc_mod.compute_fisher(model, seqs)
    params = dict(model.named_parameters())
    hand = {n: torch.zeros_like(p) for n, p in params.items()}
    for seq in seqs:  # one sample at a time, gradients by torch.autograd.grad
        ids = torch.from_numpy(seq)[None]
        loss = model(input_ids=ids, labels=ids).loss
        grads = torch.autograd.grad(loss, list(params.values()))
        for n, g in zip(params, grads):
            hand[n] += g**2 / len(seqs)
    mean = sum(float(t.double().sum()) for t in hand.values()) / sum(
        t.numel() for t in hand.values()
    )
    assert set(fisher) == set(params)
    for n in params:
        torch.testing.assert_close(fisher[n], hand[n] / mean, rtol=1e-4, atol=1e-7)
    assert meta["samples"] == "3" and float(meta["normaliser"]) == pytest.approx(mean, rel=1e-5)
    total = sum(float(t.double().sum()) for t in fisher.values())
    assert total / sum(t.numel() for t in fisher.values()) == pytest.approx(1.0, rel=1e-6)
    assert all(p.grad is None for p in model.parameters())  # no gradient left behind


def test_penalty_and_gradient_match_a_hand_computation() -> None:
    model = _tiny()
    params = dict(model.named_parameters())
    gen = torch.Generator().manual_seed(5)
    fisher = {n: torch.rand(p.shape, generator=gen) for n, p in params.items()}
    anchor = {n: p.detach().clone() for n, p in params.items()}
    lam = 0.7
    ewc = ewc_mod.EWC(model, fisher, lam)
    assert float(ewc.penalty()) == 0.0  # at the anchor
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    hand = 0.0  # lambda/2 * sum F (theta - theta*)^2, element by element in float64
    for n, p in params.items():
        d = (p.detach().double() - anchor[n].double()).flatten()
        hand += float((fisher[n].double().flatten() * d * d).sum())
    hand *= lam / 2
    penalty = ewc.penalty()
    assert float(penalty) == pytest.approx(hand, rel=1e-5)

    auto = torch.autograd.grad(penalty, list(params.values()))
    model.zero_grad(set_to_none=True)
    value = ewc.add_gradient()  # what the trainer uses: the exact gradient added in place
    assert value == pytest.approx(hand, rel=1e-5)
    for (n, p), g in zip(params.items(), auto):
        want = lam * fisher[n] * (p.detach() - anchor[n])
        torch.testing.assert_close(p.grad, want, rtol=1e-5, atol=1e-8)
        torch.testing.assert_close(g, want, rtol=1e-5, atol=1e-8)
    # added to a data gradient, not instead of it
    with torch.no_grad():
        for p in model.parameters():
            p.grad.fill_(1.0)
    ewc.add_gradient()
    n0, p0 = next(iter(params.items()))
    torch.testing.assert_close(p0.grad, 1.0 + lam * fisher[n0] * (p0.detach() - anchor[n0]))
    ewc.lam = 0.0
    assert ewc.add_gradient() == 0.0
    assert ewc.memory_bytes() == 2 * sum(p.numel() * 4 for p in model.parameters())


def test_fisher_file_is_reused_and_refused_for_another_model(tmp_path: Path) -> None:
    model = _tiny()
    fisher, meta = ewc_mod.compute_fisher(model, _sequences(2))
    ident = {"model": {"source": "/models/a", "config_hash": "sha256:1"}, "seed": 1}
    expected = ewc_mod.fisher_identity(ident, 2, 12)
    path = tmp_path / "fisher.safetensors"
    ewc_mod.save_fisher(path, fisher, {**meta, **expected})
    shapes = {n: list(p.shape) for n, p in model.named_parameters()}
    loaded = ewc_mod.load_fisher(path, expected, shapes)
    assert all(torch.equal(loaded[n], fisher[n]) for n in fisher)
    other = ewc_mod.fisher_identity(
        {"model": {"source": "/models/b", "config_hash": "sha256:1"}, "seed": 1}, 2, 12
    )
    with pytest.raises(ConfigError, match="'optim.ewc.fisher_path'.*another model.*model_source"):
        ewc_mod.load_fisher(path, other, shapes)
    with pytest.raises(ConfigError, match="samples: file '2', this run '4'"):
        ewc_mod.load_fisher(path, ewc_mod.fisher_identity(ident, 4, 12), shapes)
    smaller = {n: list(p.shape) for n, p in _tiny(hidden=8).named_parameters()}
    with pytest.raises(ConfigError, match="does not fit this model's parameters"):
        ewc_mod.load_fisher(path, expected, smaller)


def test_trainer_with_ewc_logs_penalty_and_memory_and_reuses_the_fisher(tmp_path: Path) -> None:
    from cpt.train.loop import train

    ewc = {"lambda": 50.0, "fisher_samples": 4}
    cfg = load_config(
        data=tiny_config(tmp_path, tmp_path / "run", optim={"ewc": ewc}, logging={"every": 4})
    )
    assert cfg.optim.ewc is not None and cfg.optim.ewc.lambda_ == 50.0
    assert cfg.to_dict()["optim"]["ewc"]["lambda"] == 50.0  # printed under its YAML key
    train(cfg)
    fisher = tmp_path / "run" / "ewc_fisher.safetensors"
    assert fisher.is_file()
    records = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    [event] = [r for r in records if r.get("event") == "ewc"]
    # 2 x fp32 per parameter of the tiny llama (Fisher + anchor)
    n_params = sum(int(np.prod(s)) for s in _param_shapes(tmp_path / "run"))
    assert event["memory_mb_per_rank"] == pytest.approx(8 * n_params / 2**20, abs=1e-3)
    penalties = [r["ewc_penalty"] for r in records if "ewc_penalty" in r]
    assert len(penalties) == 2 and all(p > 0 for p in penalties)

    # another model with that Fisher file: refused before training
    other = tiny_config(tmp_path, tmp_path / "other", optim={"ewc": {**ewc,
                        "fisher_path": str(fisher)}}, run={"seed": 8})  # fmt: skip
    with pytest.raises(ConfigError, match="another model or setting.*seed"):
        train(load_config(data=other))


def _param_shapes(run_dir: Path) -> list[list[int]]:
    from safetensors import safe_open

    with safe_open(str(run_dir / "ewc_fisher.safetensors"), framework="pt") as fh:
        return [list(fh.get_slice(k).get_shape()) for k in fh.keys()]  # noqa: SIM118


def test_ewc_needs_general_data_and_the_action_needs_optim_ewc(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'optim.ewc': the Fisher is computed on general"):
        load_config(data=tiny_config(tmp_path, tmp_path / "r", data={"alpha": 1.0, "general": []},
                                     optim={"ewc": {"lambda": 1.0}}))  # fmt: skip
    monitor = {"monitor": {"actions": {"ewc": {"enabled": True}}}, "heldout": {"general": ["x"]}}
    with pytest.raises(ConfigError, match="'eval.monitor.actions.ewc.enabled': needs an 'optim"):
        load_config(data=tiny_config(tmp_path, tmp_path / "r", eval=monitor))


def test_monitor_enables_then_raises_ewc() -> None:
    ewc = {"enabled": True, "initial": 10.0, "factor": 3.0, "max_lambda": 50.0}
    cfg = build(MonitorConfig, {"cooldown_evals": 0, "actions": {"ewc": ewc}}, "eval.monitor")
    monitor = ForgettingMonitor(cfg, ["ppl/general"])
    hib = {"ppl/general": False}
    lam = 0.0
    kinds = []
    for step, ppl in enumerate([10.0, 11.0, 11.0, 11.0, 11.0]):
        _, actions = monitor.observe(step, {"ppl/general": ppl}, hib, alpha=0.7,
                                     lr_multiplier=1.0, ewc_lambda=lam)  # fmt: skip
        for a in actions:
            kinds.append((a.kind, a.value))
            lam = a.value
    assert kinds == [("enable_ewc", 10.0), ("raise_ewc", 30.0)]  # 90 > max_lambda: no more
