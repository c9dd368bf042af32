"""One spelling of a project in every output of the real CLI (issue 14, Build 6).

An installed project is named by its installed metadata ``Name`` (as ``pip list``
does) in its row, in the "held back by" range on it and in update plans, even where
another package's requirement spells it differently; a project an update adds is
named by its normalised name.
"""

from __future__ import annotations

import json

from integration.test_scan_helpers import describe, run_pipfresh
from integration.test_update import Scene


def spelled_apart(scene: Scene) -> None:
    """Pydantic_Core 1.0 installed, held below 2 by Zope.Holder 1.0 which spells it
    pydantic-core; Zope.Holder 3.0 spells it PYDANTIC.CORE and adds New.Dep."""
    scene.publish("Pydantic_Core", "1.0", "1.5", "2.0")
    scene.publish("Zope.Holder", "1.0", requires=("pydantic-core<2",))
    scene.publish("Zope.Holder", "3.0", requires=("PYDANTIC.CORE<3", "new_dep>=1"))
    scene.publish("New.Dep", "1.0")
    scene.pin("pydantic-core==1.0", "zope-holder==1.0")


def scan(scene: Scene, *args: str) -> str:
    result = run_pipfresh(
        *args,
        "--python",
        scene.venv.python,
        "--index-url",
        scene.server.url,
        env=scene.env,
        cwd=scene.tmp_path,
    )
    assert result.returncode == 0, describe(result)
    return result.stdout


def test_names_are_spelled_as_installed_everywhere(scene: Scene) -> None:
    spelled_apart(scene)
    table = scan(scene).splitlines()
    assert table[2].split() == [
        *("Pydantic_Core", "1.0", "1.5", "2.0", "major"),
        *("Zope.Holder", "1.0", "(Pydantic_Core<2)"),
    ]
    assert table[3].split()[0] == "Zope.Holder"
    (row, _) = json.loads(scan(scene, "--format", "json"))["packages"]
    assert row["name"] == "Pydantic_Core"
    assert row["held_back_by"] == [
        {"name": "Zope.Holder", "version": "1.0", "requirement": "Pydantic_Core<2"}
    ]
    first = json.loads(scan(scene, "--format", "jsonl").splitlines()[0])
    assert first["held_back_by"][0]["requirement"] == "Pydantic_Core<2"
    assert scan(scene, "--format", "freeze") == "Pydantic_Core==1.5\nZope.Holder==3.0\n"
    plan = scene.update("--dry-run")
    assert plan.returncode == 0, describe(plan)
    assert [line.split()[0] for line in plan.stdout.splitlines()[2:]] == [
        "Pydantic_Core",
        "Zope.Holder",
        "new-dep",  # not installed: no installed spelling, the normalised name
    ]
    assert "(new dependency of Zope.Holder 3.0)" in plan.stdout


def test_plan_reasons_name_the_project_as_installed(scene: Scene) -> None:
    spelled_apart(scene)
    plan = scene.update("--dry-run", "--latest", "pydantic-core")
    assert plan.returncode == 0, describe(plan)
    assert "Zope.Holder 1.0 requires Pydantic_Core<2" in plan.stdout
    assert "pydantic-core" not in plan.stdout
    assert "(needed by Pydantic_Core 2.0)" in plan.stdout
