"""Editable and direct-URL installs are reported as such and never looked up on an index.

The venv holds, installed by uv:

* ``edpkg`` 1.0, editable from a local folder (``uv pip install -e``; the folder is the
  test-support sdist, unpacked, with a PEP 660 ``build_editable`` hook added to its
  in-tree backend), so ``direct_url.json`` has ``dir_info.editable``;
* ``urlpkg`` 1.0, from a wheel file path, so ``direct_url.json`` has ``archive_info``;
* ``foo`` 1.0 from the index, the control.

The index offers 2.0 of all three; only foo may be asked for and reported outdated.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration.test_scan_helpers import (
    api_environ,
    describe,
    install_pins,
    pipfresh_env,
    publish,
    run_json,
    run_pipfresh,
)
from pipfresh import UpgradeConfig, check_outdated
from support.index_server import IndexServer
from support.venvs import Venv, VenvFactory, install
from support.wheels import WheelFactory

EDITABLE_HOOKS = """

def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    filename, data = _core_wheel_bytes(
        CONFIG["name"],
        CONFIG["version"],
        requires=CONFIG["requires"],
        requires_python=CONFIG["requires_python"],
        tag="py3-none-any",
        files={"_" + _core_escape(CONFIG["name"]) + "_editable.pth": os.getcwd() + "\\n"},
    )
    with open(os.path.join(wheel_directory, filename), "wb") as handle:
        handle.write(data)
    return filename
"""


def editable_project(wheels: WheelFactory, dest: Path, name: str, version: str) -> Path:
    """A source folder for ``name`` whose in-tree backend supports editable installs."""
    with tarfile.open(wheels.sdist(name, version)) as archive:
        archive.extractall(dest, filter="data")
    folder = dest / f"{name}-{version}"
    backend = folder / "_backend.py"
    backend.write_text(backend.read_text() + EDITABLE_HOOKS)
    return folder


def direct_url(venv: Venv, name: str) -> dict[str, object]:
    [record] = venv.site_packages.glob(f"{name}-*.dist-info/direct_url.json")
    loaded: dict[str, object] = json.loads(record.read_text())
    return loaded


@dataclass
class Scene:
    server: IndexServer
    venv: Venv


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("direct")
    with IndexServer() as server:
        for name in ("foo", "edpkg", "urlpkg"):
            publish(server, wheel_factory, name, "1.0", "2.0")
        venv = VenvFactory(root)("env")
        install_pins(venv, server.url, ["foo==1.0"])
        install(venv, "-e", editable_project(wheel_factory, root, "edpkg", "1.0"), index_url=None)
        install(venv, wheel_factory("urlpkg", "1.0"), index_url=None)
        # Preconditions: the installers recorded what PEP 610 says they should.
        assert direct_url(venv, "edpkg")["dir_info"] == {"editable": True}
        assert "archive_info" in direct_url(venv, "urlpkg")
        assert not list(venv.site_packages.glob("foo-*.dist-info/direct_url.json"))
        yield Scene(server, venv)


@pytest.fixture
def server(scene: Scene) -> IndexServer:
    scene.server.reset_stats()
    return scene.server


def assert_only_foo_was_asked_for(server: IndexServer) -> None:
    assert server.count("foo") == 1
    assert server.count("edpkg") == 0
    assert server.count("urlpkg") == 0
    assert server.count("/files/*") == 0


def test_json_reports_kinds_and_skips_the_index(
    scene: Scene, server: IndexServer, tmp_path: Path
) -> None:
    document = run_json(
        "--python",
        scene.venv.path,
        "--index-url",
        server.url,
        "--all",
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    by_name = {p["name"]: p for p in document["packages"]}
    assert {n: (p["kind"], p["installed"], p["bump"]) for n, p in by_name.items()} == {
        "edpkg": ("editable", "1.0", None),
        "foo": ("index", "1.0", "major"),
        "urlpkg": ("direct_url", "1.0", None),
    }
    assert by_name["edpkg"]["latest"] is None
    assert by_name["urlpkg"]["latest"] is None
    assert document["summary"]["outdated"] == 1
    assert document["errors"] == []
    assert_only_foo_was_asked_for(server)


def test_table_marks_editable_and_direct_url_installs(
    scene: Scene, server: IndexServer, tmp_path: Path
) -> None:
    result = run_pipfresh(
        "--python",
        scene.venv.path,
        "--index-url",
        server.url,
        "--all",
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, describe(result)
    # Cells split on whitespace, without the direct-dependency mark and its legend.
    cells = [[c for c in line.split() if c != "*"] for line in result.stdout.splitlines()[2:-1]]
    rows = {c[0]: c for c in cells if c}
    assert rows["edpkg"] == ["edpkg", "1.0", "(editable)"]
    assert rows["urlpkg"] == ["urlpkg", "1.0", "(direct", "url)"]
    assert rows["foo"][:4] == ["foo", "1.0", "2.0", "major"]
    assert_only_foo_was_asked_for(server)


def test_api_reports_kinds_and_skips_the_index(
    scene: Scene, server: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_environ(monkeypatch, tmp_path)
    report = check_outdated(str(scene.venv.path), UpgradeConfig(index_url=server.url))
    kinds = {p.name: p.kind for p in report.packages}
    assert kinds == {"edpkg": "editable", "foo": "index", "urlpkg": "direct_url"}
    assert [p.name for p in report.outdated] == ["foo"]
    assert_only_foo_was_asked_for(server)
