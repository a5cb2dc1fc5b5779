"""The tokenize stage end to end: shards read back (Python reader and Rust reader) equal
``tokenizers`` encodings plus EOS, for tokenizers trained here; determinism across thread
counts; resume; Megatron export; bad input."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import zstandard
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

import cpt
from cpt import _engine
from cpt.data.shards import ShardFormatError, TokenDataset, TokenizerMismatchError
from cpt.tokenize import export_megatron, tokenize, tokenizer_hash


def read_jsonl_zst(path: Path) -> list[str]:
    with open(path, "rb") as f:
        data = zstandard.ZstdDecompressor().stream_reader(f).read()
    return [json.loads(line)["text"] for line in data.decode().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def texts(request: pytest.FixtureRequest) -> list[str]:
    shared = request.getfixturevalue("shared_data")
    docs = read_jsonl_zst(shared / "domain" / "licenses-heldout.jsonl.zst")[:120]
    # Edge cases: empty, whitespace only, non-ASCII, a literal special-token string.
    return docs + ["", "   \n", "Größe — naïve café 東京 🙂", "ends with <|endoftext|>"]


def write_jsonl(path: Path, texts: list[str], compress: str = "zst") -> Path:
    lines = "".join(
        json.dumps({"id": i, "text": t, "meta": {"k": [i]}}) + "\n" for i, t in enumerate(texts)
    ).encode()
    if compress == "zst":
        path.write_bytes(zstandard.ZstdCompressor().compress(lines))
    elif compress == "gz":
        path.write_bytes(gzip.compress(lines))
    else:
        path.write_bytes(lines)
    return path


@pytest.fixture(scope="module")
def bpe_tokenizer(tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> Path:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    tok.save(str(path))
    return path


@pytest.fixture(scope="module")
def unigram_tokenizer(tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> Path:
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=400, special_tokens=["<s>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tok.train_from_iterator(texts, trainer)
    # The post-processor adds BOS: the shards must keep it.
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    path = tmp_path_factory.mktemp("unigram") / "tokenizer.json"
    tok.save(str(path))
    return path


@pytest.fixture(scope="module")
def wide_tokenizer(tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> Path:
    """A WordLevel tokenizer with over 65,536 ids, the real words placed above 65,536."""
    words = sorted(
        {w for t in texts for w in pre_tokenizers.Whitespace().pre_tokenize_str(t) for w in [w[0]]}
    )
    vocab = {f"<filler{i}>": i for i in range(70_000)}
    vocab["[UNK]"] = 70_000
    vocab["</s>"] = 70_001
    for i, w in enumerate(words):
        vocab[w] = 70_002 + i
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path_factory.mktemp("wide") / "tokenizer.json"
    tok.save(str(path))
    return path


def expected_docs(tokenizer: Path, texts: list[str], eos: str) -> list[list[int]]:
    tok = Tokenizer.from_file(str(tokenizer))
    eos_id = tok.token_to_id(eos)
    return [tok.encode(t).ids + [eos_id] for t in texts]


def check_roundtrip(out: Path, expected: list[list[int]], dtype: str) -> TokenDataset:
    ds = TokenDataset(out / "manifest.json")
    assert ds.dtype == np.dtype(dtype)
    assert ds.num_docs == len(expected)
    assert ds.num_tokens == sum(map(len, expected))
    got = [d.tolist() for d in ds.iter_documents()]
    assert got == expected
    assert [ds.document(i).tolist() for i in (0, len(expected) // 2, len(expected) - 1)] == [
        expected[0],
        expected[len(expected) // 2],
        expected[-1],
    ]
    flat = [t for d in expected for t in d]
    assert ds.read(0, ds.num_tokens).tolist() == flat
    # The Rust reader agrees.
    assert _engine.read_tokens(str(out / "manifest.json"), 0, ds.num_tokens) == flat
    ds.verify()
    return ds


def test_bpe_roundtrip_many_shards_and_frames(
    tmp_path: Path, texts: list[str], bpe_tokenizer: Path
) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts)
    out = tmp_path / "out"
    report = tokenize(src, bpe_tokenizer, out, shard_tokens=20_000, frame_tokens=1000)
    ds = check_roundtrip(out, expected_docs(bpe_tokenizer, texts, "<|endoftext|>"), "<u2")
    assert report["shards"] == len(ds.shards) > 2
    assert max(s.num_frames for s in ds.shards) > 5
    assert report["docs"] == len(texts)
    assert ds.tokenizer_hash == tokenizer_hash(bpe_tokenizer) == report["tokenizer_hash"]
    m = ds.manifest
    assert m["tokenizer"]["eos_token"] == "<|endoftext|>" and m["tokenizer"]["bos_id"] is None
    assert m["totals"]["tokens"] == ds.num_tokens
    assert m["inputs"] == [{"path": str(src), "bytes": src.stat().st_size}]


def test_unigram_roundtrip_keeps_bos(
    tmp_path: Path, texts: list[str], unigram_tokenizer: Path
) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl", texts, compress="none")
    out = tmp_path / "out"
    tokenize([src], unigram_tokenizer, out, frame_tokens=777, eos_token="</s>")
    ds = check_roundtrip(out, expected_docs(unigram_tokenizer, texts, "</s>"), "<u2")
    tok = Tokenizer.from_file(str(unigram_tokenizer))
    assert ds.bos_id == tok.token_to_id("<s>")
    assert ds.document(0)[0] == ds.bos_id


def test_unigram_eos_found_without_flag(
    tmp_path: Path, texts: list[str], unigram_tokenizer: Path
) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.gz", texts[:10], compress="gz")
    report = tokenize(src, unigram_tokenizer, tmp_path / "out")
    assert report["eos_id"] == Tokenizer.from_file(str(unigram_tokenizer)).token_to_id("</s>")


def test_u32_roundtrip(tmp_path: Path, texts: list[str], wide_tokenizer: Path) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts)
    out = tmp_path / "out"
    tokenize(src, wide_tokenizer, out, frame_tokens=500, shard_tokens=10_000)
    expected = expected_docs(wide_tokenizer, texts, "</s>")
    assert max(max(d) for d in expected) > 65_536
    check_roundtrip(out, expected, "<u4")


def test_random_seeks(tmp_path: Path, texts: list[str], bpe_tokenizer: Path) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts)
    out = tmp_path / "out"
    tokenize(src, bpe_tokenizer, out, shard_tokens=15_000, frame_tokens=333)
    flat = np.array([t for d in expected_docs(bpe_tokenizer, texts, "<|endoftext|>") for t in d])
    ds = TokenDataset(out / "manifest.json", cache_frames=2)
    rng = np.random.default_rng(0)
    for _ in range(300):
        start = int(rng.integers(0, len(flat)))
        count = int(rng.integers(0, min(5000, len(flat) - start) + 1))
        assert np.array_equal(ds.read(start, count), flat[start : start + count])
    for start, count in [(0, 1), (len(flat) - 1, 1), (len(flat), 0), (5, 0)]:
        assert np.array_equal(ds.read(start, count), flat[start : start + count])
    with pytest.raises(IndexError):
        ds.read(len(flat) - 2, 3)


def test_flipped_byte_names_frame(tmp_path: Path, texts: list[str], bpe_tokenizer: Path) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts)
    out = tmp_path / "out"
    tokenize(src, bpe_tokenizer, out, frame_tokens=1000)
    shard = out / "shard-00000.cpts"
    # Frame 3's byte offset from the frame index (FORMAT.md section 2).
    head = shard.read_bytes()[:64]
    index_offset = struct.unpack_from("<Q", head, 40)[0]
    data = bytearray(shard.read_bytes())
    frame3_offset = struct.unpack_from("<Q", data, index_offset + 3 * 32)[0]
    data[frame3_offset + 10] ^= 0x01
    shard.write_bytes(bytes(data))
    ds = TokenDataset(out / "manifest.json")
    ds.read(0, 100)  # frame 0 is intact
    with pytest.raises(ShardFormatError, match=r"shard-00000\.cpts: frame 3: checksum mismatch"):
        ds.read(3 * 1000, 10)
    with pytest.raises(cpt.ShardError, match=r"shard-00000\.cpts.*frame 3: checksum mismatch"):
        _engine.read_tokens(str(out / "manifest.json"), 0, ds.num_tokens)


def test_truncated_shard_errors(tmp_path: Path, texts: list[str], bpe_tokenizer: Path) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts)
    out = tmp_path / "out"
    tokenize(src, bpe_tokenizer, out, frame_tokens=1000)
    shard = out / "shard-00000.cpts"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ShardFormatError, match=r"shard-00000\.cpts: truncated"):
        TokenDataset(out / "manifest.json")
    with pytest.raises(cpt.ShardError, match=r"shard-00000\.cpts: truncated"):
        _engine.read_tokens(str(out / "manifest.json"), 0, 1)
    shard.write_bytes(b"CPTSH")
    with pytest.raises(ShardFormatError, match="shorter than the 64-byte header"):
        TokenDataset(out / "manifest.json")


def test_tokenizer_mismatch_refused(
    tmp_path: Path, texts: list[str], bpe_tokenizer: Path, unigram_tokenizer: Path
) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts[:5])
    out = tmp_path / "out"
    tokenize(src, bpe_tokenizer, out)
    manifest = out / "manifest.json"
    TokenDataset(manifest, expected_tokenizer_hash=tokenizer_hash(bpe_tokenizer))
    other = tokenizer_hash(unigram_tokenizer)
    with pytest.raises(TokenizerMismatchError) as e:
        TokenDataset(manifest, expected_tokenizer_hash=other)
    msg = str(e.value)
    assert other in msg and tokenizer_hash(bpe_tokenizer) in msg and str(manifest) in msg
    assert isinstance(e.value, ValueError)
    with pytest.raises(cpt.TokenizerError, match=other):
        _engine.read_tokens(str(manifest), 0, 1, expected_tokenizer_hash=other)


def read_megatron(prefix: Path) -> list[np.ndarray]:
    """An independent reader of Megatron-LM's MMapIndexedDataset (.idx/.bin) layout."""
    idx = (prefix.parent / (prefix.name + ".idx")).read_bytes()
    buf = io.BytesIO(idx)
    assert buf.read(9) == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack("<Q", buf.read(8))
    assert version == 1
    (code,) = struct.unpack("<B", buf.read(1))
    dtype = {
        1: np.uint8,
        2: np.int8,
        3: np.int16,
        4: np.int32,
        5: np.int64,
        6: np.float64,
        7: np.float32,
        8: np.uint16,
    }[code]
    (n,) = struct.unpack("<Q", buf.read(8))
    (ndoc,) = struct.unpack("<Q", buf.read(8))
    off = buf.tell()
    sizes = np.frombuffer(idx, dtype=np.int32, count=n, offset=off)
    pointers = np.frombuffer(idx, dtype=np.int64, count=n, offset=off + 4 * n)
    doc_idx = np.frombuffer(idx, dtype=np.int64, count=ndoc, offset=off + 12 * n)
    assert off + 12 * n + 8 * ndoc == len(idx)
    assert doc_idx.tolist() == list(range(n + 1))
    bin_ = np.memmap(prefix.parent / (prefix.name + ".bin"), dtype=dtype, mode="r")
    size = np.dtype(dtype).itemsize
    return [np.asarray(bin_[p // size : p // size + s]) for p, s in zip(pointers, sizes)]


@pytest.mark.parametrize("wide", [False, True])
def test_megatron_export(
    tmp_path: Path, texts: list[str], bpe_tokenizer: Path, wide_tokenizer: Path, wide: bool
) -> None:
    tok_path, eos = (wide_tokenizer, "</s>") if wide else (bpe_tokenizer, "<|endoftext|>")
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts)
    out = tmp_path / "out"
    report = tokenize(src, tok_path, out, shard_tokens=20_000, megatron=out / "mega")
    assert report["megatron"] == [str(out / "mega.bin"), str(out / "mega.idx")]
    expected = expected_docs(tok_path, texts, eos)
    assert [d.tolist() for d in read_megatron(out / "mega")] == expected
    # The standalone export gives the same bytes.
    export_megatron(out / "manifest.json", tmp_path / "again")
    assert (tmp_path / "again.idx").read_bytes() == (out / "mega.idx").read_bytes()
    assert (tmp_path / "again.bin").read_bytes() == (out / "mega.bin").read_bytes()


def dir_bytes(d: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(d.iterdir())
        if p.name.startswith("shard-") or p.name == "manifest.json"
    }


def test_byte_identical_for_1_and_2_threads(
    tmp_path: Path, texts: list[str], bpe_tokenizer: Path
) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts)
    outs = []
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        # Small batches so that several batches and shards are cut differently per thread.
        _engine.tokenize(
            [str(src)],
            str(bpe_tokenizer),
            str(out),
            threads=threads,
            shard_tokens=25_000,
            frame_tokens=1000,
            batch_bytes=20_000,
        )
        outs.append(dir_bytes(out))
    assert len(outs[0]) > 3
    assert outs[0] == outs[1]


def test_resume_skips_complete_shards_and_redoes_damaged(
    tmp_path: Path, texts: list[str], bpe_tokenizer: Path
) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts)
    out = tmp_path / "out"
    opts = dict(shard_tokens=20_000, frame_tokens=1000)
    first = tokenize(src, bpe_tokenizer, out, **opts)
    reference = dir_bytes(out)
    n = first["shards"]
    assert n >= 4 and first["resumed_shards"] == 0
    # A crash after shard 2 was written: later shards and the manifest are missing.
    (out / "manifest.json").unlink()
    for i in range(3, n):
        (out / f"shard-{i:05d}.cpts").unlink()
    again = tokenize(src, bpe_tokenizer, out, **opts)
    assert again["resumed_shards"] == 3
    assert dir_bytes(out) == reference
    assert again["chars_per_token"] == first["chars_per_token"]
    # A damaged shard 1: shards from 1 on are redone.
    data = bytearray((out / "shard-00001.cpts").read_bytes())
    data[100] ^= 0xFF
    (out / "shard-00001.cpts").write_bytes(bytes(data))
    third = tokenize(src, bpe_tokenizer, out, **opts)
    assert third["resumed_shards"] == 1
    assert dir_bytes(out) == reference
    # Other options: a fresh job, fewer shards, no stale shard files left over.
    tokenize(src, bpe_tokenizer, out, shard_tokens=10**9, frame_tokens=1000)
    assert [p.name for p in sorted(out.glob("shard-*"))] == ["shard-00000.cpts"]


