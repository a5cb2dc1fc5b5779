"""Resizing a model to an extended tokenizer: tiny Llama models built from a config (tied and
untied heads) get new rows initialised as asked, keep their trained rows, load back with the
extended tokenizer, and mismatched models or tokenizers are refused with a clear error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer

from cpt.tokenizer import ResizeError, extend, resize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SMOLLM2 = DATA / "tokenizers" / "smollm2-135m.tokenizer.json"
LICENSES = DATA / "domain" / "licenses-heldout.jsonl.zst"
NEW = 40
BASE = 49152


def _tiny(path: Path, tied: bool, vocab: int = BASE) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        tie_word_embeddings=tied,
    )
    LlamaForCausalLM(cfg).save_pretrained(path, safe_serialization=True)
    shutil.copyfile(SMOLLM2, path / "tokenizer.json")
    return path


@pytest.fixture(scope="module")
def ext_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import zstandard

    assert LICENSES.is_file(), f"shared data missing: {LICENSES}"
    d = tmp_path_factory.mktemp("ext")
    with LICENSES.open("rb") as f:
        lines = zstandard.ZstdDecompressor().stream_reader(f).read().decode().split("\n")
    (d / "c.jsonl").write_text("\n".join(lines[:80]) + "\n")
    extend(SMOLLM2, d / "c.jsonl", d / "out", NEW, threads=1)
    return d / "out"


def _weights(path: Path) -> tuple[torch.Tensor, torch.Tensor, bool]:
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(path)
    emb, head = m.get_input_embeddings().weight, m.get_output_embeddings().weight
    return emb.detach().clone(), head.detach().clone(), emb.data_ptr() == head.data_ptr()


def _pieces(ext_dir: Path) -> dict[int, list[int]]:
    base = Tokenizer.from_file(str(SMOLLM2))
    ext = Tokenizer.from_file(str(ext_dir / "tokenizer.json"))
    return {
        i: [t.id for t in base.model.tokenize(ext.id_to_token(i))] for i in range(BASE, BASE + NEW)
    }


@pytest.mark.parametrize("tied", [False, True])
def test_subtoken_init_is_the_mean_of_the_pieces(tmp_path: Path, ext_dir: Path, tied: bool):
    model = _tiny(tmp_path / "m", tied)
    emb0, head0, _ = _weights(model)
    report = resize(model, ext_dir, tmp_path / "out")
    assert report["tied_embeddings"] is tied and report["new_tokens"] == NEW
    assert report["rows_after"] == BASE + NEW and report["padding_rows"] == 0
    emb, head, is_tied = _weights(tmp_path / "out")
    assert is_tied is tied and emb.shape == (BASE + NEW, 16)
    assert torch.equal(emb[:BASE], emb0) and torch.equal(head[:BASE], head0)
    pieces = _pieces(ext_dir)
    assert all(len(p) >= 2 for p in pieces.values())
    for i, p in pieces.items():
        torch.testing.assert_close(emb[i], emb0[p].mean(0))
        torch.testing.assert_close(head[i], head0[p].mean(0))
    # Two different new tokens get different rows (their pieces differ).
    assert not torch.equal(emb[BASE], emb[BASE + 1])


def test_mean_random_and_padding(tmp_path: Path, ext_dir: Path) -> None:
    model = _tiny(tmp_path / "m", tied=False)
    emb0, head0, _ = _weights(model)
    resize(model, ext_dir, tmp_path / "mean", init="mean", pad_to_multiple_of=64)
    emb, head, _ = _weights(tmp_path / "mean")
    assert emb.shape[0] % 64 == 0 and emb.shape[0] >= BASE + NEW and head.shape == emb.shape
    for i in range(BASE, emb.shape[0]):  # new rows and padding rows alike
        torch.testing.assert_close(emb[i], emb0.mean(0))
        torch.testing.assert_close(head[i], head0.mean(0))
    r1 = resize(model, ext_dir, tmp_path / "r1", init="random", seed=3)
    resize(model, ext_dir, tmp_path / "r2", init="random", seed=3)
    a, ah, _ = _weights(tmp_path / "r1")
    b, _, _ = _weights(tmp_path / "r2")
    assert r1["init"] == "random" and torch.equal(a, b) and torch.equal(a[:BASE], emb0)
    new = a[BASE:]
    assert 0.01 < new.std().item() < 0.04  # N(0, initializer_range = 0.02)
    assert not torch.equal(new, ah[BASE:])  # the head draws its own rows


def test_output_loads_and_runs_with_the_extended_tokenizer(tmp_path: Path, ext_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = _tiny(tmp_path / "m", tied=True)
    cmd = [sys.executable, "-m", "cpt.tokenizer", "resize", "--model", str(model)]
    done = subprocess.run(
        [*cmd, "--tokenizer", str(ext_dir), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows_after"] == BASE + NEW
    assert (tmp_path / "o" / "model.safetensors").is_file()
    report = json.loads((tmp_path / "o" / "resize_report.json").read_text())
    assert report["init"] == "subtoken"
    tok = AutoTokenizer.from_pretrained(tmp_path / "o")
    m = AutoModelForCausalLM.from_pretrained(tmp_path / "o")
    text = Tokenizer.from_file(str(ext_dir / "tokenizer.json")).decode([BASE, BASE + 1])
    ids = tok(text, return_tensors="pt")["input_ids"]
    assert ids.max().item() >= BASE
    assert m(input_ids=ids).logits.shape[-1] == BASE + NEW
    assert m.config.vocab_size == BASE + NEW


def test_mismatched_models_and_tokenizers_are_refused(tmp_path: Path, ext_dir: Path) -> None:
    small = _tiny(tmp_path / "small", tied=True, vocab=1000)
    with pytest.raises(ResizeError, match="does not match the tokenizer"):
        resize(small, ext_dir, tmp_path / "o")
    model = _tiny(tmp_path / "m", tied=True)
    # A "extension" in which an old token changed its id is not an extension.
    moved = json.loads((ext_dir / "tokenizer.json").read_text())
    vocab = moved["model"]["vocab"]
    vocab["Ġthe"], vocab["Ġa"] = vocab["Ġa"], vocab["Ġthe"]
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    with pytest.raises(ResizeError, match="not an extension"):
        resize(model, tmp_path / "moved.json", tmp_path / "o")
    (model / "tokenizer.json").unlink()
    with pytest.raises(ResizeError, match="no tokenizer.json"):
        resize(model, ext_dir, tmp_path / "o")
    with pytest.raises(ResizeError, match="init must be"):
        resize(model, ext_dir, tmp_path / "o", init="zeros", base_tokenizer=SMOLLM2)
    assert not (tmp_path / "o").exists()


def test_bits_per_byte_scores_every_token_once(tmp_path: Path) -> None:
    import math

    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    from cpt.tokenizer.bpb import bits_per_byte

    model = AutoModelForCausalLM.from_pretrained(_tiny(tmp_path / "m", tied=True))
    tok = Tokenizer.from_file(str(SMOLLM2))
    texts = ["The licensee shall not sublicense.", "Ünïcode — text, twice " * 5]
    whole = bits_per_byte(model, tok, texts, context_id=0, seq_len=1024)
    expected, count = 0.0, 0
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([[0, *tok.encode(t, add_special_tokens=False).ids]])
            logits = model(input_ids=ids).logits[0, :-1]
            expected += F.cross_entropy(logits, ids[0, 1:], reduction="sum").item()
            count += ids.shape[1] - 1
    assert whole.tokens == count and whole.bytes == sum(len(t.encode()) for t in texts)
    assert math.isclose(whole.nll_nats, expected, rel_tol=1e-5)
    assert math.isclose(whole.bits_per_byte, expected / math.log(2) / whole.bytes)
    # Short windows (each starting at the previous one's last token) predict every token once.
    short = bits_per_byte(model, tok, texts, context_id=0, seq_len=4)
    assert short.tokens == count
