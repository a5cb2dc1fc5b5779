"""cpt: continued pretraining of language models, from raw corpora to a checked model.

The curation engine is native (``cpt._engine``, Rust); its Python face is ``cpt.curate``.
The trainer and its evaluation live in pure Python modules beside it.
"""

from cpt._engine import (
    ConfigError,
    CurateError,
    EngineIOError,
    InputError,
    ShardError,
    TokenizerError,
)
from cpt._engine import __version__ as __version__

__all__ = [
    "ConfigError",
    "CurateError",
    "EngineIOError",
    "InputError",
    "ShardError",
    "TokenizerError",
]
