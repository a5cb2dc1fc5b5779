"""Word n-gram language models (the engine's ``cpt_engine::score::ngram``): train a
``.cptlm`` model on a reference corpus, score texts with one. The scan stages
``perplexity`` and ``domain_relevance`` of ``cpt.curate.run`` use such models
(``perplexity={"enabled": True, "model": "general.cptlm"}``).

``python -m cpt.lm train -i REFERENCE -o model.cptlm --order 3`` is ``cpt-curate lm train``
(the same clap entry point); ``python -m cpt.lm score -m model.cptlm -i docs.jsonl`` scores.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Sequence, Union

from cpt import _engine

PathLike = Union[str, "os.PathLike[str]"]


def train(
    inputs: Union[PathLike, Sequence[PathLike]],
    output: PathLike,
    *,
    order: int = 3,
    smoothing: str = "kneser-ney",
    min_count: int = 2,
    prune: Sequence[int] = (),
    alpha: float = 0.4,
    max_ngrams: int = 0,
    text_key: str = "text",
    threads: int | None = None,
) -> dict[str, Any]:
    """Train a model (``smoothing``: ``"kneser-ney"`` or ``"stupid-backoff"``) and write it
    to ``output``; returns the training report. ``prune`` are count thresholds for orders
    2, 3, ... (an n-gram with count <= the threshold is dropped; the last one repeats)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    return _engine.lm_train(
        [os.fspath(p) for p in inputs],
        os.fspath(output),
        order=order,
        smoothing=smoothing,
        min_count=min_count,
        prune=list(prune),
        alpha=alpha,
        max_ngrams=max_ngrams,
        text_key=text_key,
        threads=threads,
    )


def perplexity(model: PathLike, texts: Sequence[str]) -> list[float]:
    """Perplexity of each text under a ``.cptlm`` model."""
    return _engine.lm_perplexity(os.fspath(model), list(texts))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cpt.lm ...`` = ``cpt-curate lm ...``."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    args = list(sys.argv[1:] if argv is None else argv)
    return int(_engine.cli_main(["lm", *args]))


if __name__ == "__main__":
    sys.exit(main())
