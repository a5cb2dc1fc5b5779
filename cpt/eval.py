"""``python -m cpt.eval``: kept as the short name of ``cpt.evaluate.cli`` (see there)."""

from __future__ import annotations

import sys

from cpt.evaluate.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
