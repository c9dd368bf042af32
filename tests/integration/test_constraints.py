"""pip's constraints files hold in the scan and in every plan, as pip applies them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integration.test_scan_helpers import describe, run_pipfresh
from integration.test_update import INSTALLERS, Scene, as_json, changes
from support.venvs import freeze


def constraints_file(scene: Scene, *lines: str) -> Path:
    path = scene.tmp_path / "constraints.txt"
    path.write_text("# pins of this machine\n" + "\n".join(lines) + "\n")
    return path


def scan(scene: Scene, *args: str) -> dict[str, dict[str, object]]:
    result = run_pipfresh(
        "--python", scene.venv.python, "--index-url", scene.server.url,
        "--format", "json", *args, env=scene.env, cwd=scene.tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    return {p["name"]: p for p in json.loads(result.stdout)["packages"]}


def test_scan_names_the_constraints_file_that_holds_a_package_back(scene: Scene) -> None:
    scene.publish("aaa", "1.0", "2.0", "3.0")
    scene.publish("bbb", "1.0", "1.1")
    scene.pin("aaa==1.0", "bbb==1.0")
    path = constraints_file(scene, "aaa<=2.0", "zzz<1  # not installed: asks for nothing")
    packages = scan(scene, "-c", str(path))
    assert (packages["aaa"]["wanted"], packages["aaa"]["latest"]) == ("2.0", "3.0")
    assert packages["aaa"]["held_back_by"] == [
        {"name": "constraints.txt", "version": "", "requirement": "aaa<=2.0"}
    ]
    assert packages["bbb"]["wanted"] == "1.1"


def test_constraints_from_pip_configuration_hold_too(scene: Scene) -> None:
    scene.publish("aaa", "1.0", "2.0", "3.0")
    scene.pin("aaa==1.0")
    path = constraints_file(scene, "aaa<3")
    env = {**scene.env, "PIP_CONSTRAINT": str(path)}
    result = run_pipfresh(
        "--python", scene.venv.python, "--index-url", scene.server.url,
        "--format", "json", env=env, cwd=scene.tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    [package] = json.loads(result.stdout)["packages"]
    assert package["wanted"] == "2.0"


@pytest.mark.parametrize("installer", INSTALLERS)
def test_update_never_installs_past_a_constraint(scene: Scene, installer: str) -> None:
    scene.publish("aaa", "1.0", "2.0", "3.0")
    scene.publish("bbb", "1.0")
    scene.publish("bbb", "2.0", requires=("aaa>=3",))  # only with a forbidden aaa
    scene.publish("ccc", "1.0", "1.1")
    scene.pin("aaa==1.0", "bbb==1.0", "ccc==1.0")
    path = constraints_file(scene, "aaa<=2.0")
    for extra in ((), ("--latest",)):
        document = as_json(scene.update("--dry-run", "-c", str(path), "--format", "json", *extra))
        assert changes(document) == {"aaa": "2.0", "ccc": "1.1"}, document
    result = scene.update("-y", "-c", str(path), "--installer", installer)
    assert result.returncode == 0, describe(result)
    assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.0", "ccc": "1.1"}


def test_an_unreadable_constraints_file_is_one_line(scene: Scene) -> None:
    scene.publish("aaa", "1.0")
    scene.pin("aaa==1.0")
    bad = constraints_file(scene, "aaa<=>2")
    for path in (str(bad), str(scene.tmp_path / "missing.txt")):
        result = run_pipfresh(
            "--python", scene.venv.python, "--index-url", scene.server.url, "-c", path,
            env=scene.env, cwd=scene.tmp_path,
        )  # fmt: skip
        assert result.returncode == 2, describe(result)
        [line] = result.stderr.splitlines()
        assert line.startswith("pipfresh: error: "), line
        assert path in line
