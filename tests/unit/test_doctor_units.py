"""pipfresh.doctor.units: a plan split into units, each combination of them consistent.

Every case is checked against the requirement analysis itself: for each subset of the
units, the installed set with those units applied has no problem the installed set
did not already have.
"""

from __future__ import annotations

from itertools import combinations

import pytest

from pipfresh.doctor.units import Unit, combine, new_problems, split
from pipfresh.models import IndexFile, InstalledDist
from pipfresh.plan import Addition, Change, Plan
from support.targets import LINUX_311_MARKERS as MARKERS


def dist(name: str, version: str, *requires: str) -> InstalledDist:
    return InstalledDist(name, name, version, requires=requires)


def wheel(name: str, version: str) -> IndexFile:
    filename = f"{name}-{version}-py3-none-any.whl"
    return IndexFile.build(filename, f"http://x/{filename}", hashes={"sha256": "a" * 64})


def change(name: str, before: str, after: str, *requires: str, reason: str = "") -> Change:
    return Change(
        name, name, before, after, wheel(name, after), wheel(name, before), requires, reason
    )


def added(name: str, version: str, *requires: str, reason: str = "") -> Addition:
    return Addition(name, name, version, wheel(name, version), requires, reason)


def shape(units: list[Unit]) -> list[tuple[str, list[str]]]:
    return [(u.name, sorted(u.canonical_names)) for u in units]


def assert_every_subset_consistent(
    units: list[Unit], dists: list[InstalledDist], markers: dict[str, str]
) -> None:
    for size in range(len(units) + 1):
        for chosen in combinations(units, size):
            assert new_problems(dists, markers, chosen) == (), [u.name for u in chosen]


CASES = [
    pytest.param(
        [dist("a", "1.0"), dist("b", "1.0")],
        Plan((change("a", "1.0", "2.0"), change("b", "1.0", "2.0")), ()),
        [("a", ["a"]), ("b", ["b"])],
        id="independent packages are units of their own",
    ),
    pytest.param(
        # The scenario: gamma 2.0 needs delta>=2, so they move as one.
        [dist("alpha", "1.0"), dist("beta", "1.0"), dist("gamma", "1.0"), dist("delta", "1.0")],
        Plan(
            (
                change("alpha", "1.0", "2.0"),
                change("beta", "1.0", "2.0"),
                change("delta", "1.0", "2.0", reason="needed by gamma 2.0"),
                change("gamma", "1.0", "2.0", "delta>=2"),
            ),
            (),
        ),
        [("alpha", ["alpha"]), ("beta", ["beta"]), ("gamma", ["delta", "gamma"])],
        id="a co-moved dependency joins the package that needs it",
    ),
    pytest.param(
        [dist("x", "1.0")],
        Plan(
            (change("x", "1.0", "2.0", "n>=3"),),
            (),
            (added("n", "3.0", reason="new dependency of x 2.0"),),
        ),
        [("x", ["n", "x"])],
        id="a new dependency joins the package it is added for",
    ),
    pytest.param(
        [dist("x", "1.0"), dist("y", "1.0")],
        Plan((change("x", "1.0", "2.0", "y>=2"), change("y", "1.0", "2.0")), ()),
        [("x", ["x", "y"])],
        id="a requirement joins two targets even without a reason",
    ),
    pytest.param(
        # p 2.0 asks for h[x]; only h 2.0 declares what x needs (r>=2). Each of p and h
        # alone is fine, the two together need r: one unit of three.
        [dist("p", "1.0", "h"), dist("h", "1.0"), dist("r", "1.0")],
        Plan(
            (
                change("h", "1.0", "2.0", "r>=2; extra == 'x'"),
                change("p", "1.0", "2.0", "h[x]"),
                change("r", "1.0", "2.0"),
            ),
            (),
        ),
        [("h", ["h", "p", "r"])],
        id="an extra asked for by one unit and declared by another",
    ),
    pytest.param(
        # The installed h caps r under its extra x, which only p 2.0 asks for: p, h and
        # r are each fine alone, p and r break the cap together, and h 2.0 lifts it.
        [dist("p", "1.0", "h"), dist("h", "1.0", "r<2; extra == 'x'"), dist("r", "1.0")],
        Plan(
            (
                change("h", "1.0", "2.0", "r>=1; extra == 'x'"),
                change("p", "1.0", "2.0", "h[x]"),
                change("r", "1.0", "2.0"),
            ),
            (),
        ),
        [("h", ["h", "p", "r"])],
        id="a pair linked through an installed package's extra",
    ),
    pytest.param(
        [dist("a", "1.0", "b>=1"), dist("b", "1.0"), dist("c", "1.0", "b")],
        Plan((change("a", "1.0", "2.0", "b>=1"), change("b", "1.0", "2.0")), ()),
        [("a", ["a"]), ("b", ["b"])],
        id="a requirement that both versions meet links nothing",
    ),
    pytest.param(
        [dist("a", "1.0"), dist("b", "1.0"), dist("c", "1.0")],
        Plan(
            (
                change("a", "1.0", "2.0", "b>=2"),
                change("b", "1.0", "2.0", "c>=2", reason="needed by a 2.0"),
                change("c", "1.0", "2.0", reason="needed by b 2.0"),
            ),
            (),
        ),
        [("a", ["a", "b", "c"])],
        id="transitively",
    ),
    pytest.param(
        [dist("a", "1.0"), dist("b", "1.0")],
        Plan(
            (change("a", "1.0", "2.0", "b>=2; sys_platform == 'win32'"), change("b", "1.0", "2.0")),
            (),
        ),
        [("a", ["a"]), ("b", ["b"])],
        id="a requirement whose marker is false for the target links nothing",
    ),
    pytest.param(
        [dist("a", "1.0", "missing>=1"), dist("b", "1.0")],
        Plan(
            (change("a", "1.0", "2.0", "missing>=1"), change("b", "1.0", "2.0")),
            (),
        ),
        [("a", ["a"]), ("b", ["b"])],
        id="a problem the environment already has is not the plan's",
    ),
    pytest.param(
        [dist("app", "1.0", "lib[fast]"), dist("lib", "1.0"), dist("speedup", "1.0")],
        Plan(
            (
                change("lib", "1.0", "2.0", "speedup>=2; extra == 'fast'"),
                change("speedup", "1.0", "2.0", reason="needed by lib 2.0"),
            ),
            (),
        ),
        [("lib", ["lib", "speedup"])],
        id="an extra in use counts",
    ),
    pytest.param(
        [dist("Foo.Bar", "1.0"), dist("baz", "1.0")],
        Plan(
            (
                Change(
                    "baz",
                    "baz",
                    "1.0",
                    "2.0",
                    wheel("baz", "2.0"),
                    wheel("baz", "1.0"),
                    (),
                    "needed by Foo.Bar 2.0",
                ),
                Change(
                    "Foo.Bar",
                    "foo-bar",
                    "1.0",
                    "2.0",
                    wheel("foo_bar", "2.0"),
                    wheel("foo_bar", "1.0"),
                    ("baz>=2",),
                ),
            ),
            (),
        ),
        [("Foo.Bar", ["baz", "foo-bar"])],
        id="names in reasons compare canonicalised",
    ),
]


