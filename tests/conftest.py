"""Shared fixtures: where the project's shared test data lives."""

from __future__ import annotations

from pathlib import Path

import pytest


def find_shared_data() -> Path | None:
    """``shared/data`` sits beside the checkout (``<checkout>/../shared/data``)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = find_shared_data()
    if path is None:
        pytest.skip("shared/data not found beside the checkout")
    return path
