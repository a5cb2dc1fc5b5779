"""``python -m cpt.evaluate``: the same command as ``python -m cpt.eval``."""

from __future__ import annotations

import sys

from cpt.evaluate.cli import main

sys.exit(main())
