"""Installed requirements judged for a target: markers, extras in use, broken lines, and
the inconsistencies ``pip check`` would report. Ordered tables of cases."""

from __future__ import annotations

import pytest
from packaging.version import Version

from pipfresh.models import InstalledDist, Problem
from pipfresh.requirements import Analysis, analyse, only_for_extras, parse_requirement
from support.targets import LINUX_311_MARKERS as LINUX_311


def dist(name: str, version: str, *requires: str) -> InstalledDist:
    return InstalledDist(
        name=name,
        canonical_name=name.lower().replace("_", "-"),
        version=version,
        requires=requires,
    )


def limits(analysis: Analysis, project: str) -> list[tuple[str, str]]:
    """(holder, requirement) of every constraint on ``project``."""
    return [(c.holder, c.requirement) for c in analysis.on(project)]


B = dist("b", "1.0")


@pytest.mark.parametrize(
    ("dists", "expected"),
    [
        # an unconditional cap counts
        ([dist("a", "1.0", "b<2"), B], [("a", "b<2")]),
        # two holders, in installed order
        ([dist("a", "1.0", "b<2"), dist("c", "3.0", "b>=1.5"), B], [("a", "b<2"), ("c", "b>=1.5")]),
        # a name spelled differently still limits the same project
        ([dist("a", "1.0", "B<2"), B], [("a", "B<2")]),
        # markers for another platform or Python never hold anything back
        ([dist("a", "1.0", 'b<2; sys_platform == "win32"'), B], []),
        ([dist("a", "1.0", 'b<2; platform_system == "Darwin"'), B], []),
        ([dist("a", "1.0", 'b<2; python_version < "3.8"'), B], []),
        ([dist("a", "1.0", 'b<2; python_full_version >= "3.12.0"'), B], []),
        ([dist("a", "1.0", 'b<2; implementation_name == "pypy"'), B], []),
        # ... and markers for this target do
        (
            [dist("a", "1.0", 'b<2; python_version >= "3.8" and sys_platform == "linux"'), B],
            [("a", "b<2")],
        ),
        # an extra nobody asks for does not count
        ([dist("a", "1.0", 'b<2; extra == "fast"'), B], []),
        # an extra in use does
        (
            [dist("a", "1.0", 'b<2; extra == "fast"'), dist("c", "1.0", "a[fast]"), B],
            [("a", "b<2")],
        ),
        # ... only the extra that is in use
        ([dist("a", "1.0", 'b<2; extra == "fast"'), dist("c", "1.0", "a[slow]"), B], []),
        # extras are compared normalised (PEP 685)
        (
            [dist("a", "1.0", 'b<2; extra == "fast-io"'), dist("c", "1.0", "a[Fast_IO]"), B],
            [("a", "b<2")],
        ),
        # an extra asked for under a marker that is false for the target is not in use
        (
            [
                dist("a", "1.0", 'b<2; extra == "fast"'),
                dist("c", "1.0", 'a[fast]; sys_platform == "win32"'),
                B,
            ],
            [],
        ),
        # an extra with a platform marker of its own
        (
            [
                dist("a", "1.0", 'b<2; extra == "fast" and sys_platform == "win32"'),
                dist("c", "1.0", "a[fast]"),
                B,
            ],
            [],
        ),
        # a marker with `or` may hold without the extra
        ([dist("a", "1.0", 'b<2; extra == "fast" or python_version >= "3"'), B], [("a", "b<2")]),
        # extras in use, transitively: d wants c[all], c[all] wants a[fast], a[fast] caps b
        (
            [
                dist("a", "1.0", 'b<2; extra == "fast"'),
                dist("c", "1.0", 'a[fast]; extra == "all"'),
                dist("d", "1.0", "c[all]"),
                B,
            ],
            [("a", "b<2")],
        ),
        # ... and the chain broken in the middle switches nothing on
        (
            [
                dist("a", "1.0", 'b<2; extra == "fast"'),
                dist("c", "1.0", 'a[fast]; extra == "all"'),
                dist("d", "1.0", "c"),
                B,
            ],
            [],
        ),
        # a dist asking for its own extra switches it on (celery[redis] style)
        (
            [
                dist("a", "1.0", 'b<2; extra == "fast"', 'a[fast]; extra == "all"'),
                dist("c", "1.0", "a[all]"),
                B,
            ],
            [("a", "b<2")],
        ),
        # a dist's requirement on itself limits nothing
        ([dist("a", "1.0", "a[fast]<2"), dist("b", "1.0")], []),
        # a direct reference has no range
        ([dist("a", "1.0", "b @ https://example.org/b-1.0.tar.gz"), B], []),
        # a requirement without a version range limits nothing
        ([dist("a", "1.0", "b"), B], []),
    ],
)
def test_constraints_on_b(dists: list[InstalledDist], expected: list[tuple[str, str]]) -> None:
    assert limits(analyse(dists, LINUX_311), "b") == expected


