"""The terminal table of a hand-built Report, compared exactly, and ``format_age``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest

from pipfresh.models import PackageStatus, ProjectError, Report, Summary, TargetEnv
from pipfresh.ui.table import format_age, render_table

NOW = datetime(2024, 9, 10, 12, 0, tzinfo=timezone.utc)
ENV = TargetEnv(
    python="/envs/demo/bin/python",
    python_version="3.11.7",
    implementation="cpython",
    prefix="/envs/demo",
    sys_path=("/envs/demo/lib/python3.11/site-packages",),
    markers={"python_version": "3.11"},
    tags=("py3-none-any",),
)


def hand_built_report() -> Report:
    # The same report as tests/unit/test_serialize.py, built here so each file stands alone.
    from pipfresh.models import Holder

    packages = (
        PackageStatus(
            "boto3", "1.34.0", latest="1.34.0", wanted="1.34.0", bump=None, released=None
        ),
        PackageStatus(
            "botocore",
            "1.34.0",
            latest="1.35.10",
            wanted="1.34.162",
            bump="minor",
            released="2024-08-30T12:00:00Z",
            held_back_by=(Holder("boto3", "1.34.0", "botocore<1.35,>=1.34.0"),),
        ),
        PackageStatus(
            "localpkg", "0.1", latest=None, wanted=None, bump=None, released=None, kind="editable"
        ),
        PackageStatus(
            "requests",
            "2.25.0",
            latest="2.32.3",
            wanted="2.32.3",
            bump="minor",
            released="2024-05-29T15:37:47Z",
        ),
    )
    errors = (ProjectError("ghost", "not found on any index (http://127.0.0.1:8080/simple)"),)
    return Report(ENV, packages, errors, Summary(checked=5, outdated=2, errors=1, seconds=0.42))


def render(report: Report, *, include_all: bool = False, width: int = 100) -> str:
    out = StringIO()
    render_table(report, out, include_all=include_all, color=False, width=width, now=NOW)
    return out.getvalue()


def lines(*rows: str) -> str:
    """The expected text; rows are written padded for readability, output has no
    trailing spaces."""
    return "\n".join(row.rstrip() for row in rows) + "\n"


HEADER = "/envs/demo (Python 3.11.7)"
ERROR = "error: ghost: not found on any index (http://127.0.0.1:8080/simple)"


def test_outdated_with_wanted_and_held_back_columns() -> None:
    assert render(hand_built_report()) == lines(
        HEADER,
        "Package   Installed  Wanted    Latest   Bump   Released  Held back by"
        "                         ",
        "botocore  1.34.0     1.34.162  1.35.10  minor  11 days   "
        "boto3 1.34.0 (botocore<1.35,>=1.34.0)",
        "requests  2.25.0     2.32.3    2.32.3   minor  3 months  "
        "                                     ",
        ERROR,
        "5 checked, 2 outdated, 1 error in 0.42 s",
    )


def test_all_lists_up_to_date_and_editable_packages() -> None:
    assert render(hand_built_report(), include_all=True) == lines(
        HEADER,
        "Package   Installed  Wanted    Latest      Bump   Released  Held back by"
        "                         ",
        "boto3     1.34.0     1.34.0    1.34.0                                    "
        "                        ",
        "botocore  1.34.0     1.34.162  1.35.10     minor  11 days   "
        "boto3 1.34.0 (botocore<1.35,>=1.34.0)",
        "localpkg  0.1        -         (editable)                                "
        "                        ",
        "requests  2.25.0     2.32.3    2.32.3      minor  3 months  "
        "                                     ",
        ERROR,
        "5 checked, 2 outdated, 1 error in 0.42 s",
    )


def test_plain_columns_when_nothing_is_held_back() -> None:
    report = Report(
        ENV,
        (
            PackageStatus(
                "requests", "2.25.0", "2.32.3", "2.32.3", "minor", "2024-05-29T15:37:47Z"
            ),
            PackageStatus("six", "1.15.0", "1.16.0", "1.16.0", "patch", None),
            PackageStatus("urllib3", "1.26.0", "2.2.2", "2.2.2", "major", "2024-09-09T12:00:00Z"),
        ),
        (),
        Summary(3, 3, 0, 0.1),
    )
    assert render(report) == lines(
        HEADER,
        "Package   Installed  Latest  Bump   Released",
        "requests  2.25.0     2.32.3  minor  3 months",
        "six       1.15.0     1.16.0  patch          ",
        "urllib3   1.26.0     2.2.2   major  1 day   ",
        "3 checked, 3 outdated, 0 errors in 0.10 s",
    )


def test_everything_up_to_date() -> None:
    report = Report(
        ENV,
        (PackageStatus("six", "1.16.0", "1.16.0", "1.16.0", None, None),),
        (),
        Summary(1, 0, 0, 0.1),
    )
    assert render(report) == lines(
        HEADER,
        "All 1 checked packages are up to date.",
        "1 checked, 0 outdated, 0 errors in 0.10 s",
    )


def test_no_colour_codes_when_colour_is_off() -> None:
    assert "\x1b[" not in render(hand_built_report(), include_all=True)


def test_colour_by_bump_level() -> None:
    out = StringIO()
    render_table(hand_built_report(), out, include_all=False, color=True, width=100, now=NOW)
    text = out.getvalue()
    assert "\x1b[33mbotocore" in text  # minor: yellow
    assert "\x1b[31merror: ghost" in text  # errors: red


def test_each_error_stays_on_one_line_at_80_columns() -> None:
    reason = "cannot connect: Connect call failed ('127.0.0.1', 1) (http://127.0.0.1:1/simple/aiohappyeyeballs/)"
    report = Report(ENV, (), (ProjectError("aiohappyeyeballs", reason),), Summary(1, 0, 1, 0.1))
    text = render(report, width=80)
    assert f"error: aiohappyeyeballs: {reason}\n" in text


def test_a_password_quoted_in_an_error_reason_is_redacted() -> None:
    reason = "HTTP 500 from http://alice:s3cr3t@127.0.0.1:8080/simple/foo/"
    report = Report(ENV, (), (ProjectError("foo", reason),), Summary(1, 0, 1, 0.1))
    text = render(report)
    assert "s3cr3t" not in text
    assert "http://alice:****@127.0.0.1:8080/simple/foo/" in text


def test_summary_line_is_grammatical_for_one_error() -> None:
    report = Report(ENV, (), (ProjectError("foo", "HTTP 500"),), Summary(1, 0, 1, 0.1))
    assert render(report).splitlines()[-1] == "1 checked, 0 outdated, 1 error in 0.10 s"


# --------------------------------------------------------------------------------------
# format_age
# --------------------------------------------------------------------------------------


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("uploaded", "expected"),
    [
        (None, ""),
        ("", ""),
        ("not a time", ""),
        (ago(days=-2), "just now"),  # in the future: clock skew
        (ago(minutes=30), "just now"),
        (ago(hours=1), "1 hour"),
        (ago(hours=5, minutes=59), "5 hours"),
        (ago(hours=23, minutes=59), "23 hours"),
        (ago(days=1), "1 day"),
        (ago(days=2), "2 days"),
        (ago(days=59), "59 days"),
        (ago(days=61), "2 months"),
        (ago(days=365), "11 months"),
        (ago(days=729), "23 months"),
        (ago(days=731), "2 years"),
        (ago(days=3653), "10 years"),
        ("2024-09-09T12:00:00", "1 day"),  # no zone: UTC
        ("2024-09-09T14:00:00+02:00", "1 day"),
        ("2024-09-09T12:00:00.123456Z", "23 hours"),  # a moment less than a day
    ],
)
def test_format_age(uploaded: str | None, expected: str) -> None:
    assert format_age(uploaded, NOW) == expected


@pytest.mark.parametrize("days", [60, 730])
def test_format_age_never_says_one_months_or_one_years(days: int) -> None:
    age = format_age(ago(days=days), NOW)
    assert age in {"2 months", "24 months", "2 years"}, age


def test_a_narrow_console_never_cuts_names_or_versions() -> None:
    text = render(hand_built_report(), width=40)
    assert "…" not in text
    assert "botocore  1.34.0     1.34.162  1.35.10  minor" in text
    assert "boto3 1.34.0 (botocore<1.35,>=1.34.0)" in text
    assert all(line == line.rstrip() for line in text.splitlines())
