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
