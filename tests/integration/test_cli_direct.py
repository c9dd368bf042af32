"""``pipfresh outdated --direct`` end to end: a real venv from the local index, with and
without dependency files in the current folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration.test_scan_helpers import (
    assert_usage_error,
    describe,
    install_pins,
    pipfresh_env,
    run_json,
    run_pipfresh,
)
from support.index_server import IndexServer
from support.venvs import Venv, VenvFactory
from support.wheels import WheelFactory


@dataclass
class Scene:
    server: IndexServer
    venv: Venv  # app 1.0 (requires lib), lib 1.0, tool 1.0, plug 1.0 (only app[plugins] needs it)
    env: dict[str, str]
    root: Path

    def args(self, *more: str) -> list[str]:
        return ["--python", str(self.venv.path), "--index-url", self.server.url, *more]

    def folder(self, name: str, **files: str) -> Path:
        """A fresh current folder holding ``files`` (name -> text)."""
        folder = self.root / name
        folder.mkdir()
        for filename, text in files.items():
            (folder / filename.replace("__", ".")).write_text(text)
        return folder


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("cli-direct")
    with IndexServer() as server:
        for version in ("1.0", "2.0"):
            server.add(
                wheel_factory(
                    "app",
                    version,
                    requires=("lib>=1", 'plug; extra == "plugins"', 'old; python_version < "3"'),
                )
            )
            for name in ("lib", "tool", "plug", "old"):
                server.add(wheel_factory(name, version))
        venv = VenvFactory(root)("env")
        install_pins(venv, server.url, ["app==1.0", "lib==1.0", "tool==1.0", "plug==1.0"])
        yield Scene(server, venv, pipfresh_env(root), root)


def names(document: dict[str, object]) -> dict[str, bool]:
    packages = document["packages"]
    assert isinstance(packages, list)
    return {p["name"]: p["direct"] for p in packages}


def test_without_files_direct_means_required_by_no_other_installed_package(
    scene: Scene,
) -> None:
    cwd = scene.folder("bare")
    everything = run_json(*scene.args(), env=scene.env, cwd=cwd)
    # plug is asked for only by app's extra, which nothing installed switches on.
    assert names(everything) == {"app": True, "lib": False, "plug": True, "tool": True}

    scene.server.reset_stats()
    direct = run_json(*scene.args("--direct"), env=scene.env, cwd=cwd)
    assert names(direct) == {"app": True, "plug": True, "tool": True}
    assert direct["summary"]["checked"] == 3
    assert (scene.server.count("lib"), scene.server.count("tool")) == (0, 1)

    table = run_pipfresh(*scene.args("--direct"), env=scene.env, cwd=cwd)
    assert table.returncode == 0, describe(table)
    lines = table.stdout.splitlines()
    assert lines[1] == "direct dependencies only: required by no other installed package"
    assert lines[2].split()[:2] == ["Package", "Installed"]
    assert [line.split()[0] for line in lines[3:6]] == ["app", "plug", "tool"]
    assert lines[6].startswith("3 checked, 3 outdated, 0 errors")


def test_with_files_direct_means_what_they_name(scene: Scene) -> None:
    cwd = scene.folder(
        "project",
        pyproject__toml='[project]\nname = "me"\nversion = "0"\ndependencies = ["lib>=1"]\n'
        '[dependency-groups]\ndev = ["tool"]\n',
        requirements__txt="-c constraints.txt\n",
        constraints__txt="plug==1.0\nnot-installed==3.0\n",
    )
    document = run_json(*scene.args("--direct"), env=scene.env, cwd=cwd)
    assert names(document) == {"lib": True, "plug": True, "tool": True}
    everything = run_json(*scene.args(), env=scene.env, cwd=cwd)
    assert names(everything) == {"app": False, "lib": True, "plug": True, "tool": True}

    jsonl = run_pipfresh(*scene.args("--direct", "--format", "jsonl"), env=scene.env, cwd=cwd)
    assert jsonl.returncode == 0, describe(jsonl)
    streamed = [json.loads(line) for line in jsonl.stdout.splitlines()[:-1]]
    assert sorted((p["name"], p["direct"]) for p in streamed) == [
        ("lib", True),
        ("plug", True),
        ("tool", True),
    ]

    table = run_pipfresh(*scene.args("--direct"), env=scene.env, cwd=cwd)
    assert table.returncode == 0, describe(table)
    assert table.stdout.splitlines()[1] == (
        "direct dependencies only: named in pyproject.toml, constraints.txt, requirements.txt"
    )


def test_a_broken_dependency_file_stops_direct_but_not_the_plain_scan(scene: Scene) -> None:
    cwd = scene.folder("broken", requirements__txt="tool\nlib >= >=1\n")
    result = run_pipfresh(*scene.args("--direct"), env=scene.env, cwd=cwd)
    assert_usage_error(result, "--direct: ", "requirements.txt:2: not a valid requirement")

    plain = run_json(*scene.args(), env=scene.env, cwd=cwd)
    assert names(plain) == {"app": True, "lib": False, "plug": True, "tool": True}


def test_direct_is_an_outdated_option_only(scene: Scene) -> None:
    cwd = scene.folder("update")
    result = run_pipfresh("update", *scene.args("--direct", "--dry-run"), env=scene.env, cwd=cwd)
    assert result.returncode == 2, describe(result)
    assert "--direct" in result.stderr
