"""Scores computed in Python over the curated output of a Rust run, written to the same
attribute files the engine's scan stages fill (``<run>/attributes/``, one JSON line per kept
document, aligned with ``<run>/kept/``): reference-model perplexity (``perplexity``).

``python -m cpt.score perplexity --model HF_DIR --input RUN_DIR`` is the command line.
"""

from cpt.score.attributes import AttributesError, merge_attributes, read_attributes
from cpt.score.perplexity import score_perplexity

__all__ = ["AttributesError", "merge_attributes", "read_attributes", "score_perplexity"]
