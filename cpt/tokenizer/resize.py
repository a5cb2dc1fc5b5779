"""Resize a Hugging Face causal LM to an extended tokenizer: grow the input embeddings (and an
untied output head), initialise the new rows, and write a safetensors model directory holding
the extended tokenizer."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Union

import torch
from tokenizers import Tokenizer

from cpt.tokenizer.rows import INIT_MODES, ResizeError, VocabDiff, diff_vocab, init_rows

__all__ = ["INIT_MODES", "ResizeError", "resize"]

PathLike = Union[str, "os.PathLike[str]"]

# Released models pad their embedding matrix by at most a few hundred rows past the tokenizer
# (to a multiple of 64 or 128); a bigger gap means the model belongs to another tokenizer.
MAX_PADDING_ROWS = 1024

# Tokenizer-side files of the model directory that still hold for the extended tokenizer
# (added tokens keep their ids). vocab.json / merges.txt would be stale, so they are not copied.
TOKENIZER_SIDE_FILES = ("tokenizer_config.json", "special_tokens_map.json")

REPORT_FILE = "resize_report.json"


def _tokenizer_file(path: Path) -> Path:
    return path / "tokenizer.json" if path.is_dir() else path


def _load_tokenizer(path: Path, what: str) -> Tokenizer:
    if not path.is_file():
        raise ResizeError(f"{what}: {path} not found")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # the tokenizers library raises plain Exception subclasses
        raise ResizeError(f"{what}: cannot load {path}: {e}") from e


def _check_rows(rows: int, diff: VocabDiff, model_dir: Path, base_file: Path) -> None:
    if rows < diff.base_size or rows - diff.base_size >= MAX_PADDING_ROWS:
        raise ResizeError(
            f"the model in {model_dir} has {rows} embedding rows but its base tokenizer "
            f"{base_file} has {diff.base_size} ids: the model does not match the tokenizer"
        )


def resize(
    model_dir: PathLike,
    tokenizer: PathLike,
    output: PathLike,
    *,
    init: str = "subtoken",
    pad_to_multiple_of: int | None = None,
    base_tokenizer: PathLike | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Resize the model in ``model_dir`` to the extended ``tokenizer`` (a tokenizer.json or a
    directory holding one) and write it to ``output``.

    ``init``: ``subtoken`` (default) starts each new row as the mean of the rows of its base
    pieces, ``mean`` as the mean of all trained rows, ``random`` as N(0, initializer_range).
    An untied output head gets the same treatment from its own rows; a tied one follows the
    embeddings. Rows added only as padding (``pad_to_multiple_of``) start as the mean row.
    The base tokenizer is ``model_dir/tokenizer.json`` unless ``base_tokenizer`` is given.
    Returns the report also written as ``output/resize_report.json``.
    """
    from transformers import AutoModelForCausalLM

    model_dir, output = Path(model_dir), Path(output)
    if init not in INIT_MODES:
        raise ResizeError(f"init must be one of {', '.join(INIT_MODES)}, not {init!r}")
    if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
        raise ResizeError(f"pad_to_multiple_of must be >= 1, not {pad_to_multiple_of}")
    ext_file = _tokenizer_file(Path(tokenizer))
    base_file = Path(base_tokenizer) if base_tokenizer else model_dir / "tokenizer.json"
    if not base_file.is_file():
        raise ResizeError(
            f"{model_dir} has no tokenizer.json: pass the model's base tokenizer "
            "(--base-tokenizer) to check the extension against"
        )
    diff = diff_vocab(
        _load_tokenizer(base_file, "base tokenizer"),
        _load_tokenizer(ext_file, "extended tokenizer"),
        str(base_file),
        str(ext_file),
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    emb = model.get_input_embeddings()
    rows_before = emb.weight.shape[0]
    _check_rows(rows_before, diff, model_dir, base_file)
    head = model.get_output_embeddings()
    tied = head is not None and head.weight.data_ptr() == emb.weight.data_ptr()
    old_emb = emb.weight.detach().clone()
    old_head = None if tied or head is None else head.weight.detach().clone()

    rows = max(rows_before, diff.ext_size)
    if pad_to_multiple_of:
        rows = -(-rows // pad_to_multiple_of) * pad_to_multiple_of
    model.resize_token_embeddings(rows, mean_resizing=False)
    std = float(getattr(model.config, "initializer_range", 0.02))
    gen = torch.Generator().manual_seed(seed)
    _fill(model.get_input_embeddings().weight, old_emb, diff, init, std, gen)
    if old_head is not None:
        _fill(model.get_output_embeddings().weight, old_head, diff, init, std, gen)

    report = {
        "model": str(model_dir),
        "tokenizer": str(ext_file),
        "base_tokenizer": str(base_file),
        "output": str(output),
        "init": init,
        "seed": seed,
        "tied_embeddings": tied,
        "rows_before": rows_before,
        "rows_after": rows,
        "base_vocab": diff.base_size,
        "extended_vocab": diff.ext_size,
        "new_tokens": len(diff.new_ids),
        "padding_rows": rows - max(diff.ext_size, diff.base_size),
        "pad_to_multiple_of": pad_to_multiple_of,
    }
    _save(model, model_dir, ext_file, output, report)
    return report


def _fill(
    weight: torch.Tensor,
    old: torch.Tensor,
    diff: VocabDiff,
    init: str,
    std: float,
    gen: torch.Generator,
) -> None:
    """Set the new and padding rows of ``weight`` (already resized; its trained rows intact)."""
    new = init_rows(old, diff, init, std=std, generator=gen)
    mean = old[: diff.base_size].float().mean(dim=0)
    with torch.no_grad():
        for i in range(diff.base_size, weight.shape[0]):
            weight[i] = new.get(i, mean).to(weight.dtype)
        for i in diff.new_ids:  # new ids inside the old padding rows, if any
            weight[i] = new[i].to(weight.dtype)


def _save(model: Any, model_dir: Path, ext_file: Path, output: Path, report: dict) -> None:
    """Write the model, the extended tokenizer and the report to a temp directory beside
    ``output``, then swap it in, so ``output`` is never left half-written."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".{output.name}.tmp-resize"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    shutil.copyfile(ext_file, tmp / "tokenizer.json")
    for name in TOKENIZER_SIDE_FILES:
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, tmp / name)
    if not (tmp / "tokenizer_config.json").is_file():
        # Without one, AutoTokenizer would pick the model family's slow-tokenizer logic.
        config = {"tokenizer_class": "PreTrainedTokenizerFast"}
        (tmp / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    old = output.parent / f".{output.name}.old-resize"
    if output.exists():
        os.replace(output, old)
    os.replace(tmp, output)
    if old.exists():
        shutil.rmtree(old)
