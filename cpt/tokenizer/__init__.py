"""Tokenizer adaptation: extend a byte-level BPE vocabulary with domain merges (the Rust engine's
``cpt-curate tokenizer extend``) and resize a model's embeddings to the extended vocabulary."""

from cpt.tokenizer.extend import extend
from cpt.tokenizer.resize import INIT_MODES, ResizeError, resize

__all__ = ["INIT_MODES", "ResizeError", "extend", "resize"]
