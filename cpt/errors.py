"""One place that turns a user's mistake into one line on stderr for every ``python -m cpt.*``.

cpt's own exception classes (``ConfigError``, ``InputError``, ``ShardError``, ``TokenizerError``,
all ``CurateError``) carry messages that name the file, field or config key; an ``OSError``
names its file. Those are printed as ``<prog>: error: <message>`` on one line with exit code 2.
Anything else is a bug in cpt and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Callable

from cpt import CurateError

EXIT_USER_ERROR = 2


def one_line(exc: BaseException) -> str:
    """The message on a single line (a multi-line message is joined with '; ')."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc)
    parts = [p.strip() for p in text.splitlines() if p.strip()]
    return "; ".join(parts) or type(exc).__name__


def run_cli(prog: str, body: Callable[[], int]) -> int:
    """Run ``body``; a cpt error or OSError becomes one line on stderr and exit code 2."""
    try:
        return body()
    except (CurateError, OSError) as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