@pytest.mark.parametrize(
    "line",
    [
        "b<<2",
        "!!!",
        "",
        "b (<2",
        "b<2; sys_platform ==",
        "b<2; extra == ",
        "b>=1.0; python_version < 'three'",  # a marker whose comparison cannot be judged
    ],
)
def test_invalid_lines_are_skipped_and_the_rest_still_counts(line: str) -> None:
    analysis = analyse([dist("a", "1.0", line, "b<2"), B], LINUX_311)
    assert limits(analysis, "b") == [("a", "b<2")]


def test_parse_requirement_is_memoised_and_none_for_garbage() -> None:
    assert parse_requirement("b<2") is parse_requirement("b<2")
    assert parse_requirement("b<<2") is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('b<2; extra == "x"', True),
        ("b<2; extra == 'x'", True),
        ('b<2; python_version < "3.9" and extra == "x"', True),
        ('b<2; (extra == "x") and sys_platform == "linux"', True),
        # anything else is parsed, so doubt must answer False
        ("b<2", False),
        ('b<2; extra == "x" or python_version > "3"', False),
        ('b<2; "x" == extra', False),
        ('b<2; extra != "x"', False),
        ("b<2; extra == ''", False),
        ('extra-tools<2; python_version > "3"', False),
    ],
)
def test_only_for_extras(line: str, expected: bool) -> None:
    assert only_for_extras(line) is expected


def test_extras_in_use_are_reported_normalised() -> None:
    analysis = analyse(
        [
            dist("a", "1.0", 'b<2; extra == "fast"'),
            dist("c", "1.0", "a[Fast,Other_Thing]"),
            dist("d", "1.0", "missing[x]"),
            B,
        ],
        LINUX_311,
    )
    assert dict(analysis.extras) == {"a": frozenset({"fast", "other-thing"})}


def test_the_first_dist_of_a_name_wins() -> None:
    # As on sys.path: a shadowed copy's requirements are not the installed ones.
    analysis = analyse([dist("a", "1.0", "b<2"), dist("a", "0.5", "b<1"), B], LINUX_311)
    assert limits(analysis, "b") == [("a", "b<2")]


def test_excluding_names_only_the_clauses_that_rule_the_version_out() -> None:
    analysis = analyse([dist("sympy", "1.12", "mpmath<1.4,>=1.1.0"), dist("mpmath", "1.3.0")], {})
    (constraint,) = analysis.on("mpmath")
    assert constraint.requirement == "mpmath<1.4,>=1.1.0"
    assert constraint.excluding(Version("1.4.1")) == "mpmath<1.4"
    assert constraint.excluding(Version("1.0")) == "mpmath>=1.1.0"
    assert constraint.allows(Version("1.3.0"))
    # pre-releases are judged by range only: whether they are candidates is decided elsewhere
    assert constraint.allows(Version("1.3.1rc1"))
    assert not constraint.allows(Version("1.4.0rc1"))


# --------------------------------------------------------------------------------------
# inconsistencies (what `pip check` reports)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dists", "expected"),
    [
        # consistent
        ([dist("a", "1.0", "b<2"), dist("b", "1.5")], []),
        # installed version outside the range
        ([dist("a", "1.0", "b<2"), dist("b", "2.0")], [Problem("a", "1.0", "b<2", "b", "2.0")]),
        # missing dependency
        ([dist("a", "1.0", "b>=1")], [Problem("a", "1.0", "b>=1", "b", None)]),
        # missing, with extras and a direct reference: still missing
        (
            [dist("a", "1.0", "b[x] @ https://example.org/b.whl")],
            [Problem("a", "1.0", "b[x] @ https://example.org/b.whl", "b", None)],
        ),
        # a requirement whose marker is false for the target is no problem
        ([dist("a", "1.0", 'b>=1; sys_platform == "win32"')], []),
        # nor one of an extra not in use
        ([dist("a", "1.0", 'b>=1; extra == "x"')], []),
        # ... but is once the extra is in use
        (
            [dist("a", "1.0", 'b>=1; extra == "x"'), dist("c", "2.0", "a[x]")],
            [Problem("a", "1.0", "b>=1", "b", None)],
        ),
        # an installed pre-release inside the range is fine
        ([dist("a", "1.0", "b>=1"), dist("b", "2.0rc1")], []),
        # a version that is not PEP 440 cannot be judged, so it is not reported
        ([dist("a", "1.0", "b<2"), dist("b", "2.0-custom-build")], []),
        # sorted by holder
        (
            [dist("z", "1.0", "b<2"), dist("a", "1.0", "b>3"), dist("b", "2.5")],
            [Problem("a", "1.0", "b>3", "b", "2.5"), Problem("z", "1.0", "b<2", "b", "2.5")],
        ),
    ],
)
def test_problems(dists: list[InstalledDist], expected: list[Problem]) -> None:
    assert list(analyse(dists, LINUX_311).problems) == expected


def test_problem_messages() -> None:
    assert (
        Problem("a", "1.0", "b<2", "B", "2.0").message
        == "a 1.0 requires b<2, but B 2.0 is installed"
    )
    assert (
        Problem("a", "1.0", "b>=1", "b", None).message
        == "a 1.0 requires b>=1, which is not installed"
    )
