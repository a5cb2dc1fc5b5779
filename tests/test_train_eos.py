"""EOS is decided once, by the engine's manifest; other pre-model checks of data against model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_train_util import tiny_config, write_data

from cpt import ConfigError
from cpt.data.sources import open_source, write_raw_tokens
from cpt.train.config import load_config
from cpt.train.loop import Trainer, train

TEXTS = [
    "Permission is hereby granted, free of charge, to any person obtaining a copy.",
    "THE SOFTWARE IS PROVIDED AS IS, WITHOUT WARRANTY OF ANY KIND.",
    "We the People of the United States, in Order to form a more perfect Union.",
] * 20


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A small cpt token dataset written by the engine with the SmolLM2 tokenizer (EOS 0)."""
    from cpt.curate import tokenize

    tmp = tmp_path_factory.mktemp("eos")
    docs = tmp / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    tokenize([docs], shared_data / "tokenizers" / "smollm2-135m.tokenizer.json", tmp / "ds")
    return tmp / "ds" / "manifest.json"


def _config(tmp: Path, manifest: Path, **sections: Any) -> dict[str, Any]:
    cfg = tiny_config(tmp, tmp / "run", **sections)
    cfg["model"]["init"].update(vocab_size=49152, hidden_size=16, layers=1, intermediate_size=32)
    cfg["data"].pop("eos_id")
    cfg["data"]["domain"] = [{"path": str(manifest), "format": "cpt", "name": "dom"}]
    cfg["data"]["general"] = [{"path": str(manifest.parent), "format": "cpt", "name": "gen"}]
    cfg["schedule"]["max_steps"] = 1
    cfg["checkpoint"]["every"] = 0
    return cfg


def test_the_manifest_decides_eos(tmp_path: Path, manifest: Path, shared_data: Path) -> None:
    assert json.loads(manifest.read_text())["tokenizer"]["eos_id"] == 0
    tok = shared_data / "tokenizers" / "smollm2-135m.tokenizer.json"
    trainer = Trainer(load_config(data=_config(tmp_path, manifest, model={"tokenizer": str(tok)})))
    trainer.run()
    assert trainer.loader.eos_id == 0
    # a bare tokenizer.json names no EOS: it learns the manifest's (saved with the final model)
    assert trainer.tokenizer.eos_token == "<|endoftext|>"
    saved = json.loads((tmp_path / "run" / "final" / "tokenizer_config.json").read_text())
    assert saved["eos_token"] == "<|endoftext|>"


def test_config_eos_that_disagrees_is_refused(tmp_path: Path, manifest: Path) -> None:
    raw = _config(tmp_path, manifest)
    raw["data"]["eos_id"] = 5
    with pytest.raises(ConfigError) as err:
        train(load_config(data=raw))
    msg = str(err.value)
    assert "'data.eos_id': 5 disagrees with eos_id 0 recorded in the manifest" in msg
    assert str(manifest) in msg


def test_tokenizer_eos_that_disagrees_is_refused(
    tmp_path: Path, manifest: Path, shared_data: Path
) -> None:
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(shared_data / "tokenizers" / "smollm2-135m.tokenizer.json"),
        eos_token="<|im_end|>",
    )
    tok.save_pretrained(tmp_path / "tok")
    raw = _config(tmp_path, manifest, model={"tokenizer": str(tmp_path / "tok")})
    with pytest.raises(ConfigError, match=r"tokenizer's EOS id 2 \('<\|im_end\|>'\) disagrees "):
        train(load_config(data=raw))


def test_raw_sources_need_an_eos(tmp_path: Path) -> None:
    raw = tiny_config(tmp_path, tmp_path / "run")
    raw["data"].pop("eos_id")
    with pytest.raises(ConfigError, match="'data.eos_id': not set, no token manifest records one"):
        train(load_config(data=raw))


def test_seq_len_longer_than_a_source_is_refused(tmp_path: Path) -> None:
    raw = tiny_config(tmp_path, tmp_path / "run")
    short = write_raw_tokens(tmp_path / "short.bin", [5, 6, 7, 0] * 5)
    raw["data"]["general"] = [{"path": str(short), "name": "short"}]
    with pytest.raises(ConfigError, match=r"32 is longer than the whole data source 'short'"):
        train(load_config(data=raw))


def test_seq_len_above_a_base_models_positions_is_refused_before_weights(tmp_path: Path) -> None:
    from transformers import LlamaConfig

    base = tmp_path / "base"  # config.json only: loading weights would fail differently
    LlamaConfig(vocab_size=256, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=16).save_pretrained(base)  # fmt: skip
    raw = tiny_config(tmp_path, tmp_path / "run")
    raw["model"] = {"path": str(base)}
    with pytest.raises(ConfigError, match="32 is longer than the model's max_position_embeddings"):
        train(load_config(data=raw))


def test_init_extra_keys_are_checked(tmp_path: Path) -> None:
    raw = tiny_config(tmp_path, tmp_path / "run", schedule={"max_steps": 1})
    raw["model"]["init"]["extra"] = {"rope_thetaa": 1e4}
    with pytest.raises(ConfigError, match="'model.init.extra.rope_thetaa': not a key of the llama"):
        train(load_config(data=raw))
    raw["model"]["init"]["extra"] = {"num_hidden_layers": 3}
    with pytest.raises(ConfigError, match="'model.init.extra.num_hidden_layers': set 'model.init"):
        train(load_config(data=raw))


def test_a_manifest_is_not_read_as_raw_tokens(tmp_path: Path, manifest: Path) -> None:
    with pytest.raises(ConfigError, match="a .json file .* cannot be read as raw tokens"):
        open_source(manifest, "raw")
    write_data(tmp_path)
    assert open_source(tmp_path / "dom.bin").eos_id is None  # auto: a .bin is raw
    assert open_source(manifest.parent).eos_id == 0  # a dataset directory is its manifest
