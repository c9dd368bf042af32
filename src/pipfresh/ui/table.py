"""The terminal report: a table of outdated packages, coloured by bump level.

Laid out here rather than by rich: for a report of a hundred rows rich's Table cost
about 100 ms (measuring, padding and styling every cell as segments), as much as the
rest of a warm scan, and importing rich.console another 20 ms. The layout is the one
rich drew with ``box=None, pad_edge=False``: no borders, two spaces between columns,
no cell ever wrapped or cut.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TextIO

from packaging.utils import canonicalize_name

from pipfresh.auth import redact_text
from pipfresh.models import PackageStatus, Report
from pipfresh.ui.safe import printable

if TYPE_CHECKING:
    from pipfresh.direct import DirectSet

BUMP_STYLES = {"major": "red", "minor": "yellow", "patch": "green", "pre": "magenta"}


def parse_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def format_age(uploaded: str | None, now: datetime) -> str:
    """'3 days', '5 months', '2 years': how long ago a release appeared; '' when unknown."""
    if not uploaded:
        return ""
    moment = parse_time(uploaded)
    if moment is None:
        return ""
    days = (now - moment).total_seconds() / 86400
    if days < 0:
        return "just now"
    if days < 1:
        hours = int(days * 24)
        return f"{hours} hour{'s' * (hours != 1)}" if hours else "just now"
    if days < 60:
        n = int(days)
        return f"{n} day{'s' * (n != 1)}"
    if days < 730:
        return f"{max(2, int(days // 30.44))} months"
    return f"{max(2, int(days // 365.25))} years"


def _held_back(status: PackageStatus) -> str:
    return ", ".join(f"{h.name} {h.version} ({h.requirement})" for h in status.held_back_by)


# The subset of SGR that the report uses, with rich's "standard" colour numbers.
_SGR = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "magenta": "35"}
# Bell, backspace, vertical tab, form feed, carriage return: rich dropped these from
# every line it printed, and a stray one can overwrite what came before it.
_DROPPED = dict.fromkeys((7, 8, 11, 12, 13))
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def _cells(text: str) -> int:
    """How many terminal columns ``text`` takes."""
    if text.isascii() and text.isprintable():
        return len(text)
    # East Asian wide and fullwidth characters take two columns, combining marks and
    # other zero-width characters none: what terminals do for the characters a name,
    # a version or a requirement can hold, without a dependency for the rare case.
    from unicodedata import combining, east_asian_width

    return sum(
        0 if combining(c) or c in _ZERO_WIDTH else 2 if east_asian_width(c) in "WF" else 1
        for c in text
    )


def _paint(text: str, style: str, color: bool) -> str:
    if not (color and style and text):
        return text
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m"


def _lines(text: str, style: str, color: bool) -> str:
    """``text`` as whole lines, never wrapped: a line is read as one even when the
    terminal is narrower (and a pipe keeps it whole for grep). Each line gets its own
    colour so that one left open cannot spill into the next. Control characters of
    untrusted text are shown escaped (:func:`printable`), never sent to the terminal."""
    return "".join(
        _paint(printable(line.expandtabs(8)), style, color) + "\n"
        for line in text.translate(_DROPPED).split("\n")
    )


if sys.platform == "win32":

    def _sgr_shown(out: TextIO) -> bool:
        """False for a Windows console that would print escape codes as text and will
        not be switched to read them (before Windows 10): rich drew colour there through
        the console API, which is not worth its cost here."""
        import ctypes
        import msvcrt

        try:
            handle = msvcrt.get_osfhandle(out.fileno())
        except (AttributeError, OSError, ValueError):
            return True  # no file descriptor: a buffer, whose reader decides
        kernel32 = ctypes.windll.kernel32
        mode = ctypes.c_uint32()
        if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
            return True  # a pipe or a file, not a console
        virtual_terminal_processing = 0x0004
        return bool(
            mode.value & virtual_terminal_processing
            or kernel32.SetConsoleMode(handle, mode.value | virtual_terminal_processing)
        )

else:

    def _sgr_shown(out: TextIO) -> bool:
        return True


#: The columns given up, in this order, when the table is wider than the terminal;
#: then the last column's cells are cut (with "…").
DROP_ORDER = ("Released", "Bump", "Wanted")


def _released(p: PackageStatus, now: datetime) -> str:
    """The latest release's age, and the wanted one's when it is another release."""
    latest = format_age(p.latest_released or (p.released if p.wanted == p.latest else None), now)
    if p.wanted and p.wanted != p.latest and p.released:
        wanted = format_age(p.released, now)
        return f"{latest} (wanted: {wanted})" if latest else f"wanted: {wanted}"
    return latest


def _below_installed(p: PackageStatus) -> bool:
    from packaging.version import InvalidVersion, Version

    if not p.latest:
        return False
    try:
        return Version(p.latest) < Version(p.installed)
    except InvalidVersion:
        return False


def _table(
    rows: tuple[PackageStatus, ...],
    now: datetime,
    color: bool,
    *,
    width: int | None = None,
    target: str = "latest",
    marked: frozenset[str] = frozenset(),
) -> str:
    show_wanted = any(p.wanted != p.latest for p in rows)
    show_held = any(p.held_back_by for p in rows)
    show_broken = any(p.broke_tests for p in rows)
    header = ["Package", "Installed"]
    if show_wanted:
        header.append("Wanted")
    # With --target minor, "latest" is the newest within the installed minor line.
    header += ["Latest" if target == "latest" else f"Latest {target}", "Bump", "Released"]
    if show_held:
        header.append("Held back by")
    if show_broken:
        header.append("Note")
    lines: list[tuple[list[str], str]] = [(header, "bold")]
    for p in rows:
        latest = p.latest or ("(" + p.kind.replace("_", " ") + ")" if p.kind != "index" else "-")
        if _below_installed(p):
            latest += " (below installed)"
        name = p.name
        if marked and canonicalize_name(p.name) in marked:
            name += " *"
        cells = [name, p.installed]
        if show_wanted:
            cells.append(p.wanted or "-")
        cells += [latest, p.bump or "", _released(p, now)]
        if show_held:
            cells.append(_held_back(p))
        if show_broken:
            cells.append(f"broke tests on {p.broke_tests}" if p.broke_tests else "")
        # Names, versions and requirements come from the index and installed metadata.
        lines.append(([printable(c) for c in cells], BUMP_STYLES.get(p.bump or "", "")))
    if width is not None:
        lines = _fit(lines, width)
    widths = [
        max(_cells(cell) for cell in column) for column in zip(*(c for c, _ in lines), strict=True)
    ]
    out = []
    for cells, style in lines:
        # Padded to the column's width, then stripped at the end: the last column is
        # ragged, with no spaces after its text.
        text = "  ".join(
            cell + " " * (width - _cells(cell)) for cell, width in zip(cells, widths, strict=True)
        )
        out.append(_paint(text.rstrip(), style, color) + "\n")
    return "".join(out)


def _fit(lines: list[tuple[list[str], str]], width: int) -> list[tuple[list[str], str]]:
    """The table within ``width`` columns: :data:`DROP_ORDER` columns given up first,
    then the last column cut; Package, Installed and Latest always stay whole."""

    def total(rows: list[tuple[list[str], str]]) -> int:
        columns = zip(*(c for c, _ in rows), strict=True)
        sizes = [max(_cells(cell) for cell in column) for column in columns]
        return sum(sizes) + 2 * (len(sizes) - 1)

    for name in DROP_ORDER:
        if total(lines) <= width:
            return lines
        header = lines[0][0]
        if name in header:
            i = header.index(name)
            lines = [([c for j, c in enumerate(cells) if j != i], style) for cells, style in lines]
    excess = total(lines) - width
    last = len(lines[0][0]) - 1
    if excess > 0 and last >= 3:  # never cut Package, Installed or Latest
        keep = max(1, max(_cells(c[last]) for c, _ in lines) - excess)
        for cells, _ in lines:
            if _cells(cells[last]) > keep:
                cells[last] = cells[last][: max(0, keep - 1)] + "…"
    return lines


def terminal_width(out: TextIO) -> int | None:
    """The width to fit the table in: ``COLUMNS`` when set, else the terminal's; None
    (no limit) for a pipe or a file, whose reader wants whole lines."""
    import os

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if out.isatty():
            return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return None


def render_table(
    report: Report,
    out: TextIO,
    *,
    include_all: bool,
    color: bool,
    now: datetime | None = None,
    width: int | None = None,
    target: str = "latest",
    direct: DirectSet | None = None,
    only_direct: bool = False,
) -> None:
    """Write the header line, the table and the per-project error lines to ``out``.

    Whether to colour is the caller's choice (``NO_COLOR``, ``FORCE_COLOR``, a TTY).
    ``direct``: the project's direct dependencies; with ``only_direct`` (``--direct``)
    the report holds only those and a line under the header says how they were
    found, else the rows of direct dependencies are marked ``*`` and a line under
    the table says what the mark means.
    """
    now = now or datetime.now(timezone.utc)
    color = color and _sgr_shown(out)
    env = report.environment
    text = [_lines(f"{env.prefix} (Python {env.python_version})", "bold", color)]
    rows = report.packages if include_all else report.outdated
    if direct is not None and only_direct:
        text.append(_lines(f"direct dependencies only: {direct.describe()}", "", color))
    marked = direct.names if direct is not None and not only_direct else frozenset()
    if rows:
        text.append(_table(rows, now, color, width=width, target=target, marked=marked))
        if any(canonicalize_name(p.name) in marked for p in rows):
            assert direct is not None
            text.append(_lines(f"* direct dependency: {direct.describe()}", "", color))
    if report.problems:
        # Before the per-project errors: a broken install is worth reading first, and
        # the upgrade advice above is computed from the ranges these lines break.
        text.append(
            _lines("warning: the installed packages are already inconsistent:", "red", color)
        )
        text += [_lines("  " + problem.message, "", color) for problem in report.problems]
    s = report.summary
    # Editable and direct-URL installs are never looked up on an index: say so
    # rather than count them as checked.
    local = sum(1 for p in report.packages if p.kind != "index")
    checked = s.checked - local
    if not report.outdated and not report.errors and checked > 0:
        line = (
            "The 1 checked package is up to date."
            if checked == 1
            else f"All {checked} checked packages are up to date."
        )
        text.append(_lines(line, "", color))
    for error in report.errors:
        text.append(_lines(f"error: {error.name}: {redact_text(error.reason, ())}", "red", color))
    errors = f"{s.errors} error{'s' * (s.errors != 1)}"
    unchecked = f", {local} not checked (editable or direct URL)" if local else ""
    text.append(
        _lines(
            f"{checked} checked, {s.outdated} outdated, {errors}{unchecked} in {s.seconds:.2f} s",
            "",
            color,
        )
    )
    out.write("".join(text))
