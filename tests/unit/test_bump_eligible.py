"""Which release a pin may move to: ordered tables of cases over hand-built pages."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from packaging.version import Version

from pipfresh._bump.eligible import (
    Rules,
    current_minimum,
    newest_eligible,
    python_floor,
)
from pipfresh.models import IndexFile, ProjectPage
from pipfresh.select import IncompletePage, digest_page


def wheel(version: str, **kw: object) -> IndexFile:
    return IndexFile.build(f"demo-{version}-py3-none-any.whl", "u", **kw)  # type: ignore[arg-type]


def sdist(version: str, **kw: object) -> IndexFile:
    return IndexFile.build(f"demo-{version}.tar.gz", "u", **kw)  # type: ignore[arg-type]


def page(*files: IndexFile) -> ProjectPage:
    return ProjectPage("demo", files)


def listed_page(*files: IndexFile) -> ProjectPage:
    versions = tuple(dict.fromkeys(f.filename.split("-")[1].removesuffix(".tar.gz") for f in files))
    return ProjectPage("demo", files, versions)


def chosen(p: ProjectPage, current: str | None, python: str | None = None, **rules: object) -> str:
    choice = newest_eligible(
        p,
        Rules(**rules),  # type: ignore[arg-type]
        None if current is None else Version(current),
        None if python is None else Version(python),
    )
    return "none" if choice.release is None else str(choice.release.version)


PAGE = page(
    wheel("1.0"),
    wheel("1.1"),
    wheel("1.2.3"),
    wheel("2.0"),
    wheel("2.1b1"),
    sdist("2.0.1", yanked="broken"),
    wheel("3.0", requires_python=">=3.10"),
)


@pytest.mark.parametrize(
    ("current", "python", "rules", "expected"),
    [
        ("1.0", None, {}, "3.0"),
        ("1.0", "3.9", {}, "2.0"),  # 3.0 needs 3.10
        ("1.0", "3.10", {}, "3.0"),
        ("1.0", "3.9", {"pre": True}, "2.1b1"),
        ("1.0", None, {"target": "minor"}, "1.2.3"),
        ("1.1", None, {"target": "patch"}, "1.1"),
        ("1.2.3", None, {"target": "patch"}, "1.2.3"),
        ("2.0", "3.9", {"target": "patch"}, "2.0"),  # 2.0.1 is yanked
        ("2.1b1", "3.9", {}, "2.1b1"),  # a pre-release minimum sees its own line
        ("3.0", "3.9", {}, "none"),  # never below the current minimum
        (None, "3.9", {}, "2.0"),  # no minimum (<2, unversioned): anything goes
    ],
)
def test_newest_eligible(
    current: str | None, python: str | None, rules: dict[str, object], expected: str
) -> None:
    assert chosen(PAGE, current, python, **rules) == expected


def test_skipped_releases_say_which_python_they_need() -> None:
    p = page(
        wheel("1.0"),
        wheel("2.0", requires_python=">=3.10"),
        sdist("2.0", requires_python=">=3.10"),
        wheel("2.1", requires_python=">=3.11"),
    )
    choice = newest_eligible(p, Rules(), Version("1.0"), Version("3.9"))
    assert choice.release is not None
    assert choice.release.version == Version("1.0")
    assert choice.latest == Version("2.1")
    assert [s.reason for s in choice.skipped] == [
        "skipped 2.1: requires Python >=3.11, the project supports 3.9",
        "skipped 2.0: requires Python >=3.10, the project supports 3.9",
    ]


def test_one_file_supporting_the_python_is_enough() -> None:
    p = page(wheel("2.0", requires_python=">=3.10"), sdist("2.0", requires_python=">=3.8"))
    assert chosen(p, "1.0", "3.9") == "2.0"


def test_every_file_yanked_means_the_release_does_not_count() -> None:
    p = page(wheel("1.0"), wheel("2.0", yanked=True), sdist("2.0", yanked=""))
    choice = newest_eligible(p, Rules(), Version("1.0"), None)
    assert choice.release is not None
    assert str(choice.release.version) == "1.0"
    assert choice.latest == Version("1.0")


def test_cooldown_ignores_recent_uploads_and_keeps_unknown_ages() -> None:
    p = page(
        wheel("1.0", upload_time="2024-01-01T00:00:00Z"),
        wheel("1.1"),  # unknown age: counts
        wheel("2.0", upload_time="2024-06-01T00:00:00Z"),
    )
    cut = datetime(2024, 3, 1, tzinfo=timezone.utc)
    assert chosen(p, "1.0", not_after=cut) == "1.1"
    assert chosen(p, "1.0") == "2.0"


def test_digest_that_lacks_a_considered_release_asks_for_the_page() -> None:
    full = listed_page(wheel("1.0"), wheel("2.0"), wheel("3.0", requires_python=">=3.12"))
    digest = digest_page(full, {Version("3.0")})
    with pytest.raises(IncompletePage):
        newest_eligible(digest, Rules(), Version("1.0"), Version("3.9"))
    # A digest that holds the answer gives it.
    assert chosen(digest, "1.0", "3.12") == "3.0"
    assert chosen(full, "1.0", "3.9") == "2.0"


def test_digest_walked_to_its_end_asks_for_the_page() -> None:
    full = listed_page(wheel("1.0"), wheel("2.0", requires_python=">=3.12"))
    digest = digest_page(full, {Version("2.0")})
    with pytest.raises(IncompletePage):
        newest_eligible(digest, Rules(), None, Version("3.9"))


@pytest.mark.parametrize(
    ("requires_python", "marker", "default", "expected"),
    [
        (">=3.9", None, "3.12", "3.9"),
        (">=3.8.1", None, None, "3.8.1"),
        (">=3.9,<4", 'python_version >= "3.11"', None, "3.11"),
        (">=3.9", 'python_version < "3.11"', None, "3.9"),
        (">=3.9", 'sys_platform == "win32"', None, "3.9"),  # says nothing about Python
        ("~=3.10", None, None, "3.10"),
        (None, None, "3.12.1", "3.12.1"),
        (None, None, None, "none"),
        (None, 'python_version < "3.10"', "3.12", "3.9"),  # the nearest it applies to
        (None, 'python_version >= "3.13"', "3.12", "3.13"),
        (None, 'python_version >= "3.11"', "3.12", "3.12"),
        (None, 'python_version >= "3.11" and sys_platform == "win32"', "3.9", "3.11"),
        (">=3.9", "not a marker", None, "3.9"),
        ("garbage", None, "3.12", "3.12"),
    ],
)
def test_python_floor(
    requires_python: str | None, marker: str | None, default: str | None, expected: str
) -> None:
    floor = python_floor(requires_python, marker, None if default is None else Version(default))
    assert ("none" if floor is None else str(floor)) == expected


@pytest.mark.parametrize(
    ("specifier", "expected"),
    [
        ("==1.2.3", "1.2.3"),
        (">=1.2", "1.2"),
        ("~=1.4", "1.4"),
        (">=1,<2", "1"),
        (">1.0", "1.0"),
        ("==1.*", "1"),
        (">=1.0,!=1.5,<3", "1.0"),
        ("<2", "none"),
        ("!=1.5", "none"),
        ("", "none"),
        ("not a spec", "none"),
    ],
)
def test_current_minimum(specifier: str, expected: str) -> None:
    found = current_minimum(specifier)
    assert ("none" if found is None else str(found)) == expected
