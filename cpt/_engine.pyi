"""Type stubs for the native module ``cpt._engine`` (PyO3), checked against the built module
by ``python -m mypy.stubtest cpt._engine`` in scripts/test.sh. Keep in step with python/src/.

Results leave the engine as plain dicts (the JSON the engine would write); configs arrive as
mappings of keys, where an unset key keeps the engine's default."""

from os import PathLike
from typing import Any, Mapping, Sequence, Union

from typing_extensions import Self, final

__all__ = [
    "__version__",
    "CurateError",
    "ConfigError",
    "InputError",
    "ShardError",
    "TokenizerError",
    "EngineIOError",
    "curate_run",
    "curate_plan",
    "cli_main",
    "minhash_defaults",
    "minhash_signatures",
    "minhash_plan",
    "minhash_dedup",
    "minhash_dedup_jsonl",
    "LshIndex",
    "tokenize",
    "tokenizer_hash",
    "export_megatron",
    "read_tokens",
    "extend_tokenizer",
    "lm_train",
    "lm_perplexity",
    "detect_languages",
    "classifier_train",
    "classifier_eval",
    "select_apply",
]

__version__: str

_Path = Union[str, PathLike[str]]
_Keys = Mapping[str, Any]

class CurateError(Exception): ...
class ConfigError(CurateError): ...
class InputError(CurateError): ...
class ShardError(CurateError): ...
class TokenizerError(CurateError): ...
class EngineIOError(CurateError): ...

# --- minhash (python/src/minhash.rs) ---
def minhash_defaults() -> dict[str, Any]: ...
def minhash_signatures(
    texts: list[str], config: _Keys | None = None, threads: int = 0
) -> bytes: ...
def minhash_plan(config: _Keys | None = None, n_docs: int = 0) -> dict[str, Any]: ...
def minhash_dedup(
    texts: list[str], config: _Keys | None = None, threads: int = 0, spill_dir: _Path | None = None
) -> dict[str, Any]: ...
def minhash_dedup_jsonl(
    path: _Path, config: _Keys | None = None, threads: int = 0, spill_dir: _Path | None = None
) -> dict[str, Any]: ...

# A PyO3 class: built by __new__, not subclassable.
@final
class LshIndex:
    def __new__(cls, config: _Keys | None = None) -> Self: ...
    @property
    def bands(self) -> int: ...
    @property
    def rows(self) -> int: ...
    def insert(self, sig: bytes) -> int: ...
    def query(self, sig: bytes) -> list[int]: ...
    def plan(self) -> dict[str, Any]: ...
    def __len__(self) -> int: ...

# --- curate (python/src/curate.rs) ---
def curate_run(
    config_path: _Path | None = None,
    overlay: _Keys | None = None,
    sets: list[str] = ...,
    overwrite: bool = False,
    quiet: bool = False,
) -> dict[str, Any]: ...
def curate_plan(
    config_path: _Path | None = None, overlay: _Keys | None = None, sets: list[str] = ...
) -> str: ...
def cli_main(argv: list[str]) -> int: ...

# --- tokenize (python/src/tokenize.rs) ---
def tokenize(
    inputs: Union[_Path, Sequence[_Path]], tokenizer: _Path, output: _Path, **options: Any
) -> dict[str, Any]: ...
def tokenizer_hash(path: _Path) -> str: ...
def export_megatron(manifest: _Path, prefix: _Path) -> dict[str, str]: ...
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
    min_word_docs: int | None = None,
    eval_domain: Sequence[_Path] | None = None,
    eval_general: Sequence[_Path] | None = None,
    protect: Sequence[_Path] | None = None,
    protect_exact: bool = False,
    text_key: str | None = None,
    threads: int | None = None,
    allow_fewer: bool = False,
) -> dict[str, Any]: ...

# --- n-gram language model (python/src/lm.rs) ---
def lm_train(
    inputs: Sequence[_Path],
    output: _Path,
    *,
    order: int | None = None,
    smoothing: str | None = None,
    min_count: int | None = None,
    prune: Sequence[int] | None = None,
    alpha: float | None = None,
    max_ngrams: int | None = None,
    text_key: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]: ...
def lm_perplexity(model: _Path, texts: list[str]) -> list[float]: ...

# --- language id, classifier, selection (python/src/select.rs) ---
def detect_languages(texts: list[str], sample_chars: int = 4096) -> list[tuple[str, float]]: ...
def classifier_train(
    positive: list[str],
    negative: list[str],
    output: _Path,
    bits: int = 20,
    ngrams: int = 2,
    epochs: int = 10,
    lr: float = 0.5,
    l2: float = 1e-06,
    seed: int = 1,
    threads: int = 0,
) -> dict[str, Any]: ...
def classifier_eval(
    model: _Path, positive: list[str], negative: list[str], threshold: float = 0.5
) -> dict[str, Any]: ...
def select_apply(
    attributes: _Path,
    policies: list[str],
    output: _Path,
    kept: _Path | None = None,
    threads: int = 0,
    overwrite: bool = False,
    zstd_level: int = 3,
) -> dict[str, Any]: ...