def test_report_statistics(tmp_path: Path, texts: list[str], bpe_tokenizer: Path) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl.zst", texts)
    out = tmp_path / "out"
    report = tokenize(src, bpe_tokenizer, out, top_words=5)
    assert json.loads((out / "tokenize_report.json").read_text())["tokens"] == report["tokens"]
    chars = sum(len(t) for t in texts)
    assert report["chars"] == chars
    assert report["content_tokens"] == report["tokens"] - len(texts)
    assert report["chars_per_token"] == pytest.approx(chars / report["content_tokens"])
    assert 1.0 < report["tokens_per_word"] < 5.0
    words = report["fragmented_words"]
    assert 0 < len(words) <= 5
    tok = Tokenizer.from_file(str(bpe_tokenizer))
    for w in words:
        assert w["pieces"] == len(tok.encode(" " + w["word"], add_special_tokens=False).ids) > 1
    scores = [w["count"] * w["pieces"] for w in words]
    assert scores == sorted(scores, reverse=True)


def test_malformed_line_names_file_and_line(tmp_path: Path, bpe_tokenizer: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"text": "ok"}\n\n{"text": "ok"\n')
    with pytest.raises(cpt.InputError, match=r"bad\.jsonl:3: bad JSON"):
        tokenize(src, bpe_tokenizer, tmp_path / "out")
    src.write_text('{"text": "ok"}\n{"body": "x"}\n')
    with pytest.raises(cpt.InputError, match=r"bad\.jsonl:2: missing field `text`"):
        tokenize(src, bpe_tokenizer, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()
    trunc = tmp_path / "trunc.jsonl.zst"
    trunc.write_bytes(zstandard.ZstdCompressor().compress(b'{"text": "a"}\n' * 1000)[:-20])
    with pytest.raises(cpt.InputError, match=r"trunc\.jsonl\.zst"):
        tokenize(trunc, bpe_tokenizer, tmp_path / "out2")
    with pytest.raises(cpt.EngineIOError, match="missing"):
        tokenize(tmp_path / "missing.jsonl", bpe_tokenizer, tmp_path / "out3")


def test_tokenizer_without_eos_needs_flag(tmp_path: Path, texts: list[str]) -> None:
    tok = Tokenizer(
        models.WordLevel(vocab={"[UNK]": 0, "a": 1, "b": 2, "[END]": 3}, unk_token="[UNK]")
    )
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    src = write_jsonl(tmp_path / "docs.jsonl", ["a b", "b a c"], compress="none")
    with pytest.raises(cpt.TokenizerError, match="eos-token"):
        tokenize(src, path, tmp_path / "out")
    with pytest.raises(cpt.TokenizerError, match="not in the vocabulary"):
        tokenize(src, path, tmp_path / "out", eos_token="</s>")
    tokenize(src, path, tmp_path / "out", eos_token="[END]")
    ds = TokenDataset(tmp_path / "out" / "manifest.json")
    assert [d.tolist() for d in ds.iter_documents()] == [[1, 2, 3], [2, 1, 0, 3]]


def test_bad_options(tmp_path: Path, bpe_tokenizer: Path) -> None:
    src = write_jsonl(tmp_path / "docs.jsonl", ["a"], compress="none")
    for bad in (dict(frame_tokens=0), dict(shard_tokens=0), dict(zstd_level=99)):
        with pytest.raises(cpt.ConfigError):
            tokenize(src, bpe_tokenizer, tmp_path / "out", **bad)


def test_options_are_engine_keys_named_in_errors(tmp_path: Path, bpe_tokenizer: Path) -> None:
    # Unset options keep the engine's defaults; a wrong one is named by its key.
    src = write_jsonl(tmp_path / "docs.jsonl", ["a"], compress="none")
    with pytest.raises(cpt.ConfigError, match=r"tokenize\.shard_tokens: invalid value"):
        tokenize(src, bpe_tokenizer, tmp_path / "out", shard_tokens=-1)
    with pytest.raises(cpt.ConfigError, match=r"tokenize\.shard_tokenz: unknown field"):
        _engine.tokenize([str(src)], str(bpe_tokenizer), str(tmp_path / "out"), shard_tokenz=9)
    report = _engine.tokenize(str(src), str(bpe_tokenizer), str(tmp_path / "out"))
    assert report["docs"] == 1 and report["shards"] == 1


def test_failed_run_leaves_no_partial_shard(tmp_path: Path, bpe_tokenizer: Path) -> None:
    src = tmp_path / "late.jsonl"
    src.write_text('{"text": "some words here"}\n' * 50 + "not json\n")
    out = tmp_path / "out"
    with pytest.raises(cpt.InputError, match=r"late\.jsonl:51"):
        # One document per batch: many are tokenized and handed to the writer before the error.
        _engine.tokenize([str(src)], str(bpe_tokenizer), str(out), batch_bytes=1)
    assert not (out / "shard-00000.cpts").exists()
    assert not (out / "manifest.json").exists()
