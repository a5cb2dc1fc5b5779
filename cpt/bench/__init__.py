"""Side-by-side benchmarks: ``python -m cpt.bench <curate|minhash|tokenize|train> [options]``.

Each subcommand lives in its own module (``cpt.bench.<name>``) exposing ``main(argv) -> int``.
"""
