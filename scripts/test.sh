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
