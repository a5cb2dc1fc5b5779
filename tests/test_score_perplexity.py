"""Reference-model perplexity over a finished curation run: a tiny Llama (built from a config,
with the SmolLM2 tokenizer of shared/data) trained a few steps on natural text scores garbage
and word-shuffled text higher than natural text; the scores land in the run's attribute files,
aligned with the kept shards, merged with attributes already there; a misaligned file is an
error naming it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import zstandard

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from cpt.curate import run, score_perplexity  # noqa: E402
from cpt.score import AttributesError, read_attributes  # noqa: E402
from cpt.score.__main__ import main as score_main  # noqa: E402


def _natural(shared_data: Path, n: int) -> list[str]:
    raw = zstandard.decompress(
        (shared_data / "general/sotu-train.jsonl.zst").read_bytes(), max_output_size=1 << 30
    )
    words = json.loads(raw.splitlines()[100])["text"].split()
    return [" ".join(words[i * 40 : (i + 1) * 40]) for i in range(n)]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, shared_data: Path) -> tuple[Path, list[str]]:
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(shared_data / "tokenizers/smollm2-135m.tokenizer.json"),
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
    )
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    model = LlamaForCausalLM(cfg)
    texts = _natural(shared_data, 8)
    batch = [[tok.bos_token_id, *tok(t, add_special_tokens=False)["input_ids"][:63]] for t in texts]
    width = min(len(b) for b in batch)
    ids = torch.tensor([b[:width] for b in batch])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out, texts


def _run(tmp_path: Path, texts: list[str]) -> tuple[Path, dict[str, str]]:
    rng = random.Random(1)
    docs = {}
    for i, t in enumerate(texts):
        docs[f"natural-{i}"] = t
        words = t.split()
        rng.shuffle(words)
        docs[f"shuffled-{i}"] = " ".join(words)
        docs[f"garbage-{i}"] = " ".join(
            "".join(rng.choice("qxzjkvwy0123456789") for _ in range(rng.randint(3, 9)))
            for _ in range(40)
        )
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs.items()))
    out = tmp_path / "curated"
    run(
        src,
        out,
        quiet=True,
        filters={
            "length": {"enabled": False},
            "repetition": {"enabled": False},
            "quality": {"enabled": False},
        },
        minhash={"enabled": False},
        pii={"enabled": False},
    )
    return out, docs


def _kept_ids(out: Path) -> dict[str, list[str]]:
    res = {}
    for p in sorted((out / "kept").glob("*.jsonl.zst")):
        raw = zstandard.decompress(p.read_bytes(), max_output_size=1 << 30)
        res[p.name] = [json.loads(line)["id"] for line in raw.splitlines() if line.strip()]
    return res


def test_garbage_and_shuffled_text_score_higher_and_files_align(tiny_lm, tmp_path: Path):
    model_dir, texts = tiny_lm
    out, docs = _run(tmp_path, texts)
    kept = _kept_ids(out)
    assert sum(len(v) for v in kept.values()) == len(docs)
    # An attribute file the run (or another scorer) wrote already: its names are kept.
    name0 = next(iter(kept))
    (out / "attributes").mkdir(exist_ok=True)
    body = "".join(
        json.dumps({"id": i, "attributes": {"lang": "en", "n": k}}) + "\n"
        for k, i in enumerate(kept[name0])
    )
    (out / "attributes" / name0).write_bytes(zstandard.compress(body.encode()))

    summary = score_perplexity(
        model_dir, out, batch_size=5, max_tokens=48, device="cpu", progress=False
    )
    assert summary["docs"] == summary["scored"] == len(docs)
    ppl = {}
    for name, ids in kept.items():
        recs = read_attributes(out / "attributes" / name)
        assert [r[0] for r in recs] == ids
        for doc_id, attrs in recs:
            ppl[doc_id] = attrs["ref_ppl"]
            if name == name0:
                assert attrs["lang"] == "en" and isinstance(attrs["n"], int)
    nat = [ppl[f"natural-{i}"] for i in range(len(texts))]
    shuf = [ppl[f"shuffled-{i}"] for i in range(len(texts))]
    garb = [ppl[f"garbage-{i}"] for i in range(len(texts))]
    assert max(nat) < min(garb), (nat, garb)
    assert sum(nat) / len(nat) < sum(shuf) / len(shuf), (nat, shuf)
    # Batch size and order do not change a score beyond float noise.
    again = score_perplexity(
        model_dir,
        out,
        name="ref_ppl_b1",
        batch_size=1,
        max_tokens=48,
        device="cpu",
        progress=False,
    )
    assert again["scored"] == len(docs)
    for name in kept:
        for _, attrs in read_attributes(out / "attributes" / name):
            assert attrs["ref_ppl_b1"] == pytest.approx(attrs["ref_ppl"], rel=1e-3)


def test_misaligned_attribute_file_is_an_error_naming_it(tiny_lm, tmp_path: Path, capsys):
    model_dir, texts = tiny_lm
    out, _ = _run(tmp_path, texts[:2])
    name0 = next(iter(_kept_ids(out)))
    (out / "attributes").mkdir(exist_ok=True)
    bad = out / "attributes" / name0
    bad.write_bytes(zstandard.compress(b'{"id": "other", "attributes": {}}\n'))
    with pytest.raises(AttributesError, match=name0):
        score_perplexity(model_dir, out, device="cpu", progress=False)
    assert (
        score_main(["perplexity", "--model", str(model_dir), "--input", str(out), "--quiet"]) == 1
    )
    assert name0 in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="config.json"):
        score_perplexity(tmp_path, out, progress=False)
