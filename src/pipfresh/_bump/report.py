"""What ``pipfresh bump`` found: one row per pin, rendered as a table or as JSON.

The report is a value: what the table and ``--format json`` show is exactly what
``--write`` applies (:attr:`BumpReport.edits`). Rendering never prints by itself; it
writes to the stream it is given. Every string from a file or an index is escaped
before it reaches a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from pipfresh._bump.model import DepFile, Edit, LeaveAlone
from pipfresh.models import Bump, Holder, ProjectError
from pipfresh.ui.safe import printable

#: Why a pin was not looked at: the file's own reasons, or an --exclude pattern.
NotChecked = LeaveAlone | Literal["excluded"]

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class PinResult:
    """One pin and what bump proposes for it.

    Attributes:
        path: the file (absolute); ``line``: where the requirement starts (1-based).
        name: the project as written; ``section``: where it sits (``"requirements"``,
            ``"constraints"``, ``"project.dependencies"``,
            ``"project.optional-dependencies.<extra>"``, ``"dependency-groups.<group>"``,
            ``"build-system.requires"``).
        now: the specifier as written (``""`` when unversioned).
        latest: the newest release the rules allow, whatever Python it needs (None:
            not looked up, or no release).
        proposed: the new specifier; None when the pin stays as written.
        version: the release ``proposed`` was computed from.
        bump: ``"major"``, ``"minor"``, ``"patch"``, ``"pre"`` or ``"unknown"``, from the old
            minimum to ``version``.
        skipped: why newer releases were passed over (``requires-python``).
        not_checked: why the pin was not looked up (``"unversioned"``, ``"url"``,
            ``"path"``, ``"vcs"``, ``"editable"``, ``"unparsable-version"``,
            ``"excluded"``).
        together: the other pins of the same project (``"file:line"``), bumped to the
            same version.
        note: a reason the proposal could not be made in full.
        held_back_by: (``--consistent``) the other pins whose requirements keep this
            one below ``latest``.
        edits: the replacements :func:`pipfresh.apply` makes for this pin.
    """

    path: Path
    line: int
    name: str
    section: str
    now: str
    latest: str | None = None
    proposed: str | None = None
    version: str | None = None
    bump: Bump | None = None
    skipped: tuple[str, ...] = ()
    not_checked: NotChecked | None = None
    together: tuple[str, ...] = ()
    note: str | None = None
    held_back_by: tuple[Holder, ...] = ()
    edits: tuple[Edit, ...] = field(default=(), repr=False)

    @property
    def changes(self) -> bool:
        return bool(self.edits)


@dataclass(frozen=True, slots=True)
class BumpReport:
    """Every pin of the files read, in file order, and the projects that could not be
    looked up.

    Attributes:
        files: the files read (each a ``DepFile``: ``path``, ``kind``, ``text``,
            ``pins``, ``includes``), in the order first met, includes after the file
            naming them.
        pins: one :class:`PinResult` per requirement of those files, in file order.
        errors: the projects no index could answer (``name``, ``reason``); their pins
            stay as written.
        python: the Python requirements files were judged for (``"3.12.1"``), None
            when none was needed.
        warnings: one line each, about the run rather than a pin.
        seconds: how long :func:`pipfresh.bump` took.
        root: the folder ``file:line`` places are shown relative to.

    ``changes`` are the pins to rewrite; ``edits`` every replacement :func:`pipfresh.apply`
    makes; ``where(pin)`` is a pin's ``file:line`` as shown.
    """

    files: tuple[DepFile, ...]
    pins: tuple[PinResult, ...]
    errors: tuple[ProjectError, ...] = ()
    python: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    root: Path | None = field(default=None, compare=False)  # paths are shown relative to it

    @property
    def changes(self) -> tuple[PinResult, ...]:
        return tuple(p for p in self.pins if p.changes)

    @property
    def edits(self) -> tuple[Edit, ...]:
        return tuple(e for p in self.pins for e in p.edits)

    def where(self, pin: PinResult) -> str:
        return f"{self.shown(pin.path)}:{pin.line}"

    def shown(self, path: Path) -> str:
        if self.root is not None:
            try:
                return str(path.relative_to(self.root))
            except ValueError:
                pass
        return str(path)


def _describe_not_checked(reason: NotChecked) -> str:
    return {
        "unversioned": "no version to raise",
        "url": "a URL requirement",
        "path": "a local path",
        "vcs": "a VCS requirement",
        "editable": "an editable requirement",
        "unparsable-version": "a version pipfresh cannot rewrite",
        "excluded": "excluded",
    }[reason]


def render_table(report: BumpReport, out: TextIO, *, color: bool, width: int | None) -> None:
    """The changes as a table (File:line, Package, Now, Latest, Proposed, Bump), then
    the pins left alone, the releases skipped, the errors and a summary line."""
    from pipfresh.ui.table import BUMP_STYLES, _lines, _sgr_shown

    color = color and _sgr_shown(out)
    text: list[str] = []
    rows = report.changes
    if rows:
        header = ["File:line", "Package", "Now", "Latest", "Proposed", "Bump"]
        lines: list[tuple[list[str], str]] = [(header, "bold")]
        for pin in rows:
            cells = [
                printable(report.where(pin)),
                printable(pin.name),
                printable(pin.now),
                printable(pin.latest or "-"),
                printable(pin.proposed or ""),
                pin.bump or "",
            ]
            lines.append((cells, BUMP_STYLES.get(pin.bump or "", "")))
        text.append(_layout(lines, color, width))
    notes: list[str] = []
    for pin in report.pins:
        where = printable(report.where(pin))
        name = printable(pin.name)
        if pin.not_checked is not None:
            notes.append(f"{where}: {name}: left alone ({_describe_not_checked(pin.not_checked)})")
        if pin.together and pin.changes:
            notes.append(
                f"{where}: {name}: bumped together with {', '.join(map(printable, pin.together))}"
            )
        if pin.skipped:
            more = len(pin.skipped) - 1
            extra = f" (and {more} more)" if more else ""
            notes.append(f"{where}: {name}: {printable(pin.skipped[0])}{extra}")
        if pin.note:
            notes.append(f"{where}: {name}: {printable(pin.note)}")
        if pin.held_back_by:
            notes.append(f"{where}: {name}: held back by {printable(held_text(pin.held_back_by))}")
    text += [_lines(note, "", color) for note in notes]
    for error in report.errors:
        text.append(
            _lines(f"error: {printable(error.name)}: {printable(error.reason)}", "red", color)
        )
    checked = sum(1 for p in report.pins if p.not_checked is None)
    left = len(report.pins) - checked
    files = len(report.files)
    summary = (
        f"{checked} pin{'s' * (checked != 1)} checked in {files} file{'s' * (files != 1)}, "
        f"{len(rows)} to bump"
    )
    if left:
        summary += f", {left} left alone"
    if report.errors:
        summary += f", {len(report.errors)} error{'s' * (len(report.errors) != 1)}"
    # Not when a pin stays for a reason of its own (a blocking clause, a holder).
    stays = any(p.note or p.held_back_by for p in report.pins)
    if not rows and not report.errors and checked and not stays:
        summary += ": every pin admits the newest eligible release"
    text.append(_lines(f"{summary} in {report.seconds:.2f} s", "", color))
    out.write("".join(text))


def _layout(lines: list[tuple[list[str], str]], color: bool, width: int | None) -> str:
    """Columns two spaces apart, the last one ragged; past ``width`` the Bump column
    goes first, then the Latest one."""
    from pipfresh.ui.table import _cells, _paint

    def sizes(rows: list[tuple[list[str], str]]) -> list[int]:
        columns = zip(*(cells for cells, _ in rows), strict=True)
        return [max(_cells(cell) for cell in column) for column in columns]

    def total(rows: list[tuple[list[str], str]]) -> int:
        found = sizes(rows)
        return sum(found) + 2 * (len(found) - 1)

    for drop in ("Bump", "Latest"):
        if width is None or total(lines) <= width:
            break
        i = lines[0][0].index(drop)
        lines = [([c for j, c in enumerate(cells) if j != i], style) for cells, style in lines]
    widths = sizes(lines)
    out = []
    for cells, style in lines:
        row = "  ".join(c + " " * (w - _cells(c)) for c, w in zip(cells, widths, strict=True))
        out.append(_paint(row.rstrip(), style, color) + "\n")
    return "".join(out)


def pin_dict(report: BumpReport, pin: PinResult) -> dict[str, Any]:
    return {
        "file": report.shown(pin.path),
        "line": pin.line,
        "package": pin.name,
        "section": pin.section,
        "now": pin.now,
        "latest": pin.latest,
        "proposed": pin.proposed,
        "version": pin.version,
        "bump": pin.bump,
        "changes": pin.changes,
        "skipped": list(pin.skipped),
        "left_alone": pin.not_checked,
        "bumped_with": list(pin.together),
        "note": pin.note,
        "held_back_by": [
            {"name": h.name, "version": h.version, "requirement": h.requirement}
            for h in pin.held_back_by
        ],
    }


def held_text(holders: Iterable[Holder]) -> str:
    """ "a 2.0 requires b<2, c 1.1 requires b<1.9", as the scan words it."""
    return ", ".join(f"{h.name} {h.version} requires {h.requirement}" for h in holders)


def report_json(report: BumpReport) -> str:
    """The report as the versioned JSON document the README describes."""
    document = {
        "version": SCHEMA_VERSION,
        "python": report.python,
        "files": [report.shown(f.path) for f in report.files],
        "pins": [pin_dict(report, p) for p in report.pins],
        "errors": [{"name": e.name, "reason": e.reason} for e in report.errors],
        "warnings": list(report.warnings),
        "summary": {
            "pins": len(report.pins),
            "changes": len(report.changes),
            "left_alone": sum(1 for p in report.pins if p.not_checked is not None),
            "errors": len(report.errors),
            "seconds": round(report.seconds, 3),
        },
    }
    return json.dumps(document, indent=2) + "\n"


def files_changed(report: BumpReport) -> Iterable[Path]:
    return dict.fromkeys(e.path for e in report.edits)
