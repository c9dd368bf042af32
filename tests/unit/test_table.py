"""The terminal table of a hand-built Report, compared exactly, and ``format_age``."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest

from pipfresh.models import Holder, PackageStatus, Problem, ProjectError, Report, Summary, TargetEnv
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
            latest_released="2024-09-08T12:00:00Z",
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


def render(report: Report, *, include_all: bool = False, color: bool = False) -> str:
    out = StringIO()
    render_table(report, out, include_all=include_all, color=color, now=NOW)
    return out.getvalue()


def sgr(code: str, text: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m"


def lines(*rows: str) -> str:
    """The expected text; rows are written padded for readability, output has no
    trailing spaces."""
    return "\n".join(row.rstrip() for row in rows) + "\n"


HEADER = "/envs/demo (Python 3.11.7)"
ERROR = "error: ghost: not found on any index (http://127.0.0.1:8080/simple)"


def test_outdated_with_wanted_and_held_back_columns() -> None:
    assert render(hand_built_report()) == lines(
        HEADER,
        "Package   Installed  Wanted    Latest   Bump   Released                  Held back by",
        "botocore  1.34.0     1.34.162  1.35.10  minor  2 days (wanted: 11 days)  "
        "boto3 1.34.0 (botocore<1.35,>=1.34.0)",
        "requests  2.25.0     2.32.3    2.32.3   minor  3 months",
        ERROR,
        "4 checked, 2 outdated, 1 error, 1 not checked (editable or direct URL) in 0.42 s",
    )


def test_all_lists_up_to_date_and_editable_packages() -> None:
    assert render(hand_built_report(), include_all=True) == lines(
        HEADER,
        "Package   Installed  Wanted    Latest      Bump   Released                  Held back by",
        "boto3     1.34.0     1.34.0    1.34.0",
        "botocore  1.34.0     1.34.162  1.35.10     minor  2 days (wanted: 11 days)  "
        "boto3 1.34.0 (botocore<1.35,>=1.34.0)",
        "localpkg  0.1        -         (editable)",
        "requests  2.25.0     2.32.3    2.32.3      minor  3 months",
        ERROR,
        "4 checked, 2 outdated, 1 error, 1 not checked (editable or direct URL) in 0.42 s",
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
        "The 1 checked package is up to date.",
        "1 checked, 0 outdated, 0 errors in 0.10 s",
    )


def test_no_colour_codes_when_colour_is_off() -> None:
    assert "\x1b[" not in render(hand_built_report(), include_all=True)


def test_each_error_stays_on_one_line() -> None:
    reason = "cannot connect: Connect call failed ('127.0.0.1', 1) (http://127.0.0.1:1/simple/aiohappyeyeballs/)"
    report = Report(ENV, (), (ProjectError("aiohappyeyeballs", reason),), Summary(1, 0, 1, 0.1))
    assert f"\nerror: aiohappyeyeballs: {reason}\n" in render(report)


def test_control_characters_from_names_and_metadata_are_shown_escaped() -> None:
    """An installed Name or an index's version holding ESC sequences would retitle the
    window, clear the screen and print a fake line: they are printed escaped."""
    evil = "evil\x1b]0;pwned\x1b[2J\x1b[HAll packages verified OK"
    package = PackageStatus(evil, "1.0", "2.0", "2.0\x1b[31m", "major", None, "index")
    report = Report(ENV, (package,), (ProjectError(evil, "not found"),), Summary(2, 1, 1, 0.1))
    text = render(report)
    assert "\x1b" not in text
    assert "error: evil\\x1b]0;pwned\\x1b[2J\\x1b[HAll packages verified OK: not found" in text
    assert "2.0\\x1b[31m" in text


def test_a_password_quoted_in_an_error_reason_is_redacted() -> None:
    reason = "HTTP 500 from http://alice:s3cr3t@127.0.0.1:8080/simple/foo/"
    report = Report(ENV, (), (ProjectError("foo", reason),), Summary(1, 0, 1, 0.1))
    text = render(report)
    assert "s3cr3t" not in text
    assert "http://alice:****@127.0.0.1:8080/simple/foo/" in text


def test_summary_line_is_grammatical_for_one_error() -> None:
    report = Report(ENV, (), (ProjectError("foo", "HTTP 500"),), Summary(1, 0, 1, 0.1))
    assert render(report).splitlines()[-1] == "1 checked, 0 outdated, 1 error in 0.10 s"


def test_held_back_column_without_wanted() -> None:
    report = Report(
        ENV,
        (
            PackageStatus(
                "mpmath",
                "1.3.0",
                "1.4.1",
                "1.4.1",
                "minor",
                None,
                held_back_by=(Holder("sympy", "1.13.1", "mpmath<1.4"),),
            ),
            PackageStatus("six", "1.15.0", "1.16.0", "1.16.0", "patch", None),
        ),
        (),
        Summary(2, 2, 0, 0.1),
    )
    assert render(report) == lines(
        HEADER,
        "Package  Installed  Latest  Bump   Released  Held back by",
        "mpmath   1.3.0      1.4.1   minor            sympy 1.13.1 (mpmath<1.4)",
        "six      1.15.0     1.16.0  patch",
        "2 checked, 2 outdated, 0 errors in 0.10 s",
    )


def bump_levels() -> Report:
    return Report(
        ENV,
        (
            PackageStatus("alpha", "1.0", "2.0", "2.0", "major", "2024-09-03T12:00:00Z"),
            PackageStatus("beta", "1.0", "1.1", "1.1", "minor", None),
            PackageStatus("gamma", "1.0.0", "1.0.1", "1.0.1", "patch", None),
            PackageStatus("delta", "1.0", "1.1b1", "1.1b1", "pre", None),
            PackageStatus("epsilon", "1.0", "1.0", "1.0", None, None),
            PackageStatus("zeta", "7", "8", "8", "unknown", None),
        ),
        (ProjectError("ghost", "HTTP 404"),),
        Summary(7, 5, 1, 0.25),
        problems=(Problem("alpha", "1.0", "beta>=2", "beta", "1.0"),),
    )


def test_every_bump_level_problems_and_errors_plain() -> None:
    assert render(bump_levels(), include_all=True) == lines(
        HEADER,
        "Package  Installed  Latest  Bump     Released",
        "alpha    1.0        2.0     major    7 days",
        "beta     1.0        1.1     minor",
        "gamma    1.0.0      1.0.1   patch",
        "delta    1.0        1.1b1   pre",
        "epsilon  1.0        1.0",
        "zeta     7          8       unknown",
        "warning: the installed packages are already inconsistent:",
        "  alpha 1.0 requires beta>=2, but beta 1.0 is installed",
        "error: ghost: HTTP 404",
        "7 checked, 5 outdated, 1 error in 0.25 s",
    )


def test_every_bump_level_problems_and_errors_coloured() -> None:
    # Whole lines coloured, one colour per row; rows that are not outdated (and an
    # unknown bump) stay plain, as do the problem lines and the summary.
    assert render(bump_levels(), include_all=True, color=True) == lines(
        sgr("1", HEADER),
        sgr("1", "Package  Installed  Latest  Bump     Released"),
        sgr("31", "alpha    1.0        2.0     major    7 days"),
        sgr("33", "beta     1.0        1.1     minor"),
        sgr("32", "gamma    1.0.0      1.0.1   patch"),
        sgr("35", "delta    1.0        1.1b1   pre"),
        "epsilon  1.0        1.0",
        "zeta     7          8       unknown",
        sgr("31", "warning: the installed packages are already inconsistent:"),
        "  alpha 1.0 requires beta>=2, but beta 1.0 is installed",
        sgr("31", "error: ghost: HTTP 404"),
        "7 checked, 5 outdated, 1 error in 0.25 s",
    )


def test_coloured_with_wanted_and_held_back_columns() -> None:
    # The colour closes before the line ends: no padding is left inside it either.
    assert render(hand_built_report(), color=True) == lines(
        sgr("1", HEADER),
        sgr(
            "1",
            "Package   Installed  Wanted    Latest   Bump   Released                  Held back by",
        ),
        sgr(
            "33",
            "botocore  1.34.0     1.34.162  1.35.10  minor  2 days (wanted: 11 days)  "
            "boto3 1.34.0 (botocore<1.35,>=1.34.0)",
        ),
        sgr("33", "requests  2.25.0     2.32.3    2.32.3   minor  3 months"),
        sgr("31", ERROR),
        "4 checked, 2 outdated, 1 error, 1 not checked (editable or direct URL) in 0.42 s",
    )


def test_wide_and_combining_characters_are_measured_in_columns() -> None:
    report = Report(
        ENV,
        (
            PackageStatus(
                "日本語パッケージ",  # 8 characters, 16 columns
                "1.0",
                "2.0",
                "2.0",
                "major",
                None,
                held_back_by=(Holder("caf\u00e9", "1", "日本語パッケージ<2"),),
            ),
            PackageStatus("cafe\u0301", "1.0", "1.1", "1.1", "minor", None),  # 4 columns
            PackageStatus("six", "1.15.0", "1.16.0", "1.16.0", "patch", None),
        ),
        (),
        Summary(3, 3, 0, 0.1),
    )
    assert render(report) == lines(
        HEADER,
        "Package           Installed  Latest  Bump   Released  Held back by",
        "日本語パッケージ  1.0        2.0     major            caf\u00e9 1 (日本語パッケージ<2)",
        "cafe\u0301              1.0        1.1     minor",
        "six               1.15.0     1.16.0  patch",
        "3 checked, 3 outdated, 0 errors in 0.10 s",
    )


def test_empty_report() -> None:
    report = Report(ENV, (), (), Summary(0, 0, 0, 0.0))
    assert render(report) == lines(HEADER, "0 checked, 0 outdated, 0 errors in 0.00 s")
    assert render(report, color=True) == lines(
        sgr("1", HEADER), "0 checked, 0 outdated, 0 errors in 0.00 s"
    )


def test_errors_only_no_table() -> None:
    report = Report(
        ENV,
        (),
        (ProjectError("ghost", "HTTP 404"), ProjectError("broken", "HTTP 500")),
        Summary(2, 0, 2, 0.1),
    )
    assert render(report, color=True) == lines(
        sgr("1", HEADER),
        sgr("31", "error: ghost: HTTP 404"),
        sgr("31", "error: broken: HTTP 500"),
        "2 checked, 0 outdated, 2 errors in 0.10 s",
    )


def test_a_reason_on_several_lines_is_coloured_line_by_line() -> None:
    # Each line closes its colour, so a pager showing only the second still reads red;
    # the carriage return and bell are dropped (a bare return would hide what precedes it).
    reason = "first line\nsecond\tline\r with a bell\x07"
    report = Report(ENV, (), (ProjectError("multi", reason),), Summary(1, 0, 1, 0.1))
    assert render(report) == lines(
        HEADER,
        "error: multi: first line",
        "second  line with a bell",
        "1 checked, 0 outdated, 1 error in 0.10 s",
    )
    assert render(report, color=True) == lines(
        sgr("1", HEADER),
        sgr("31", "error: multi: first line"),
        sgr("31", "second  line with a bell"),
        "1 checked, 0 outdated, 1 error in 0.10 s",
    )


def test_long_lines_are_never_wrapped_or_cut() -> None:
    prefix = "/envs/" + "very-long-directory-name/" * 8 + "demo"
    name = "a-project-whose-name-is-longer-than-any-terminal-is-wide-" * 2 + "end"
    report = Report(
        dataclasses.replace(ENV, prefix=prefix),
        (PackageStatus(name, "1.0", "2.0", "2.0", "major", None),),
        (),
        Summary(1, 1, 0, 0.1),
    )
    text = render(report)
    assert text.splitlines()[0] == f"{prefix} (Python 3.11.7)"
    assert text.splitlines()[2] == f"{name}  1.0        2.0     major"
    assert "…" not in text


def test_drawing_the_table_imports_no_rich() -> None:
    # The point of drawing the table by hand: rich.console costs ~20 ms to import and its
    # Table ~100 ms for a hundred rows; non-ASCII cells are measured with unicodedata.
    code = """
