"""The target's Python decides, where the index does not say: a release whose own
metadata needs a newer Python is neither offered by the scan (local files) nor planned
(the resolver reads the metadata and takes the next release), as pip would refuse it.

Real venvs of an older Python (pyenv's 3.8, skipped when absent), the local index.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integration.test_scan_helpers import describe, pipfresh_env, run_pipfresh
from integration.test_update import Scene, as_json, changes
from support.index_server import IndexServer
from support.venvs import VenvFactory, find_python, freeze, install
from support.wheels import WheelFactory

PY38 = find_python("3.8")
pytestmark = pytest.mark.skipif(PY38 is None, reason="no Python 3.8 here")


@pytest.fixture
def old_scene(
    index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory, tmp_path: Path
) -> Scene:
    assert PY38 is not None
    venv = make_venv("py38", PY38)
    return Scene(index_server, wheel_factory, venv, tmp_path, pipfresh_env(tmp_path))


def publish_hidden(scene: Scene, name: str, version: str, requires_python: str) -> None:
    """A wheel whose metadata needs ``requires_python``, listed without saying so (as a
    mirror's HTML page does)."""
    wheel = scene.wheels(name, version, requires_python=requires_python)
    scene.server.add(wheel, requires_python="")


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_update_takes_the_newest_release_the_target_python_can_install(
    old_scene: Scene, installer: str, make_venv: VenvFactory
) -> None:
    scene = old_scene
    if installer == "pip":
        # This machine's newest pip no longer runs on 3.8: the target's own pip installs.
        assert PY38 is not None
        scene.venv = make_venv("py38-with-pip", PY38, with_pip=True)
    scene.publish("ddd", "1.0", "1.5")
    publish_hidden(scene, "ddd", "2.0", ">=3.10")
    scene.publish("eee", "1.0")
    publish_hidden(scene, "eee", "2.0", ">=3.10")
    scene.publish("fff", "1.0", "1.1")  # an ordinary upgrade beside them
    scene.pin("ddd==1.0", "eee==1.0", "fff==1.0")
    document = as_json(scene.update("--dry-run", "--format", "json"))
    assert changes(document) == {"ddd": "1.5", "fff": "1.1"}
    dropped = {d["name"]: d["reason"] for d in document["plan"]["dropped"]}
    assert set(dropped) == {"eee"}
    assert "Python" in dropped["eee"], dropped
    result = scene.update("-y", "--installer", installer)
    assert result.returncode == 0, describe(result)
    after = {k: v for k, v in freeze(scene.venv).items() if k not in ("pip", "setuptools")}
    assert after == {"ddd": "1.5", "eee": "1.0", "fff": "1.1"}
    # A second run finds nothing more to do.
    again = as_json(scene.update("--dry-run", "--format", "json"))
    assert changes(again) == {}


def test_scan_reads_requires_python_from_local_wheels(
    old_scene: Scene, tmp_path: Path, wheel_factory: WheelFactory
) -> None:
    """A find-links folder gives no Requires-Python: each wheel's own metadata does."""
    scene = old_scene
    folder = tmp_path / "wheels"
    folder.mkdir()
    for version, needs in (("1.0", None), ("1.5", ">=3.8"), ("2.0", ">=3.10")):
        wheel = wheel_factory("ggg", version, requires_python=needs)
        (folder / wheel.name).write_bytes(wheel.read_bytes())
    install(scene.venv, "ggg==1.0", index_url=None, extra_args=["--find-links", str(folder)])
    result = run_pipfresh(
        "--python", scene.venv.python, "--no-index", "--find-links", folder,
        "--format", "json", env=scene.env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    packages = json.loads(result.stdout)["packages"]
    assert [(p["name"], p["latest"]) for p in packages] == [("ggg", "1.5")], describe(result)


def test_a_target_that_no_installer_supports_is_refused_before_any_change(
    old_scene: Scene,
) -> None:
    """pip 26 needs Python 3.10: aimed at a 3.8 venv without pip it cannot install."""
    scene = old_scene
    scene.publish("ddd", "1.0", "1.5")
    scene.pin("ddd==1.0")
    result = scene.update("-y", "--installer", "pip")
    assert result.returncode == 2, describe(result)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"pipfresh: error: no installer for {scene.venv.python}"), line
    assert "it has no pip and the pip of" in line
    assert freeze(scene.venv) == {"ddd": "1.0"}
