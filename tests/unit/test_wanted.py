"""wanted / held back by, --target, --cooldown and --exclude, on hand-built pages: pure
selection with a fixed clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pipfresh.models import Holder, IndexFile, InstalledDist, PackageStatus, ProjectPage, Target
from pipfresh.requirements import Constraint, analyse
from pipfresh.scan import excluded_by, split_excluded, status_for
from pipfresh.select import (
    Policy,
    group_releases,
    newest_release,
    parse_upload_time,
    select_wanted,
    within_target,
)

NOW = datetime(2024, 9, 10, 12, 0, tzinfo=timezone.utc)
TAGS = frozenset({"py3-none-any"})


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def page(*versions: str | tuple[str, str | None], listed: bool = False) -> ProjectPage:
    """A page of ``b`` with one wheel per version; a (version, upload time) pair sets the
    upload time. ``listed`` adds the PEP 700 versions list (the quick path)."""
    files = []
    raws = []
    for item in versions:
        raw, uploaded = item if isinstance(item, tuple) else (item, None)
        raws.append(raw)
        files.append(IndexFile(filename=f"b-{raw}-py3-none-any.whl", url="u", upload_time=uploaded))
    return ProjectPage("b", tuple(files), tuple(raws) if listed else None)


def policy(target: Target = "latest", cooldown: float | None = None, pre: bool = False) -> Policy:
    not_after = NOW - timedelta(days=cooldown) if cooldown is not None else None
    return Policy(Version("3.11.7"), TAGS, pre=pre, target=target, not_after=not_after)


def cap(holder: str, spec: str, version: str = "1.0") -> Constraint:
    return Constraint(holder, version, f"b{spec}", "b", SpecifierSet(spec))


def status(
    installed: str,
    the_page: ProjectPage,
    *constraints: Constraint,
    the_policy: Policy | None = None,
) -> PackageStatus:
    dist = InstalledDist("b", "b", installed)
    return status_for(dist, the_page, the_policy or policy(), constraints)


B_PAGE = ("1.0", "1.6", "2.0")


# --------------------------------------------------------------------------------------
# wanted and held back by
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("listed", [False, True], ids=["walk", "quick"])
@pytest.mark.parametrize(
    ("installed", "constraints", "wanted", "latest", "bump", "holders"),
    [
        # the issue's scenario: A caps below 2, C needs 1.5 or later
        (
            "1.0",
            [cap("A", "<2"), cap("C", ">=1.5")],
            "1.6",
            "2.0",
            "major",
            [Holder("A", "1.0", "b<2")],
        ),
        # nothing limits b
        ("1.0", [], "2.0", "2.0", "major", []),
        # limits that admit latest hold nothing back
        ("1.0", [cap("C", ">=1.5"), cap("D", "!=1.6")], "2.0", "2.0", "major", []),
        # two holders, each named
        (
            "1.0",
            [cap("A", "<2"), cap("E", "<1.9", "3.1")],
            "1.6",
            "2.0",
            "major",
            [Holder("A", "1.0", "b<2"), Holder("E", "3.1", "b<1.9")],
        ),
        # only the clause that excludes latest is named
        ("1.0", [cap("A", ">=1.0,<2")], "1.6", "2.0", "major", [Holder("A", "1.0", "b<2")]),
        # nothing newer is allowed: wanted stays at installed, never a downgrade
        ("1.0", [cap("A", "<1.5")], "1.0", "2.0", "major", [Holder("A", "1.0", "b<1.5")]),
        # ... even when an older release would be allowed too
        ("1.6", [cap("A", "<1.9")], "1.6", "2.0", "major", [Holder("A", "1.0", "b<1.9")]),
        # an installed version the index does not list still counts as staying put
        ("1.5", [cap("A", "<1.6")], "1.5", "2.0", "major", [Holder("A", "1.0", "b<1.6")]),
        # ranges nothing on the index satisfies
        ("1.0", [cap("A", ">=3")], None, "2.0", "major", [Holder("A", "1.0", "b>=3")]),
        # an environment already inconsistent: installed 2.0, A wants <2 -> wanted is the
        # newest allowed release, below installed; not outdated
        ("2.0", [cap("A", "<2")], "1.6", "2.0", None, [Holder("A", "1.0", "b<2")]),
        # up to date and allowed
        ("2.0", [cap("C", ">=1.5")], "2.0", "2.0", None, []),
    ],
)
def test_wanted(  # noqa: PLR0917 - one parameter per column of the table
    listed: bool,
    installed: str,
    constraints: list[Constraint],
    wanted: str | None,
    latest: str,
    bump: str | None,
    holders: list[Holder],
) -> None:
    result = status(installed, page(*B_PAGE, listed=listed), *constraints)
    assert (result.wanted, result.latest, result.bump) == (wanted, latest, bump)
    assert list(result.held_back_by) == holders


def test_released_is_the_upload_time_of_wanted() -> None:
    the_page = page(("1.0", ago(300)), ("1.6", ago(100)), ("2.0", ago(3)))
    assert status("1.0", the_page).released == ago(3)
    assert status("1.0", the_page, cap("A", "<2")).released == ago(100)


def test_pre_releases_respect_ranges() -> None:
    the_page = page("1.0", "1.6", "2.0rc1")
    assert status("1.0", the_page, cap("A", "<2")).wanted == "1.6"
    with_pre = status("1.0", the_page, cap("A", "<2"), the_policy=policy(pre=True))
    # PEP 440: <2 excludes pre-releases of 2 itself
    assert (with_pre.wanted, with_pre.latest) == ("1.6", "2.0rc1")
    loose = status("1.0", the_page, cap("A", "<3"), the_policy=policy(pre=True))
    assert (loose.wanted, loose.held_back_by) == ("2.0rc1", ())


def test_issue_scenario_from_real_requirements() -> None:
    dists = [
        InstalledDist("A", "a", "1.0", requires=("B<2",)),
        InstalledDist("C", "c", "1.0", requires=("B>=1.5",)),
        InstalledDist("B", "b", "1.0"),
    ]
    analysis = analyse(dists, {"python_version": "3.11", "sys_platform": "linux"})
    result = status_for(dists[2], page(*B_PAGE), policy(), analysis.on("b"))
    assert (result.installed, result.wanted, result.latest) == ("1.0", "1.6", "2.0")
    assert result.held_back_by == (Holder("A", "1.0", "B<2"),)


@pytest.mark.parametrize(
    ("installed", "allowed", "expected"),
    [
        ("1.0", ["<2"], "1.6"),
        ("1.0", ["<1.6"], "1.0"),
        (None, ["<1.6"], "1.0"),  # unknown installed version: the newest allowed
        ("1.0", [">5"], None),
        ("2.0", ["<1.6"], "1.0"),  # inconsistent: walks below installed
    ],
)
def test_select_wanted(installed: str | None, allowed: list[str], expected: str | None) -> None:
    releases = group_releases(page(*B_PAGE))
    found = select_wanted(
        releases,
        policy(),
        Version(installed) if installed else None,
        [SpecifierSet(s) for s in allowed],
    )
    assert (None if found is None else str(found.version)) == expected


# --------------------------------------------------------------------------------------
# --target
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "installed", "target", "expected"),
    [
        ("2.0.0", "1.2.0", "latest", True),
        ("1.9.0", "1.2.0", "minor", True),
        ("2.0.0", "1.2.0", "minor", False),
        ("1.2.9", "1.2.0", "patch", True),
        ("1.3.0", "1.2.0", "patch", False),
        ("2.0.0", "1.2.0", "patch", False),
        # short release segments are padded: 1 is 1.0.0
        ("1.0.5", "1", "patch", True),
        ("1.1", "1", "patch", False),
        ("1.1", "1", "minor", True),
        # another epoch is never within minor or patch
        ("1!1.2.1", "1.2.0", "patch", False),
        # pre-releases of the same line are within it
        ("1.3.0rc1", "1.2.0", "minor", True),
        ("1.3.0rc1", "1.2.0", "patch", False),
        # unknown installed version: nothing to measure from
        ("9.0", None, "patch", True),
    ],
)
def test_within_target(version: str, installed: str | None, target: Target, expected: bool) -> None:
    inst = Version(installed) if installed else None
    assert within_target(Version(version), inst, target) is expected


TARGET_PAGE = ("1.2.0", "1.2.1", "1.2.7", "1.3.0", "1.9.2", "2.0.0", "3.1.0")


@pytest.mark.parametrize("listed", [False, True], ids=["walk", "quick"])
@pytest.mark.parametrize(
    ("target", "latest", "bump"),
    [("latest", "3.1.0", "major"), ("minor", "1.9.2", "minor"), ("patch", "1.2.7", "patch")],
)
def test_target_limits_latest_and_bump(
    listed: bool, target: Target, latest: str, bump: str
) -> None:
    result = status("1.2.0", page(*TARGET_PAGE, listed=listed), the_policy=policy(target))
    assert (result.wanted, result.latest, result.bump) == (latest, latest, bump)


def test_target_patch_with_nothing_newer_is_up_to_date() -> None:
    result = status("1.3.0", page(*TARGET_PAGE), the_policy=policy("patch"))
    assert (result.latest, result.bump) == ("1.3.0", None)


def test_target_and_constraints_together() -> None:
    result = status("1.2.0", page(*TARGET_PAGE), cap("A", "<1.9"), the_policy=policy("minor"))
    assert (result.wanted, result.latest, result.bump) == ("1.3.0", "1.9.2", "minor")
    assert result.held_back_by == (Holder("A", "1.0", "b<1.9"),)


# --------------------------------------------------------------------------------------
# --cooldown
# --------------------------------------------------------------------------------------

COOL_PAGE = (("1.0", ago(400)), ("1.6", ago(30)), ("1.7", ago(6.9)), ("2.0", ago(1)))


@pytest.mark.parametrize("listed", [False, True], ids=["walk", "quick"])
@pytest.mark.parametrize(
    ("cooldown", "latest"),
    [
        (None, "2.0"),
        (0.5, "2.0"),  # 2.0 is a day old
        (1.5, "1.7"),
        (7, "1.6"),  # 1.7 is 6.9 days old: too young
        (6.8, "1.7"),
        (31, "1.0"),
        (1000, None),  # nothing old enough: no candidate at all
    ],
)
def test_cooldown_ignores_young_releases(
    listed: bool, cooldown: float | None, latest: str | None
) -> None:
    result = status("1.0", page(*COOL_PAGE, listed=listed), the_policy=policy(cooldown=cooldown))
    assert result.latest == latest


@pytest.mark.parametrize("listed", [False, True], ids=["walk", "quick"])
def test_cooldown_keeps_releases_of_unknown_age(listed: bool) -> None:
    the_page = page(("1.0", ago(400)), ("1.6", ago(2)), ("2.0", None), listed=listed)
    assert status("1.0", the_page, the_policy=policy(cooldown=7)).latest == "2.0"


def test_cooldown_uses_the_first_upload_of_a_release() -> None:
    # A wheel added to an old release yesterday does not make the release young.
    files = (
        IndexFile(filename="b-1.5.tar.gz", url="u", upload_time=ago(40)),
        IndexFile(filename="b-1.5-py3-none-any.whl", url="u", upload_time=ago(1)),
    )
    the_page = ProjectPage("b", files)
    found = newest_release(the_page, policy(cooldown=7), Version("1.0"))
    assert found is not None
    assert str(found.version) == "1.5"


def test_cooldown_and_constraints_together() -> None:
    result = status("1.0", page(*COOL_PAGE), cap("A", "<1.7"), the_policy=policy(cooldown=1.5))
    assert (result.wanted, result.latest) == ("1.6", "1.7")
    assert result.held_back_by == (Holder("A", "1.0", "b<1.7"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-09-10T12:00:00Z", datetime(2024, 9, 10, 12, tzinfo=timezone.utc)),
        ("2024-09-10T12:00:00.123456Z", datetime(2024, 9, 10, 12, 0, 0, 123456, timezone.utc)),
        # any number of fraction digits (Python 3.10 takes only 3 or 6)
        ("2024-09-10T12:00:00.1Z", datetime(2024, 9, 10, 12, 0, 0, 100000, timezone.utc)),
        ("2024-09-10T12:00:00.123456789Z", datetime(2024, 9, 10, 12, 0, 0, 123456, timezone.utc)),
        ("2024-09-10T14:00:00+02:00", datetime(2024, 9, 10, 12, tzinfo=timezone.utc)),
        # no zone: UTC, as PyPI means it
        ("2024-09-10T12:00:00", datetime(2024, 9, 10, 12, tzinfo=timezone.utc)),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_upload_time(text: str, expected: datetime | None) -> None:
    assert parse_upload_time(text) == expected


# --------------------------------------------------------------------------------------
# --exclude
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "patterns", "expected"),
    [
        ("numpy", ["numpy"], True),
        ("numpy", ["NumPy"], True),  # patterns are normalised like names
        ("types-requests", ["types-*"], True),
        ("types-requests", ["types_*"], True),
        ("zope-interface", ["zope.*"], True),
        ("typing-extensions", ["types-*"], False),
        ("numpy", ["num"], False),  # a glob, not a substring
        ("numpy", ["nump?"], True),
        ("numpy", ["scipy", "n*"], True),
        ("numpy", [], False),
    ],
)
def test_excluded_by(name: str, patterns: list[str], expected: bool) -> None:
    assert excluded_by(name, patterns) is expected


def test_split_excluded_keeps_named_projects() -> None:
    dists = [InstalledDist(n, n, "1.0") for n in ("numpy", "types-six", "types-pytz", "rich")]
    kept, dropped = split_excluded(dists, ["types-*", "numpy"], keep={"numpy"})
    assert [d.name for d in kept] == ["numpy", "rich"]
    assert dropped == ("types-six", "types-pytz")
