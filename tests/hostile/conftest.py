"""The hostile suite: bad files and values a careless or malicious user could hand cpt.

Every case runs through ``hostile.check(...)``, which classifies the outcome as *clear* (the
documented cpt exception class, a one-line message naming the file/field/key), *unclear* (right
class, message does not name what to fix), *wrong* (accepted silently) or *crash* (any other
exception). The test asserts *clear*; the tally of all four is printed at the end of the run.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # test_train_util, conftest helpers

_TALLY: Counter[str] = Counter()
_NOT_CLEAR: list[str] = []


class Hostile:
    def __init__(self, case: str) -> None:
        self.case = case

    def check(self, fn: Callable[[], Any], cls: type[BaseException], *names: str) -> BaseException:
        """Run ``fn``; it must raise ``cls`` with a one-line message containing every name."""
        outcome, detail, err = "clear", "", None
        try:
            fn()
        except cls as exc:
            err, msg = exc, str(exc)
            missing = [n for n in names if n not in msg]
            if missing or "\n" in msg.strip():
                outcome, detail = "unclear", f"{msg!r} lacks {missing}"
        except Exception as exc:  # the case's point: anything else is a crash
            outcome, detail = "crash", f"{type(exc).__name__}: {exc}"
        else:
            outcome, detail = "wrong", "accepted without an error"
        _TALLY[outcome] += 1
        if outcome != "clear":
            _NOT_CLEAR.append(f"{self.case}: {outcome}: {detail}")
        assert outcome == "clear", detail
        assert err is not None
        return err

    def cli(self, rc: int, stderr: str, prog: str, *names: str) -> str:
        """A CLI run: exit code 2, and one ``<prog>: error:`` line naming every name, no
        traceback."""
        lines = [x for x in stderr.splitlines() if x.startswith(f"{prog}: error:")]
        if "Traceback" in stderr or rc not in (0, 2):
            outcome, detail = "crash", stderr[-2000:]
        elif rc == 0 or not lines:
            outcome, detail = "wrong", f"exit {rc} without an error line: {stderr[-500:]}"
        elif len(lines) > 1 or any(n not in lines[0] for n in names):
            outcome, detail = "unclear", f"{lines!r} lacks one of {names}"
        else:
            outcome, detail = "clear", ""
        _TALLY[outcome] += 1
        if outcome != "clear":
            _NOT_CLEAR.append(f"{self.case}: {outcome}: {detail}")
        assert outcome == "clear", detail
        return lines[0]

    def accepted(self, fn: Callable[[], Any]) -> Any:
        """A case whose right outcome is to work (e.g. an explicit override)."""
        try:
            out = fn()
        except Exception as exc:
            _TALLY["crash"] += 1
            _NOT_CLEAR.append(f"{self.case}: crash: {type(exc).__name__}: {exc}")
            raise
        _TALLY["clear"] += 1
        return out


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Hostile:
    return Hostile(request.node.nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not sum(_TALLY.values()):
        return
    counts = ", ".join(f"{_TALLY[k]} {k}" for k in ("clear", "unclear", "wrong", "crash"))
    terminalreporter.write_line(f"hostile cases: {sum(_TALLY.values())} tried: {counts}")
    for line in _NOT_CLEAR:
        terminalreporter.write_line(f"  {line}")
