#!/usr/bin/env bash
# The project's test command (README): Rust tests, clippy, formatting, ruff, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --quiet
cargo clippy --workspace --all-targets -- -D warnings
cargo fmt --all --check
ruff check cpt tests
ruff format --check cpt tests
pytest -q
# The stub of the native module matches the module (fails on a function missing from it).
python -m mypy.stubtest cpt._engine
# Performance gate: near-dup at least 3x rensa's throughput on a slice of the benchmark.
python -m cpt.bench minhash --corpus ../shared/data/neardup/docs.jsonl.zst --gate 3.0 --quick
