"""``pipfresh.bump`` and ``pipfresh.apply`` in this process, against a local index on
127.0.0.1; ``os.environ`` is made what a CLI test's subprocess gets (:func:`api_environ`)."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pipfresh
from integration.test_scan_helpers import api_environ
from pipfresh import (
    BumpInputError,
    BumpReport,
    PinResult,
    PipfreshError,
    UpgradeConfig,
    apply,
    bump,
)
from support.index_server import IndexServer
from support.wheels import build_wheel

REQUIREMENTS = "alpha==1.0.0  # pinned\nbeta>=1.2\ngamma\n"
PYPROJECT = '[project]\nname = "demo"\nrequires-python = ">=3.9"\ndependencies = ["alpha>=1.0"]\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    wheels = tmp_path_factory.mktemp("api-bump-wheels")
    with IndexServer() as index:
        for name, version in [("alpha", "1.0.0"), ("alpha", "2.0.1"), ("beta", "1.9.0")]:
            index.add(build_wheel(wheels, name, version))
        yield index


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    api_environ(monkeypatch, tmp_path)
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "requirements.txt").write_text(REQUIREMENTS)
    (demo / "pyproject.toml").write_text(PYPROJECT)
    return demo


def config(server: IndexServer) -> UpgradeConfig:
    return UpgradeConfig(index_url=server.url)


def test_the_names_are_the_functions_even_after_the_engine_is_imported() -> None:
    importlib.import_module("pipfresh._bump.engine")
    assert inspect.isfunction(pipfresh.bump)
    assert inspect.isfunction(pipfresh.apply)
    assert {"bump", "apply", "BumpReport", "PinResult", "BumpInputError"} <= set(pipfresh.__all__)
    assert issubclass(BumpInputError, PipfreshError)
    for function in (bump, apply):
        assert function.__doc__
        assert "Raises:" in function.__doc__


def test_bump_proposes_and_apply_writes(server: IndexServer, folder: Path) -> None:
    report = bump([], config(server), python_version="3.12", cwd=folder)
    assert isinstance(report, BumpReport)
    assert all(isinstance(pin, PinResult) for pin in report.pins)
    assert [(report.where(p), p.name, p.now, p.proposed, p.bump) for p in report.pins] == [
        ("pyproject.toml:4", "alpha", ">=1.0", ">=2.0", "major"),
        ("requirements.txt:1", "alpha", "==1.0.0", "==2.0.1", "major"),
        ("requirements.txt:2", "beta", ">=1.2", ">=1.9", "minor"),
        ("requirements.txt:3", "gamma", "", None, None),
    ]
    assert report.pins[3].not_checked == "unversioned"
    assert report.pins[1].together == ("pyproject.toml:4",)
    assert (report.python, report.errors) == ("3.12.0", ())
    assert len(report.changes) == 3
    # bump itself writes nothing
    assert (folder / "requirements.txt").read_text() == REQUIREMENTS

    written = apply(report)
    assert written == (folder / "pyproject.toml", folder / "requirements.txt")
    assert (folder / "requirements.txt").read_text() == "alpha==2.0.1  # pinned\nbeta>=1.9\ngamma\n"
    assert (folder / "pyproject.toml").read_text() == PYPROJECT.replace(">=1.0", ">=2.0")

    again = bump([folder / "requirements.txt"], config(server), python_version="3.12")
    assert again.changes == ()
    assert apply(again) == ()


def test_one_path_may_be_given_as_a_string_and_python_as_an_interpreter(
    server: IndexServer, folder: Path
) -> None:
    report = bump(str(folder / "requirements.txt"), config(server), python=sys.executable)
    assert [f.path.name for f in report.files] == ["requirements.txt"]
    assert report.python == ".".join(map(str, sys.version_info[:3]))
    assert [p.proposed for p in report.changes] == ["==2.0.1", ">=1.9"]


def test_apply_refuses_a_report_whose_file_changed_since(server: IndexServer, folder: Path) -> None:
    report = bump([], config(server), python_version="3.12", cwd=folder)
    (folder / "requirements.txt").write_text("alpha==1.0.0\n")
    with pytest.raises(BumpInputError, match=r"requirements\.txt: changed since it was read"):
        apply(report)
    # every file is checked before the first is written: pyproject.toml is untouched
    assert (folder / "pyproject.toml").read_text() == PYPROJECT
    assert (folder / "requirements.txt").read_text() == "alpha==1.0.0\n"


def test_a_file_that_does_not_parse_raises_naming_file_and_line(
    server: IndexServer, folder: Path
) -> None:
    (folder / "requirements.txt").write_text("alpha==1.0.0\nbeta>>2\n")
    with pytest.raises(BumpInputError) as caught:
        bump([], config(server), python_version="3.12", cwd=folder)
    assert (caught.value.path.name, caught.value.line) == ("requirements.txt", 2)
    assert str(caught.value).startswith(f"{folder / 'requirements.txt'}:2: not a valid requirement")


def test_a_project_no_index_knows_is_reported_not_raised(server: IndexServer, folder: Path) -> None:
    (folder / "requirements.txt").write_text("alpha==1.0.0\nnosuch==1.0\n")
    report = bump(["requirements.txt"], config(server), python_version="3.12", cwd=folder)
    assert [e.name for e in report.errors] == ["nosuch"]
    assert [p.name for p in report.changes] == ["alpha"]