@pytest.mark.parametrize(("dists", "plan", "expected"), CASES)
def test_split(
    dists: list[InstalledDist], plan: Plan, expected: list[tuple[str, list[str]]]
) -> None:
    units = split(plan, dists, MARKERS)
    assert shape(units) == expected
    assert_every_subset_consistent(units, dists, MARKERS)
    # Together they are the plan, each item once.
    whole = combine(units)
    assert whole.changes == plan.changes
    assert whole.additions == plan.additions


def test_an_empty_plan_has_no_units() -> None:
    assert split(Plan((), ()), [dist("a", "1.0")], MARKERS) == []


def test_new_problems_names_what_a_state_would_break() -> None:
    dists = [dist("x", "1.0"), dist("y", "1.0")]
    plan = Plan((change("x", "1.0", "2.0", "y>=2"), change("y", "1.0", "2.0")), ())
    alone = Unit("x", (plan.changes[0],))
    (problem,) = new_problems(dists, MARKERS, [alone])
    assert problem.message.startswith("x 2.0 requires y>=2")
    assert new_problems(dists, MARKERS, split(plan, dists, MARKERS)) == ()


def test_a_unit_names_itself_after_the_package_asked_for() -> None:
    dists = [dist("zeta", "1.0"), dist("aaa", "1.0")]
    plan = Plan(
        (
            change("aaa", "1.0", "2.0", reason="needed by zeta 2.0"),
            change("zeta", "1.0", "2.0", "aaa>=2"),
        ),
        (),
    )
    (unit,) = split(plan, dists, MARKERS)
    assert unit.name == "zeta"
    assert unit.plan.changes == plan.changes


def test_eight_units_stay_eight_when_nothing_links_them() -> None:
    names = [f"p{i}" for i in range(8)]
    dists = [dist(n, "1.0") for n in names]
    plan = Plan(tuple(change(n, "1.0", "2.0") for n in names), ())
    assert [u.name for u in split(plan, dists, MARKERS)] == names
