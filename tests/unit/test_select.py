"""Selection rules, as ordered tables of cases (version logic is where bugs hide)."""

from __future__ import annotations

import pytest
from packaging.version import Version

from pipfresh.models import IndexFile, ProjectPage
from pipfresh.select import (
    Policy,
    bump_level,
    files_of_version,
    group_releases,
    parse_version,
    python_release,
    requires_python_allows,
    select_latest,
)

LINUX_311 = frozenset(
    {
        "cp311-cp311-manylinux_2_17_x86_64",
        "cp311-abi3-manylinux_2_17_x86_64",
        "cp311-none-any",
        "py3-none-any",
        "py311-none-any",
    }
)


def policy(pre: bool = False, python: str = "3.11.7") -> Policy:
    return Policy(python_version=Version(python), supported_tags=LINUX_311, pre=pre)


def wheel(version: str, tag: str = "py3-none-any", **kw: object) -> IndexFile:
    return IndexFile.build(f"demo-{version}-{tag}.whl", "u", **kw)  # type: ignore[arg-type]


def sdist(version: str, **kw: object) -> IndexFile:
    return IndexFile.build(f"demo-{version}.tar.gz", "u", **kw)  # type: ignore[arg-type]


def latest(files: list[IndexFile], installed: str | None = "1.0", **kw: object) -> str | None:
    page = ProjectPage(name="demo", files=tuple(files))
    inst = parse_version(installed) if installed else None
    release = select_latest(group_releases(page), policy(**kw), inst)  # type: ignore[arg-type]
    return None if release is None else str(release.version)


@pytest.mark.parametrize(
    ("files", "installed", "pre", "expected"),
    [
        # plain ordering, PEP 440 not lexical
        ([wheel("1.0"), wheel("1.10"), wheel("1.9")], "1.0", False, "1.10"),
        # pre-releases are skipped without --pre ...
        ([wheel("1.0"), wheel("2.0rc1")], "1.0", False, "1.0"),
        # ... and taken with it
        ([wheel("1.0"), wheel("2.0rc1")], "1.0", True, "2.0rc1"),
        # dev releases are pre-releases too
        ([wheel("1.0"), wheel("1.1.dev3")], "1.0", False, "1.0"),
        # installed pre-release: newer pre-releases of the same release line count
        ([wheel("2.0rc1"), wheel("2.0rc2")], "2.0rc1", False, "2.0rc2"),
        # ... but not those of another line
        ([wheel("2.0rc1"), wheel("2.1a1")], "2.0rc1", False, "2.0rc1"),
        ([wheel("1.9"), wheel("2.0rc1"), wheel("2.1a1")], "2.0rc1", False, "2.0rc1"),
        # a project with only pre-releases, installed final: nothing to offer
        ([wheel("0.1a1"), wheel("0.2b1")], "0.0.1", False, None),
        ([wheel("0.1a1"), wheel("0.2b1")], "0.0.1", True, "0.2b1"),
        # post releases sort after their release, local versions after the public one
        ([wheel("1.0"), wheel("1.0.post1")], "1.0", False, "1.0.post1"),
        ([wheel("1.0"), sdist("1.0+local.1")], "1.0", False, "1.0+local.1"),
        # epochs beat everything
        ([wheel("2024.1"), wheel("1!0.1")], "1.0", False, "1!0.1"),
        # invalid versions on the page are skipped, not fatal
        ([wheel("1.0"), sdist("not a version"), sdist("2.0-final-x")], "1.0", False, "1.0"),
    ],
)
def test_latest_table(
    files: list[IndexFile], installed: str, pre: bool, expected: str | None
) -> None:
    assert latest(files, installed, pre=pre) == expected


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # yanked releases are never chosen
        ([wheel("1.0"), wheel("2.0", yanked=True)], "1.0"),
        ([wheel("1.0"), sdist("2.0", yanked=True), wheel("2.0", yanked=True)], "1.0"),
        # one non-yanked file keeps the release
        ([wheel("1.0"), sdist("2.0", yanked=True), wheel("2.0")], "2.0"),
        # every release yanked: no candidate
        ([wheel("1.0", yanked=True)], None),
        # requires-python excludes a file
        ([wheel("1.0"), wheel("2.0", requires_python=">=3.12")], "1.0"),
        ([wheel("1.0"), wheel("2.0", requires_python=">=3.8,<4")], "2.0"),
        # an invalid requires-python is ignored, as pip ignores it
        ([wheel("1.0"), wheel("2.0", requires_python=">=3.6.*junk")], "2.0"),
        # platform-only wheels: win_amd64 is no candidate on Linux ...
        ([wheel("1.0"), wheel("2.0", tag="cp311-cp311-win_amd64")], "1.0"),
        # ... unless the release also has an sdist
        ([wheel("2.0", tag="cp311-cp311-win_amd64"), sdist("2.0")], "2.0"),
        # compressed tag sets: one supported tag is enough
        ([wheel("2.0", tag="cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64")], "2.0"),
        ([wheel("2.0", tag="cp312-cp312-manylinux_2_17_x86_64")], None),
        ([wheel("2.0", tag="cp36-abi3-manylinux_2_17_x86_64")], None),
        ([wheel("2.0", tag="cp311-abi3-manylinux_2_17_x86_64")], "2.0"),
        # nothing installable at all
        ([], None),
    ],
)
def test_candidate_rules(files: list[IndexFile], expected: str | None) -> None:
    assert latest(files) == expected


