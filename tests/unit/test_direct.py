"""``outdated --direct``'s pure part: which installed distributions no other requires."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.utils import canonicalize_name

from pipfresh._bump.model import BumpInputError
from pipfresh.direct import DirectSet, named_in_files, not_required
from pipfresh.models import InstalledDist

MARKERS = {**{k: str(v) for k, v in default_environment().items()}, "python_version": "3.12"}


def dist(name: str, *requires: str) -> InstalledDist:
    return InstalledDist(name, canonicalize_name(name), "1.0", requires=requires)


@pytest.mark.parametrize(
    ("dists", "extras", "expected"),
    [
        ([dist("app", "lib>=1"), dist("lib")], {}, {"app"}),
        # Unversioned and renamed spellings count too.
        ([dist("App", "The_Lib"), dist("the-lib")], {}, {"app"}),
        # A requirement whose marker is false for the target does not.
        ([dist("app", 'lib; python_version < "3"'), dist("lib")], {}, {"app", "lib"}),
        ([dist("app", 'lib; python_version >= "3.8"'), dist("lib")], {}, {"app"}),
        # An extra's requirement counts only when something switches that extra on.
        ([dist("app", 'plug; extra == "p"'), dist("plug")], {}, {"app", "plug"}),
        ([dist("app", 'plug; extra == "p"'), dist("plug")], {"app": frozenset({"p"})}, {"app"}),
        # Asking for oneself (pkg[extra]) does not make a package required.
        ([dist("app", "app[p]")], {}, {"app"}),
        # A cycle: each is required by the other.
        ([dist("a", "b"), dist("b", "a"), dist("top", "a")], {}, {"top"}),
        # A requirement on something not installed changes nothing; junk is skipped.
        ([dist("app", "missing>=1", "not a requirement !!")], {}, {"app"}),
    ],
)
def test_not_required(
    dists: list[InstalledDist], extras: dict[str, frozenset[str]], expected: set[str]
) -> None:
    assert not_required(dists, MARKERS, extras) == expected


def test_the_first_of_two_installs_of_a_name_is_the_one_read() -> None:
    shadowed = [dist("app", "lib"), dist("app"), dist("lib")]
    assert not_required(shadowed, MARKERS) == {"app"}


def test_named_in_files_reads_what_bump_reads(tmp_path: Path) -> None:
    assert named_in_files(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "me"\nversion = "0"\ndependencies = ["Lib>=1"]\n'
        '[build-system]\nrequires = ["setuptools"]\n'
    )
    (tmp_path / "requirements-dev.txt").write_text("-r sub/more.txt\nTool_X\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("extra-thing @ https://example.invalid/x.whl\n")
    found = named_in_files(tmp_path)
    assert found == DirectSet(
        frozenset({"lib", "tool-x", "extra-thing"}),  # not the build requirements
        ("pyproject.toml", "requirements-dev.txt", "sub/more.txt"),
    )
    assert found.describe() == "named in pyproject.toml, requirements-dev.txt, sub/more.txt"
    assert DirectSet(frozenset()).describe() == "required by no other installed package"


def test_named_in_files_raises_for_a_line_pip_would_reject(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("ok\nlib >= >=1\n")
    with pytest.raises(BumpInputError, match=r"requirements.txt:2:"):
        named_in_files(tmp_path)


def test_files_that_name_no_dependency_leave_it_to_the_installed_set(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\n[tool.ruff]\nline-length = 99\n'
    )
    (tmp_path / "requirements.txt").write_text("# nothing yet\n")
    assert named_in_files(tmp_path) is None