import sys
from io import StringIO
from pipfresh.models import PackageStatus, ProjectError, Report, Summary, TargetEnv
from pipfresh.ui.table import render_table
env = TargetEnv("/p/bin/python", "3.11.7", "cpython", "/p", (), {}, ())
packages = (
    PackageStatus("\u65e5\u672c", "1.0", "2.0", "2.0", "major", "2024-01-01T00:00:00Z"),
    PackageStatus("six", "1.15.0", "1.16.0", "1.16.0", "patch", None),
)
report = Report(env, packages, (ProjectError("x", "HTTP 500"),), Summary(3, 2, 1, 0.1))
render_table(report, StringIO(), include_all=True, color=True)
print(" ".join(sorted(m for m in sys.modules if m == "rich" or m.startswith("rich."))))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == []


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


def test_target_names_the_latest_column_and_a_latest_below_installed_is_marked() -> None:
    report = hand_built_report()
    older = PackageStatus("rolled", "3.0", latest="2.9", wanted="2.9", bump=None, released=None)
    report = dataclasses.replace(report, packages=(*report.packages, older))
    out = StringIO()
    render_table(report, out, include_all=True, color=False, now=NOW, target="minor")
    text = out.getvalue()
    assert "  Latest minor  " in text.splitlines()[1]
    assert "rolled    3.0        2.9       2.9 (below installed)" in text


