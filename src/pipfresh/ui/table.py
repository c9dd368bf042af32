"""The terminal report: a table of outdated packages, coloured by bump level.

The only module, with ui/progress.py, that talks to the terminal. rich is imported
here and only when a table is actually drawn.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TextIO

from pipfresh.auth import redact_text
from pipfresh.models import PackageStatus, Report

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


def render_table(
    report: Report,
    out: TextIO,
    *,
    include_all: bool,
    color: bool,
    width: int | None = None,
    now: datetime | None = None,
) -> None:
    """Write the header line, the table and the per-project error lines to ``out``."""
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    now = now or datetime.now(timezone.utc)
    console = Console(
        file=out,
        width=width,
        color_system="standard" if color else None,
        no_color=not color,
        force_terminal=color,
        highlight=False,
        soft_wrap=False,
    )
    env = report.environment
    console.print(
        Text(f"{env.prefix} (Python {env.python_version})", style="bold" if color else "")
    )
    rows = report.packages if include_all else report.outdated
    show_wanted = any(p.wanted != p.latest for p in rows)
    show_held = any(p.held_back_by for p in rows)
    if rows:
        table = Table(
            box=None, pad_edge=False, show_edge=False, header_style="bold" if color else ""
        )
        table.add_column("Package", no_wrap=True)
        table.add_column("Installed", no_wrap=True)
        if show_wanted:
            table.add_column("Wanted", no_wrap=True)
        table.add_column("Latest", no_wrap=True)
        table.add_column("Bump", no_wrap=True)
        table.add_column("Released", no_wrap=True)
        if show_held:
            table.add_column("Held back by")
        for p in rows:
            style = BUMP_STYLES.get(p.bump or "", "") if color else ""
            latest = p.latest or (
                "(" + p.kind.replace("_", " ") + ")" if p.kind != "index" else "-"
            )
            cells = [p.name, p.installed]
            if show_wanted:
                cells.append(p.wanted or "-")
            cells += [latest, p.bump or "", format_age(p.released, now)]
            if show_held:
                cells.append(_held_back(p))
            table.add_row(*cells, style=style)
        # Versions and names are never cut short: a table wider than the terminal
        # (or than rich's 80-column default for pipes) widens the console instead.
        needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
        console.width = max(console.width, needed)
        with console.capture() as captured:
            console.print(table)
        # rich pads every row to the widest cell of the last column.
        out.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    if report.problems:
        # Before the per-project errors: a broken install is worth reading first, and
        # the upgrade advice above is computed from the ranges these lines break.
        console.print(
            Text(
                "warning: the installed packages are already inconsistent:",
                style="red" if color else "",
            ),
            soft_wrap=True,
        )
        for problem in report.problems:
            console.print(Text("  " + problem.message), soft_wrap=True)
    s = report.summary
    if not report.outdated and not report.errors and s.checked:
        console.print(f"All {s.checked} checked packages are up to date.")
    for error in report.errors:
        line = f"error: {error.name}: {redact_text(error.reason, ())}"
        # soft_wrap: a reason stays on one line however narrow the terminal.
        console.print(Text(line, style="red" if color else ""), soft_wrap=True)
    errors = f"{s.errors} error{'s' * (s.errors != 1)}"
    console.print(f"{s.checked} checked, {s.outdated} outdated, {errors} in {s.seconds:.2f} s")
