"""DoReMi: the weight update by hand, and a toy where weight must move to the hard source."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from cpt.data.sources import RawTokenSource, write_raw_tokens
from cpt.mixture import DoReMiConfig, doremi, update_weights

V = 256


def test_exponentiated_gradient_step_and_smoothing() -> None:
    # alpha (1/2, 1/2), excess (1, 0), eta 1: (e, 1) / (e + 1), then 0.999 x that + 0.001 / 2
    got = update_weights(np.array([0.5, 0.5]), np.array([1.0, 0.0]), 1.0, 1e-3)
    e = math.e
    assert got == pytest.approx([0.999 * e / (e + 1) + 0.0005, 0.999 / (e + 1) + 0.0005])
    assert got.sum() == pytest.approx(1.0)
    # huge excess losses do not overflow; smoothing keeps every weight above c / k
    big = update_weights(np.array([0.2, 0.8]), np.array([1e4, 0.0]), 1.0, 1e-3)
    assert big[1] == pytest.approx(0.0005) and np.isfinite(big).all()


def _toy_sources(tmp: Path) -> list[RawTokenSource]:
    """easy: a period-4 pattern; hard but learnable: a random permutation bigram over 256 ids."""
    rng = np.random.default_rng(0)
    n = 20_000
    easy = np.tile(np.array([1, 2, 3, 4]), n // 4)
    perm = rng.permutation(V)
    hard = np.empty(n, dtype=np.int64)
    hard[0] = 5
    for i in range(1, n):  # a fresh random start every 97 tokens, like document boundaries
        hard[i] = perm[hard[i - 1]] if i % 97 else rng.integers(V)
    out = []
    for name, arr in (("easy", easy), ("hard", hard)):
        write_raw_tokens(tmp / f"{name}.bin", arr)
        out.append(RawTokenSource(tmp / f"{name}.bin", name=name))
    return out


INIT = {"arch": "llama", "hidden_size": 32, "layers": 1, "heads": 2, "kv_heads": 1,
        "intermediate_size": 64, "vocab_size": V, "max_position": 64,
        "tie_word_embeddings": True}  # fmt: skip


def test_doremi_moves_weight_to_the_hard_source(tmp_path: Path) -> None:
    from cpt.mixture.__main__ import proxy_model_config
    from cpt.train.model import build_model

    sources = _toy_sources(tmp_path)
    cfg = DoReMiConfig(reference_steps=60, proxy_steps=40, seq_len=32, per_source=4, lr=1e-2,
                       threads=1)  # fmt: skip
    result = doremi(lambda: build_model(proxy_model_config(INIT)), sources, cfg, log=lambda _: None)
    easy, hard = result.weights
    assert sum(result.weights) == pytest.approx(1.0)
    assert hard > 0.7 > easy, result.as_dict()
    # the reference learned both; the easy one better (that is why its excess loss is small)
    assert result.reference_loss[0] < result.reference_loss[1] < math.log(V)
    assert len(result.history) == 40 and result.constants == {"eta": 1.0, "smoothing": 1e-3}


def test_cli_writes_weights_and_a_recipe_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cpt.mixture.__main__ import main
    from cpt.train.config import load_config

    _toy_sources(tmp_path)
    base = {
        "model": {"init": INIT},
        "data": {
            "domain": [{"path": str(tmp_path / "easy.bin"), "name": "easy"},
                       {"path": str(tmp_path / "hard.bin"), "name": "hard"}],
            "alpha": 1.0, "seq_len": 32, "micro_batch_size": 2, "eos_id": 0,
        },
        "schedule": {"max_steps": 10},
    }  # fmt: skip
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    out = tmp_path / "mix"
    argv = ["--config", str(tmp_path / "base.yaml"), "--out", str(out), "--reference-steps",
            "60", "--proxy-steps", "40", "--lr", "0.01", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    weights = json.loads((out / "weights.json").read_text())["weights"]
    cfg = load_config(out / "recipe.yaml")
    assert [s.weight for s in cfg.data.domain] == pytest.approx(
        [weights["easy"], weights["hard"]], rel=1e-5
    )
    assert weights["hard"] > weights["easy"]
    # bad input: one source is not a mixture
    base["data"]["domain"] = base["data"]["domain"][:1]
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(base))
    assert main(["--config", str(tmp_path / "one.yaml"), "--out", str(out)]) == 2
    # bad input: a proxy key that is not a model.init key (checked before anything trains)
    bad = ["--config", str(tmp_path / "base.yaml"), "--out", str(tmp_path / "bad"),
           "--proxy-init", '{"hiden_size": 16}']  # fmt: skip
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "'--proxy-init.hiden_size'" in err and "did you mean 'hidden_size'" in err
    assert not (tmp_path / "bad").exists()


def test_pretrained_base_model_as_reference(tmp_path: Path) -> None:
    from cpt.mixture.__main__ import main, proxy_model_config
    from cpt.train.model import build_model

    _toy_sources(tmp_path)
    build_model(proxy_model_config(INIT)).save_pretrained(tmp_path / "base")
    data = {
        "domain": [{"path": str(tmp_path / "easy.bin"), "name": "easy"},
                   {"path": str(tmp_path / "hard.bin"), "name": "hard"}],
        "alpha": 1.0, "seq_len": 32, "micro_batch_size": 2, "eos_id": 0,
    }  # fmt: skip
    recipe = {"model": {"path": str(tmp_path / "base")}, "data": data,
              "schedule": {"max_steps": 10}}  # fmt: skip
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "mix"
    argv = ["--config", str(tmp_path / "base.yaml"), "--out", str(out), "--reference", "base",
            "--proxy-steps", "5", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((out / "weights.json").read_text())
    assert record["reference"] == "base" and record["steps"] == 5
    assert record["proxy_init"]["vocab_size"] == V  # read from the base model's config.json
    assert record["reference_loss_end"] == {}  # no reference was trained
    recipe["model"] = {"init": INIT}
    (tmp_path / "init.yaml").write_text(yaml.safe_dump(recipe))
    argv[1] = str(tmp_path / "init.yaml")
    assert main(argv) == 2  # --reference base needs model.path


def test_license_families() -> None:
    from cpt.mixture.licenses import family

    cases = {
        "license-gpl-2.0-plus": "gpl", "license-lgpl-2.1": "gpl",
        "license-mpl-2.0": "weak-copyleft",
        "license-apache-2.0": "apache", "license-bsd-new": "bsd", "license-mit": "mit",
        "license-mit-0": "mit", "license-cc-by-4.0": "creative-commons",
        "license-adobe-eula": "proprietary", "license-zlib": "other", "license-smit": "other",
    }  # fmt: skip
    assert {k: family(k) for k in cases} == cases
