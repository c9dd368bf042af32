"""bump.specifiers: the new specifier in the style written (tables, then properties)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from pipfresh._bump.specifiers import blocking_clause, new_specifier

CASES = [
    # (old, proposed, new) -- new None: left as written
    ("==1.2.3", "2.0.1", "==2.0.1"),
    ("==2.0.1", "2.0.1", None),
    ("==2.0", "2.0.0", None),
    ("== 1.2.3", "2.0.1", "== 2.0.1"),
    ("==1.2.3", "2.0.1rc2", "==2.0.1rc2"),
    (">=1.2", "2.0.1", ">=2.0"),
    (">=1.2", "1.2.9", None),
    (">=1", "2.0.1", ">=2"),
    (">=1.2.3", "2", ">=2.0.0"),
    (">=1.2.3.4", "2.0.1", ">=2.0.1.0"),
    (">=2.0", "2.0.5", None),
    (">=3.0", "2.0.5", None),  # never lowered
    (">=1.2", "2.1.0rc1", ">=2.1rc1"),
    (">=1.2", "2.1.dev3", ">=2.1.dev3"),
    (">=1.2", "2.1.post1", ">=2.1"),
    (">=1.2", "1!2.0.1", ">=1!2.0"),
    ("~=1.2", "2.0.1", "~=2.0"),
    ("~=1.2.3", "2.0.1", "~=2.0.1"),
    ("~=1.2", "1.9.4", "~=1.9"),
    ("~=1.2.3", "1.2.3", None),
    ("~=1.2.3", "1.2.7", "~=1.2.7"),
    (">=1,<2", "2.0.1", ">=2,<3"),
    (">=1.2,<2.0", "2.0.1", ">=2.0,<3.0"),
    (">=1.2, <2.0", "2.0.1", ">=2.0, <3.0"),
    (" >= 1.2 , < 2 ", "2.0.1", " >= 2.0 , < 3 "),
    ("<2,>=1", "2.0.1", "<3,>=2"),
    (">=1.0,<3", "2.5", ">=2.5,<3"),
    (">=1.2,<1.5", "1.7.2", ">=1.7,<1.8"),
    (">=4.2,<4.3", "5.1.3", ">=5.1,<5.2"),
    (">=0.3,<0.5", "0.7.2", ">=0.7,<0.8"),
    (">=1,<2.0a0", "2.0.1", ">=2,<3.0a0"),
    ("<2", "2.0.1", "<3"),
    ("<2", "1.5", None),
    ("<2", "2.0rc1", "<3"),
    ("<2.0.0", "2.3.1", "<3.0.0"),
    ("<1.5", "2", "<2.1"),
    ("<=2.14.1", "2.16.3", "<=2.16.3"),
    ("<=2.14", "2.16.3", "<=2.16.3"),
    ("<=2.14", "2.14", None),
    (">=1.2,!=1.5", "2.0.1", ">=2.0,!=1.5"),
    ("!=1.5,>=1.2", "2.0.1", "!=1.5,>=2.0"),
    ("!=2.0.1,>=1.2", "2.0.1", None),  # the user excluded it: kept
    (">2.0.1", "2.0.1", None),
    (">1.0", "2.0.1", None),
    ("==1.*", "2.0.1", "==2.*"),
    ("==1.2.*", "2.0.1", "==2.0.*"),
    ("==2.*", "2.5", None),
    ("===1.0", "2.0.1", "===2.0.1"),
    ("===2.0.1", "2.0.1", None),
    ("", "2.0.1", None),
    (">=1.2,", "2.0.1", ">=2.0,"),  # a trailing comma, which packaging accepts
]


@pytest.mark.parametrize(("old", "proposed", "new"), CASES)
def test_rule(old: str, proposed: str, new: str | None) -> None:
    assert new_specifier(old, Version(proposed)) == new


def test_invalid_specifier_raises_value_error() -> None:
    with pytest.raises(InvalidSpecifier):
        new_specifier(">=1.2,foo", Version("2"))


@pytest.mark.parametrize(
    ("old", "proposed", "clause"),
    [
        ("!=2.0.1,>=1.2", "2.0.1", "!=2.0.1"),
        (">2.0.1", "2.0.1", ">2.0.1"),
        (">=3", "2.0.1", ">=3"),
        (">=1,<2", "2.0.1", None),
        ("", "2.0.1", None),
    ],
)
def test_blocking_clause(old: str, proposed: str, clause: str | None) -> None:
    assert blocking_clause(old, Version(proposed)) == clause


# ------------------------------------------------------------------------- properties

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPERATORS = ["==", ">=", "~=", "<", "<=", "!=", ">", "==*", "!=*", "==="]

releases = st.lists(st.integers(0, 30), min_size=1, max_size=4).map(tuple)
suffixes = st.sampled_from(["", "", "", "rc1", "a0", ".dev0", ".post2", "b3.dev1"])


@st.composite
def versions(draw: st.DrawFn) -> Version:
    epoch = draw(st.sampled_from(["", "", "", "", "1!"]))
    return Version(epoch + ".".join(map(str, draw(releases))) + draw(suffixes))


@st.composite
def clauses(draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(OPERATORS))
    release = ".".join(map(str, draw(releases)))
    lead, gap, trail = (draw(st.sampled_from(["", "", " ", "  "])) for _ in range(3))
    if op.endswith("*"):
        return f"{lead}{op[:-1]}{gap}{release}.*{trail}"
    if op == "~=" and "." not in release:
        release += ".0"
    suffix = "" if op == "===" else draw(suffixes)
    return f"{lead}{op}{gap}{release}{suffix}{trail}"


specifiers = st.lists(clauses(), min_size=1, max_size=4).map(",".join)


def _ops(spec: str) -> list[str]:
    return [re.match(r"\s*(~=|===|==|!=|<=|>=|<|>)", part).group(1) for part in spec.split(",")]  # type: ignore[union-attr]


@FAST
@given(specifiers, versions())
def test_a_new_specifier_parses_admits_and_keeps_the_shape(old: str, proposed: Version) -> None:
    new = new_specifier(old, proposed)
    if new is None:
        return
    assert SpecifierSet(new).contains(proposed, prereleases=True)
    assert _ops(new) == _ops(old)
    assert [part.count(".*") for part in new.split(",")] == [
        part.count(".*") for part in old.split(",")
    ]
    # spaces around every clause and operator are as written
    assert re.sub(r"[0-9A-Za-z!.*+]+", "V", new) == re.sub(r"[0-9A-Za-z!.*+]+", "V", old)


@FAST
@given(specifiers, versions())
def test_only_a_kept_clause_stops_a_bump(old: str, proposed: Version) -> None:
    new = new_specifier(old, proposed)
    admitted = SpecifierSet(old).contains(proposed, prereleases=True)
    if new is None and not admitted:
        assert blocking_clause(old, proposed) is not None
    if blocking_clause(old, proposed) is None and not admitted:
        assert new is not None


@FAST
@given(specifiers, versions())
def test_minimums_never_go_down(old: str, proposed: Version) -> None:
    new = new_specifier(old, proposed)
    if new is None:
        return
    for before, after in zip(old.split(","), new.split(","), strict=True):
        op = _ops(before)[0]
        if op in (">=", "~=", ">"):
            old_v = Version(before.strip()[len(op) :].strip())
            new_v = Version(after.strip()[len(op) :].strip())
            assert new_v >= old_v


@FAST
@given(
    st.sampled_from(["demo", "Django_Rest.framework", "a"]),
    st.sampled_from(["", "[socks]", "[a,b]"]),
    specifiers,
    st.sampled_from(["", "; python_version < '3.10'", ' ; sys_platform == "linux"']),
    versions(),
)
def test_rewriting_the_span_keeps_name_extras_and_marker(
    name: str, extras: str, spec: str, marker: str, proposed: Version
) -> None:
    line = f"{name}{extras}{spec}{marker}"
    new = new_specifier(spec, proposed)
    if new is None:
        return
    start = len(name) + len(extras)
    rewritten = line[:start] + new + line[start + len(spec) :]
    before, after = Requirement(line), Requirement(rewritten)
    assert (after.name, after.extras, str(after.marker)) == (
        before.name,
        before.extras,
        str(before.marker),
    )
    assert after.specifier.contains(proposed, prereleases=True)
