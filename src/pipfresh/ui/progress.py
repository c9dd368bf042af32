"""A one-line live progress report on stderr while the scan runs (terminals only)."""

from __future__ import annotations

import time
from typing import TextIO

from pipfresh.models import PackageStatus, ProjectError


class ProgressLine:
    """``checked/total, outdated, errors``, redrawn at most every 50 ms, erased at the end.

    Written with a carriage return rather than through rich: it is drawn hundreds of
    times per second of scan and must cost nothing.
    """

    def __init__(self, out: TextIO, total: int, *, enabled: bool) -> None:
        self._out = out
        self._total = total
        self._enabled = enabled and total > 0
        self._checked = 0
        self._outdated = 0
        self._errors = 0
        self._last_draw = 0.0
        self._width = 0

    def update(self, result: PackageStatus | ProjectError) -> None:
        self._checked += 1
        if isinstance(result, ProjectError):
            self._errors += 1
        elif result.outdated:
            self._outdated += 1
        now = time.monotonic()
        if self._enabled and (now - self._last_draw >= 0.05 or self._checked == self._total):
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        text = (
            f"checked {self._checked}/{self._total}, "
            f"{self._outdated} outdated, {self._errors} errors"
        )
        self._width = max(self._width, len(text))
        self._out.write("\r" + text.ljust(self._width))
        self._out.flush()

    def close(self) -> None:
        if self._enabled and self._width:
            self._out.write("\r" + " " * self._width + "\r")
            self._out.flush()
