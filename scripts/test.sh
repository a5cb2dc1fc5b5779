#!/usr/bin/env bash
# The project's test command (README): Rust tests, clippy, ruff, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --quiet
cargo clippy --workspace --all-targets -- -D warnings
ruff check cpt tests
pytest -q
