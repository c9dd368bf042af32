"""pipfresh._bump.choose: the rows bump --interactive shows and what a pick keeps."""

from __future__ import annotations

from pathlib import Path

from pipfresh._bump.choose import held_lines, only, rows_of
from pipfresh._bump.model import Edit, Span
from pipfresh._bump.report import BumpReport, PinResult

ROOT = Path("/p")
REQ = ROOT / "requirements.txt"
PYPROJECT = ROOT / "pyproject.toml"


def pin(
    path: Path,
    line: int,
    name: str,
    now: str,
    proposed: str | None,
    *,
    bump: str | None = None,
    **kw: object,
) -> PinResult:
    edits = (Edit(path, Span(0, 1), proposed),) if proposed else ()
    return PinResult(
        path,
        line,
        name,
        "requirements",
        now,
        proposed=proposed,
        version=proposed and proposed.strip("=<>~"),
        bump=bump,
        edits=edits,
        **kw,
    )  # type: ignore[arg-type]


REPORT = BumpReport(
    files=(),
    pins=(
        pin(REQ, 1, "Requests", "==2.25.0", "==2.34.2", bump="minor"),
        pin(PYPROJECT, 7, "requests", ">=2.25", ">=2.34", bump="minor"),
        pin(REQ, 2, "flask", ">=1.0,<2", ">=3.1,<4", bump="major"),
        pin(REQ, 3, "numpy", "~=1.20", None, note="skipped 2.4.0: requires Python >=3.11"),
        pin(REQ, 4, "six", "", None),
    ),
    root=ROOT,
)


def test_one_row_per_project_grouped_by_level_naming_every_pin() -> None:
    rows = rows_of(REPORT)
    assert [(r.name, r.before, r.after, r.level, r.reason) for r in rows] == [
        ("flask", ">=1.0,<2", ">=3.1,<4", "major", "requirements.txt:2"),
        ("Requests", "==2.25.0", "==2.34.2", "minor", "requirements.txt:1, pyproject.toml:7"),
    ]


def test_held_lines_say_why_a_pin_stays() -> None:
    assert held_lines(REPORT) == [
        "requirements.txt:3 numpy ~=1.20: skipped 2.4.0: requires Python >=3.11"
    ]


def test_only_keeps_the_picked_projects_in_every_file() -> None:
    narrowed = only(REPORT, ["requests"])
    assert [p.name for p in narrowed.changes] == ["Requests", "requests"]
    assert len(narrowed.edits) == 2
    flask = narrowed.pins[2]
    assert flask.proposed is None
    assert not flask.changes
    assert only(REPORT, []).edits == ()