@pytest.mark.parametrize("width", [60, 80, 200])
def test_the_table_fits_the_width_dropping_columns_in_order(width: int) -> None:
    out = StringIO()
    render_table(hand_built_report(), out, include_all=False, color=False, now=NOW, width=width)
    rows = out.getvalue().splitlines()[1:4]
    assert all(len(row) <= width for row in rows), rows
    header = rows[0].split()
    assert header[:2] == ["Package", "Installed"]
    assert "Latest" in header
    if width >= 200:
        assert "Released" in header
    if width <= 80:
        assert "Released" not in header
        assert rows[1].startswith("botocore  1.34.0")


def test_only_direct_url_installs_are_not_called_up_to_date() -> None:
    report = Report(
        ENV,
        (PackageStatus("local", "1.0", None, None, None, None, kind="direct_url"),),
        (),
        Summary(1, 0, 0, 0.1),
    )
    text = render(report, include_all=True)
    assert "up to date" not in text
    assert text.endswith(
        "0 checked, 0 outdated, 0 errors, 1 not checked (editable or direct URL) in 0.10 s\n"
    )


def test_up_to_date_counts_only_what_was_looked_up() -> None:
    report = Report(
        ENV,
        (
            PackageStatus("six", "1.16.0", "1.16.0", "1.16.0", None, None),
            PackageStatus("idna", "3.7", "3.7", "3.7", None, None),
            PackageStatus("local", "1.0", None, None, None, None, kind="editable"),
        ),
        (),
        Summary(3, 0, 0, 0.1),
    )
    assert "\nAll 2 checked packages are up to date.\n" in render(report)
