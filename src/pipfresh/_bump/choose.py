"""``pipfresh bump --interactive``: which of the proposed bumps to make.

One row per project (its pins in several files move together, so they are chosen
together), grouped by bump level in the update picker (:mod:`pipfresh.ui.picker`);
the pins that stay below the newest release, and why, are listed under it. Choosing
is pure here: :func:`rows_of` and :func:`held_lines` feed the picker, and
:func:`only` narrows the report to what was picked, so the table, the diff and the
write that follow see only that.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from packaging.utils import canonicalize_name

from pipfresh._bump.report import BumpReport, PinResult
from pipfresh.ui.picker import Row, Texts

TEXTS = Texts(
    title="Pins to raise",
    hint="each project's pins in every file move together; the files are written on enter",
    held="Not raised:",
)


def rows_of(report: BumpReport) -> tuple[Row, ...]:
    """Pure: one row per project with a change, named as its first pin writes it."""
    by_project: dict[str, list[PinResult]] = {}
    for pin in report.changes:
        by_project.setdefault(canonicalize_name(pin.name), []).append(pin)
    rows: list[Row] = []
    for pins in by_project.values():
        first = pins[0]
        where = ", ".join(report.where(p) for p in pins)
        rows.append(
            Row(first.name, first.now, first.proposed or "", first.bump or "unknown", where)
        )
    order = {"major": 0, "minor": 1, "patch": 2, "pre": 3, "unknown": 4}
    return tuple(sorted(rows, key=lambda r: order[r.level]))


def held_lines(report: BumpReport) -> list[str]:
    """Pure: the pins that stay below the newest release, with why."""
    lines: list[str] = []
    for pin in report.pins:
        why = pin.note or (pin.skipped[0] if pin.skipped else None)
        if not pin.changes and why:
            lines.append(f"{report.where(pin)} {pin.name} {pin.now}: {why}")
    return lines


def only(report: BumpReport, names: Iterable[str]) -> BumpReport:
    """Pure: ``report`` with the changes of projects not in ``names`` taken back."""
    keep = {canonicalize_name(n) for n in names}
    pins = tuple(
        pin
        if not pin.changes or canonicalize_name(pin.name) in keep
        else dataclasses.replace(pin, proposed=None, version=None, bump=None, edits=())
        for pin in report.pins
    )
    return dataclasses.replace(report, pins=pins)
