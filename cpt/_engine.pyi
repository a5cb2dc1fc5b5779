"""Type stubs for the native module ``cpt._engine`` (PyO3). Keep in step with python/src/."""

from os import PathLike
from typing import Any, Sequence, Union

__version__: str

class CurateError(Exception): ...
class ConfigError(CurateError): ...
class InputError(CurateError): ...
class ShardError(CurateError): ...
class TokenizerError(CurateError): ...
class EngineIOError(CurateError): ...

# --- minhash (python/src/minhash.rs) ---
def minhash_signatures(
    texts: list[str],
    num_perm: int,
    ngram: int,
    shingle: str,
    seed: int,
    hash_bits: int,
    threads: int,
) -> bytes: ...
def minhash_lsh_params(threshold: float, num_perm: int, checked: bool) -> tuple[int, int]: ...
def minhash_plan(config_json: str, n_docs: int) -> tuple[str, str]: ...
def minhash_dedup(
    texts: list[str], config_json: str, threads: int, spill_dir: str | None = None
) -> tuple[list[tuple[int, int, int]], str]: ...
def minhash_dedup_jsonl(
    path: str, config_json: str, threads: int, spill_dir: str | None = None
) -> tuple[int, list[tuple[int, int, int]], str]: ...

class LshIndex:
    def __init__(self, num_perm: int, bands: int, rows: int, hash_bits: int) -> None: ...
    def insert(self, sig: bytes) -> int: ...
    def query(self, sig: bytes) -> list[int]: ...
    def __len__(self) -> int: ...

def curate_run(
    config_path: str | None = None,
    overlay_json: str | None = None,
    sets: list[str] = ...,
    overwrite: bool = False,
    quiet: bool = False,
    dry_run: bool = False,
) -> str: ...
def cli_main(argv: list[str]) -> int: ...

# --- tokenize (python/src/tokenize.rs) ---
_Path = Union[str, PathLike[str]]

def tokenize(
    inputs: Union[_Path, Sequence[_Path]],
    tokenizer: _Path,
    output: _Path,
    *,
    threads: int | None = None,
    shard_tokens: int | None = None,
    frame_tokens: int | None = None,
    zstd_level: int | None = None,
    eos_token: str | None = None,
    text_key: str | None = None,
    megatron: _Path | None = None,
    config_hash: str | None = None,
    top_words: int | None = None,
    batch_bytes: int | None = None,
    progress: bool = False,
) -> dict[str, Any]: ...
def tokenizer_hash(path: _Path) -> str: ...
def export_megatron(manifest: _Path, prefix: _Path) -> tuple[str, str]: ...
def read_tokens(
    manifest: _Path, start: int, count: int, expected_tokenizer_hash: str | None = None
) -> list[int]: ...

# --- vocabulary extension (python/src/vocab.rs) ---
def extend_tokenizer(
    tokenizer: _Path,
    inputs: Sequence[_Path],
    output: _Path,
    new_tokens: int,
    *,
    min_frequency: int | None = None,
    eval_domain: Sequence[_Path] | None = None,
    eval_general: Sequence[_Path] | None = None,
    protect: Sequence[_Path] | None = None,
    text_key: str | None = None,
    threads: int | None = None,
    allow_fewer: bool = False,
) -> dict[str, Any]: ...