def test_requires_python_sees_prerelease_interpreter_as_final() -> None:
    # pip checks sys.version_info[:3], so 3.13.0rc1 satisfies >=3.13
    assert python_release("3.13.0rc1") == Version("3.13.0")
    assert requires_python_allows(">=3.13", python_release("3.13.0rc1"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3.11.7", "3.11.7"), ("3.13.0rc1", "3.13.0"), ("3.8.18+", "3.8.18"), ("3.12", "3.12.0")],
)
def test_python_release(text: str, expected: str) -> None:
    assert python_release(text) == Version(expected)


@pytest.mark.parametrize(
    ("installed", "target", "expected"),
    [
        ("1.0.0", "2.0.0", "major"),
        ("1.0.0", "1.1.0", "minor"),
        ("1.0.0", "1.0.1", "patch"),
        ("1.0", "1.0.0.1", "patch"),
        ("1", "1.1", "minor"),
        ("2.0rc1", "2.0", "pre"),
        ("1.0", "1.0.post1", "pre"),
        ("1.0", "1!1.0", "major"),
        ("0.9.9", "1.0.0", "major"),
        (None, "1.0", "unknown"),
    ],
)
def test_bump_level(installed: str | None, target: str, expected: str) -> None:
    inst = Version(installed) if installed else None
    assert bump_level(inst, Version(target)) == expected


def test_legacy_installed_version_is_unparsed() -> None:
    assert parse_version("2004d") is None
    assert parse_version("1.0-SNAPSHOT") is None
    # a legacy installed version still gets an answer: the newest candidate
    assert latest([wheel("1.0"), wheel("2.0")], installed="1.0-SNAPSHOT") == "2.0"


def test_release_upload_time_is_earliest_file() -> None:
    page = ProjectPage(
        name="demo",
        files=(
            wheel("1.0", upload_time="2024-02-01T00:00:00Z"),
            sdist("1.0", upload_time="2024-01-31T10:00:00Z"),
        ),
    )
    (release,) = group_releases(page)
    assert release.upload_time == "2024-01-31T10:00:00Z"


@pytest.mark.parametrize(
    ("version", "spellings", "expected"),
    [
        # Listed as the files spell it, and spelled otherwise by one file.
        ("1.0", ["1.0"], ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz", "demo-1.0.0.tar.gz"]),
        (
            "1.0",
            ["1.0", "1.0.0"],
            ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz", "demo-1.0.0.tar.gz"],
        ),
        # Near misses of the substring test are not the version.
        ("1.0.1", ["1.0.1"], ["demo-1.0.1-py3-none-any.whl"]),
        # A spelling of another version finds nothing of this one.
        ("2.0", ["1.0"], []),
    ],
)
def test_files_of_version(version: str, spellings: list[str], expected: list[str]) -> None:
    files = (
        wheel("1.0"),
        sdist("1.0"),
        sdist("1.0.0"),
        wheel("1.0.1"),
        sdist("1.0.10"),
        IndexFile.build("demo_extra-1.0.tar.gz", "u"),
    )
    page = ProjectPage("demo", files, ("1.0", "1.0.0", "1.0.1", "1.0.10"))
    found = files_of_version(page, Version(version), spellings)
    assert sorted(f.filename for f in found) == sorted(expected)
