"""Python face of the curation engine: ``run(...)`` and the ``cpt-curate`` console script.

Both go through the Rust engine (``cpt._engine``); the console script calls the very same
clap entry point as the ``cpt-curate`` binary built by ``cargo install --path rust``.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Sequence, Union

from cpt import _engine

# The tokenize stage's Python face (``cpt.tokenize``), re-exported here beside run().
from cpt.tokenize import export_megatron, tokenize, tokenizer_hash  # noqa: F401


def score_perplexity(model: PathLike, curated: PathLike, **options: Any) -> dict[str, Any]:
    """Reference-model perplexity of a finished run's kept documents, merged into its
    attribute files as ``ref_ppl`` (``cpt.score.perplexity.score_perplexity``; needs torch
    and transformers)."""
    from cpt.score.perplexity import score_perplexity as score

    return score(model, curated, **options)


PathLike = Union[str, "os.PathLike[str]"]


def _overlay(
    inputs: Union[PathLike, Sequence[PathLike]] | None,
    output: PathLike | None,
    keys: dict[str, Any],
) -> dict[str, Any]:
    """Keyword arguments as a nested mapping of config keys."""
    tree: dict[str, Any] = {}
    if inputs is not None:
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        tree["inputs"] = [os.fspath(p) for p in inputs]
    if output is not None:
        tree["output"] = os.fspath(output)
    for key, value in keys.items():
        # ``filters__length__min_words=50`` means ``filters={"length": {"min_words": 50}}``.
        node = tree
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def run(
    inputs: Union[PathLike, Sequence[PathLike]] | None = None,
    output: PathLike | None = None,
    *,
    config: PathLike | None = None,
    sets: Sequence[str] = (),
    overwrite: bool = False,
    quiet: bool = False,
    **keys: Any,
) -> dict[str, Any]:
    """Run a curation job and return its report (also written to ``<output>/report.json``).

    ``config`` is an optional YAML file; ``inputs``, ``output`` and any other config key
    given as a keyword (nested dicts, e.g. ``filters={"length": {"min_words": 50}}``, or
    ``filters__length__min_words=50``) override it, then ``sets`` (``["key.sub=value"]``).
    A finished job in ``output`` with the same config is resumed (nothing is redone);
    ``overwrite=True`` starts over. ``quiet`` hides the progress bar and stderr summary.
    ``tokenize={"enabled": True, "tokenizer": "tokenizer.json"}`` adds tokenization of the
    kept shards as the last stage (token shards in ``<output>/tokens``; summary under
    ``report["tokenize"]``).
    Raises ``cpt.ConfigError`` for bad keys or values, ``cpt.InputError`` for malformed or
    corrupt input, ``cpt.EngineIOError`` for file system errors.
    """
    return _engine.curate_run(
        os.fspath(config) if config is not None else None,
        _overlay(inputs, output, keys),
        list(sets),
        overwrite=overwrite,
        quiet=quiet,
    )


def plan(
    inputs: Union[PathLike, Sequence[PathLike]] | None = None,
    output: PathLike | None = None,
    *,
    config: PathLike | None = None,
    sets: Sequence[str] = (),
    **keys: Any,
) -> str:
    """The resolved config (YAML) and the plan, as ``cpt-curate run --dry-run`` prints them."""
    return _engine.curate_plan(
        os.fspath(config) if config is not None else None,
        _overlay(inputs, output, keys),
        list(sets),
    )


def detect_languages(texts: Sequence[str], sample_chars: int = 4096) -> list[tuple[str, float]]:
    """(whatlang ISO 639-3 code, confidence) of each text, as the ``language`` stage computes
    them (``und``, 0.0 when no language is found). Runs on the calling thread."""
    return _engine.detect_languages(list(texts), sample_chars)


def train_classifier(
    positive: Union[PathLike, Sequence[PathLike]],
    negative: Union[PathLike, Sequence[PathLike]],
    output: PathLike,
    **options: Any,
) -> dict[str, Any]:
    """``cpt-curate classifier train``: a hashed word + bigram logistic regression, trained on
    ``positive`` (domain) vs ``negative`` (general) JSONL files, written to ``output`` (FORMAT.md).
    ``options``: ``bits``, ``ngrams``, ``epochs``, ``lr``, ``l2``, ``seed``, ``threads``.
    Returns the training report (documents, seconds, MB/s, training accuracy)."""
    return _engine.classifier_train(
        _paths(positive), _paths(negative), os.fspath(output), **options
    )


def evaluate_classifier(
    model: PathLike,
    positive: Union[PathLike, Sequence[PathLike]],
    negative: Union[PathLike, Sequence[PathLike]],
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Precision, recall, F1 and AUC of a classifier model on held-out documents."""
    return _engine.classifier_eval(os.fspath(model), _paths(positive), _paths(negative), threshold)


def select(
    attributes: PathLike,
    policies: Union[str, Sequence[str]],
    output: PathLike,
    *,
    kept: PathLike | None = None,
    threads: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """``cpt-curate select``: re-apply selection policies (``"domain_score:top=0.5"``, ...; see
    FORMAT.md) to a finished run's ``attributes/`` and ``kept/`` without rescoring. Writes
    ``output/{kept,attributes,rejected}/`` and ``select_report.json``; returns the report."""
    if isinstance(policies, str):
        policies = [policies]
    return _engine.select_apply(
        os.fspath(attributes),
        list(policies),
        os.fspath(output),
        kept=os.fspath(kept) if kept is not None else None,
        threads=threads,
        overwrite=overwrite,
    )


def _paths(p: Union[PathLike, Sequence[PathLike]]) -> list[str]:
    if isinstance(p, (str, os.PathLike)):
        return [os.fspath(p)]
    return [os.fspath(x) for x in p]


def cli_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cpt-curate`` console script."""
    # The engine runs without the GIL and never checks Python's signal flag: let Ctrl-C
    # terminate the process as it does for the Rust binary.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    args = list(sys.argv[1:] if argv is None else argv)
    code = int(_engine.cli_main(args))
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    cli_main()
