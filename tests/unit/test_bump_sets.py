"""The pure parts of ``bump --consistent``: which pins form a file's set, and the
Python and markers it is resolved for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from packaging.version import Version

from pipfresh._bump.consistent import any_wheel, exact, markers_for, pinned_sets
from pipfresh._bump.files import read_files
from pipfresh._bump.model import DepFile, Pin
from pipfresh._bump.report import PinResult
from pipfresh.models import IndexFile


@pytest.mark.parametrize(
    ("specifier", "expected"),
    [
        ("==1.0", "1.0"),
        ("===1.0", "1.0"),
        ("== 2.3.1", "2.3.1"),
        ("==1.*", None),
        (">=1.0", None),
        ("==1.0,<2", None),
        ("~=1.0", None),
        ("", None),
        ("==not a version", None),
    ],
)
def test_exact_is_one_equals_clause_only(specifier: str, expected: str | None) -> None:
    found = exact(specifier)
    assert (None if found is None else str(found)) == expected


def test_markers_are_this_machines_with_the_python_asked_for() -> None:
    markers = markers_for(Version("3.9"))
    assert (markers["python_version"], markers["python_full_version"]) == ("3.9", "3.9.0")
    assert markers["sys_platform"]  # the rest is the host's own


def results_for(files: Sequence[DepFile]) -> dict[Pin, PinResult]:
    return {
        pin: PinResult(pin.path, pin.line, pin.name, pin.section, pin.specifier)
        for file in files
        for pin in file.pins
    }


def test_a_set_is_the_exact_pins_that_apply_to_its_python(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "aaa==1.0\n"
        "bbb>=2\n"
        'ccc==3.0 ; python_version < "3.10"\n'
        'ddd==4.0 ; python_version >= "3.10"\n'
        "aaa==1.1\n"
        "eee @ https://example.invalid/eee-1.0.tar.gz\n"
    )
    (tmp_path / "requirements-dev.txt").write_text("fff>=1\n")
    files = read_files([], tmp_path)
    sets = pinned_sets(files, results_for(files), Version("3.12"))
    assert [s.file.path.name for s in sets] == ["requirements.txt"]
    (found,) = sets
    assert found.python == Version("3.12")
    assert {n: str(m.current) for n, m in found.members.items()} == {"aaa": "1.0", "ddd": "4.0"}
    older = pinned_sets(files, results_for(files), Version("3.9"))[0]
    assert set(older.members) == {"aaa", "ccc"}


def test_a_pyproject_set_is_resolved_for_its_requires_python_floor(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["aaa==1.0"]\n'
    )
    files = read_files([], tmp_path)
    (found,) = pinned_sets(files, results_for(files), Version("3.13"))
    assert found.python == Version("3.9")


def test_a_pin_the_bump_leaves_alone_is_part_of_the_set_but_never_moves(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("aaa==1.0\nbbb==1.0\n")
    files = read_files([], tmp_path)
    results = results_for(files)
    bbb = files[0].pins[1]
    results[bbb] = PinResult(
        bbb.path, bbb.line, bbb.name, bbb.section, "==1.0", not_checked="excluded"
    )
    (found,) = pinned_sets(files, results, Version("3.12"))
    assert {n: m.movable for n, m in found.members.items()} == {"aaa": True, "bbb": False}


def wheel(filename: str, requires_python: str | None = None) -> IndexFile:
    return IndexFile.build(
        filename, f"https://example.invalid/{filename}", requires_python=requires_python
    )


def test_any_wheel_prefers_a_pure_one_and_takes_any_platform_else() -> None:
    windows = wheel("aaa-1.0-cp312-cp312-win_amd64.whl")
    pure = wheel("aaa-1.0-py3-none-any.whl")
    sdist = wheel("aaa-1.0.tar.gz")
    assert any_wheel([sdist, windows, pure], Version("3.12")) is pure
    assert any_wheel([sdist, windows], Version("3.12")) is windows
    assert any_wheel([sdist], Version("3.12")) is None
    too_new = wheel("aaa-1.0-py3-none-any.whl", requires_python=">=3.13")
    assert any_wheel([too_new, windows], Version("3.12")) is windows
