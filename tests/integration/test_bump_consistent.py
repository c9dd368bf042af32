"""``pipfresh bump --consistent`` against the local index: a file's ``==`` pins are
raised only as far as the pinned versions' own requirements allow, and the pins that
hold one back are named (table and JSON)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from integration.test_scan_helpers import describe, pipfresh_env, run_pipfresh
from support.index_server import IndexServer
from support.wheels import WheelFactory


def publish(
    server: IndexServer, wheels: WheelFactory, name: str, version: str, *requires: str
) -> None:
    server.add(wheels(name, version, requires=requires))


def bump(server: IndexServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pipfresh(
        "bump",
        "--python-version",
        "3.11",
        "--index-url",
        server.url,
        *args,
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )


def pins(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert result.returncode == 0, describe(result)
    document = json.loads(result.stdout)
    return {p["package"]: p for p in document["pins"]}


def holder_graph(server: IndexServer, wheels: WheelFactory) -> None:
    # aaa's newest release caps bbb below 2, so a consistent set stops bbb at 1.5.
    for version in ("1.0", "1.5", "2.0"):
        publish(server, wheels, "bbb", version)
    publish(server, wheels, "aaa", "1.0", "bbb>=1")
    publish(server, wheels, "aaa", "2.0", "bbb<2")
    publish(server, wheels, "ccc", "1.0")
    publish(server, wheels, "ccc", "3.0")


def test_consistent_holds_a_pin_below_what_another_pins_newest_release_allows(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    holder_graph(index_server, wheel_factory)
    (tmp_path / "requirements.txt").write_text("aaa==1.0\nbbb==1.0\nccc==1.0\n")

    plain = pins(bump(index_server, tmp_path, "--format", "json"))
    assert {n: p["proposed"] for n, p in plain.items()} == {
        "aaa": "==2.0",
        "bbb": "==2.0",
        "ccc": "==3.0",
    }
    assert all(p["held_back_by"] == [] for p in plain.values())

    held = pins(bump(index_server, tmp_path, "--consistent", "--format", "json"))
    assert {n: (p["proposed"], p["latest"]) for n, p in held.items()} == {
        "aaa": ("==2.0", "2.0"),
        "bbb": ("==1.5", "2.0"),
        "ccc": ("==3.0", "3.0"),
    }
    assert held["bbb"]["held_back_by"] == [
        {"name": "aaa", "version": "2.0", "requirement": "bbb<2"}
    ]
    assert held["bbb"]["bump"] == "minor"

    table = bump(index_server, tmp_path, "--consistent")
    assert table.returncode == 0, describe(table)
    lines = table.stdout.splitlines()
    row = next(line for line in lines if line.startswith("requirements.txt:2"))
    assert row.split() == ["requirements.txt:2", "bbb", "==1.0", "2.0", "==1.5", "minor"]
    assert "requirements.txt:2: bbb: held back by aaa 2.0 requires bbb<2" in lines

    written = bump(index_server, tmp_path, "--consistent", "-w")
    assert written.returncode == 0, describe(written)
    assert (tmp_path / "requirements.txt").read_text() == "aaa==2.0\nbbb==1.5\nccc==3.0\n"
    again = pins(bump(index_server, tmp_path, "--consistent", "--format", "json"))
    assert not any(p["changes"] for p in again.values())
    assert again["bbb"]["held_back_by"] == [
        {"name": "aaa", "version": "2.0", "requirement": "bbb<2"}
    ]


def test_a_pin_already_at_its_cap_is_not_moved_and_says_who_holds_it(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    holder_graph(index_server, wheel_factory)
    (tmp_path / "constraints.txt").write_text("aaa==2.0\nbbb==1.5\n")

    held = pins(bump(index_server, tmp_path, "--consistent", "--format", "json"))
    assert held["bbb"]["changes"] is False
    assert held["bbb"]["held_back_by"] == [
        {"name": "aaa", "version": "2.0", "requirement": "bbb<2"}
    ]
    exit_code = bump(index_server, tmp_path, "--consistent", "--exit-code")
    assert exit_code.returncode == 0, describe(exit_code)
    lines = exit_code.stdout.splitlines()
    assert lines[0] == "constraints.txt:2: bbb: held back by aaa 2.0 requires bbb<2"
    # Not "every pin admits the newest eligible release": bbb's does not.
    assert lines[1].startswith("2 pins checked in 1 file, 0 to bump in "), lines
    plain = bump(index_server, tmp_path, "--exit-code")
    assert plain.returncode == 1, describe(plain)


def test_the_files_agree_when_one_holds_a_project_lower(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    holder_graph(index_server, wheel_factory)
    (tmp_path / "requirements.txt").write_text("aaa==1.0\nbbb==1.0\n")
    (tmp_path / "requirements-dev.txt").write_text("bbb>=1.0\n")
    (tmp_path / "requirements-test.txt").write_text("bbb>=1.8\n")  # never lowered

    held = bump(index_server, tmp_path, "--consistent", "--format", "json")
    assert held.returncode == 0, describe(held)
    proposed = {(p["file"], p["package"]): p["proposed"] for p in json.loads(held.stdout)["pins"]}
    assert proposed == {
        ("requirements-dev.txt", "bbb"): ">=1.5",
        ("requirements-test.txt", "bbb"): None,
        ("requirements.txt", "aaa"): "==2.0",
        ("requirements.txt", "bbb"): "==1.5",
    }


def test_consistent_without_exact_pins_says_it_did_nothing_more(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    holder_graph(index_server, wheel_factory)
    (tmp_path / "requirements.txt").write_text("aaa>=1.0\nbbb>=1.0\n")

    result = bump(index_server, tmp_path, "--consistent", "--format", "json")
    assert result.returncode == 0, describe(result)
    assert result.stderr == (
        "pipfresh: warning: --consistent: no file read pins a set with ==, "
        "so every pin was bumped on its own\n"
    )
    assert {p["package"]: p["proposed"] for p in json.loads(result.stdout)["pins"]} == {
        "aaa": ">=2.0",
        "bbb": ">=2.0",
    }


def test_a_held_hashed_pin_gets_the_hashes_of_the_version_it_stops_at(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    # bbb 1.5 ships only a Windows wheel: a file serves every platform, so it counts.
    files = {
        version: index_server.add(wheel_factory("bbb", version, tag=tag))
        for version, tag in (("1.0", "py3-none-any"), ("1.5", "cp311-cp311-win_amd64"))
    }
    publish(index_server, wheel_factory, "bbb", "2.0")
    publish(index_server, wheel_factory, "aaa", "1.0")
    publish(index_server, wheel_factory, "aaa", "2.0", "bbb<2")
    (tmp_path / "requirements.txt").write_text(
        f"aaa==1.0\nbbb==1.0 \\\n    --hash=sha256:{files['1.0'].sha256}\n"
    )

    written = bump(index_server, tmp_path, "--consistent", "-w")
    assert written.returncode == 0, describe(written)
    assert (tmp_path / "requirements.txt").read_text() == (
        f"aaa==2.0\nbbb==1.5 \\\n    --hash=sha256:{files['1.5'].sha256}\n"
    )


def test_a_pin_whose_newest_release_needs_what_the_set_cannot_give_says_so(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    # aaa 2.0 needs ddd>=2, but ddd is excluded: aaa stays at 1.5, and the reason is
    # aaa's own requirement (no other pin holds it).
    for version in ("1.0", "2.0"):
        publish(index_server, wheel_factory, "ddd", version)
    publish(index_server, wheel_factory, "aaa", "1.0")
    publish(index_server, wheel_factory, "aaa", "1.5", "ddd>=1")
    publish(index_server, wheel_factory, "aaa", "2.0", "ddd>=2")
    (tmp_path / "requirements.txt").write_text("aaa==1.0\nddd==1.0\n")

    held = pins(
        bump(index_server, tmp_path, "--consistent", "--exclude", "ddd", "--format", "json")
    )
    assert (held["aaa"]["proposed"], held["aaa"]["held_back_by"]) == ("==1.5", [])
    assert held["aaa"]["note"] == "not 2.0: it requires ddd>=2, and the set has ddd 1.0"
    assert held["ddd"]["left_alone"] == "excluded"


def test_a_pinned_version_without_a_wheel_is_said_once_and_not_checked(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    for name in ("ccc", "ddd"):
        index_server.add(wheel_factory.sdist(name, "1.0"))
        publish(index_server, wheel_factory, name, "2.0")
    (tmp_path / "requirements.txt").write_text("ccc==1.0\nddd==1.0\nghost==1.0\n")

    result = bump(index_server, tmp_path, "--consistent", "--format", "json")
    assert result.returncode == 3, describe(result)  # ghost is not on the index
    document = json.loads(result.stdout)
    assert document["warnings"] == [
        "--consistent: cannot read what ccc 1.0 requires: no wheel to read them from "
        "(and 1 more pinned version); their requirements are not checked"
    ]
    assert {p["package"]: p["proposed"] for p in document["pins"]} == {
        "ccc": "==2.0",
        "ddd": "==2.0",
        "ghost": None,
    }


def test_two_new_releases_that_exclude_each_other_keep_one_pin_and_name_the_other(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    # zzz 2.0 needs aaa<2, and aaa's newest is 2.0: one of them has to stay. The
    # resolver backtracks on the pin the conflict is about (aaa), so zzz moves and
    # aaa names it.
    for version in ("1.0", "2.0"):
        publish(index_server, wheel_factory, "aaa", version)
    publish(index_server, wheel_factory, "zzz", "1.0")
    publish(index_server, wheel_factory, "zzz", "2.0", "aaa<2")
    (tmp_path / "requirements.txt").write_text("aaa==1.0\nzzz==1.0\n")

    held = pins(bump(index_server, tmp_path, "--consistent", "--format", "json"))
    assert (held["aaa"]["proposed"], held["zzz"]["proposed"]) == (None, "==2.0")
    assert held["aaa"]["held_back_by"] == [
        {"name": "zzz", "version": "2.0", "requirement": "aaa<2"}
    ]


def test_a_warm_consistent_run_asks_for_no_page(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    holder_graph(index_server, wheel_factory)
    (tmp_path / "requirements.txt").write_text("aaa==1.0\nbbb==1.0\n")
    env = pipfresh_env(tmp_path, extra={"PIPFRESH_CACHE_DIR": str(tmp_path / "shared")})

    def run(*args: str) -> dict[str, dict[str, Any]]:
        return pins(
            run_pipfresh(
                "bump",
                "--python-version",
                "3.11",
                "--index-url",
                index_server.url,
                "--format",
                "json",
                *args,
                env=env,
                cwd=tmp_path,
            )
        )

    run()  # the plain bump caches what it needs: the releases from its proposal up
    index_server.reset_stats()
    first = run("--consistent")
    # Its pages held too little for the resolver, which asked again and kept them whole.
    assert (index_server.count("aaa"), index_server.count("bbb")) == (1, 1)
    index_server.reset_stats()
    again = run("--consistent")
    assert (index_server.count("aaa"), index_server.count("bbb")) == (0, 0)
    assert again == first
    assert again["bbb"]["proposed"] == "==1.5"


def pip_dry_run(requirements: Path, wheels: Path) -> subprocess.CompletedProcess[str]:
    from support.venvs import pip_dry_run_offline

    return pip_dry_run_offline(requirements, wheels)


def test_pip_installs_the_consistent_bump_of_a_compiled_file_and_not_the_plain_one(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    sha: dict[tuple[str, str], str] = {}
    graph = {
        ("aaa", "1.0"): ("bbb>=1",),
        ("aaa", "2.0"): ("bbb<2",),
        ("bbb", "1.0"): (),
        ("bbb", "1.5"): (),
        ("bbb", "2.0"): (),
    }
    for (name, version), requires in graph.items():
        built = wheel_factory(name, version, requires=requires)
        sha[(name, version)] = index_server.add(built).sha256 or ""
        shutil.copy(built, wheels / built.name)
    compiled = (
        "# This file is autogenerated by pip-compile with Python 3.11\n"
        "#\n"
        f"aaa==1.0 \\\n    --hash=sha256:{sha[('aaa', '1.0')]}\n"
        "    # via -r requirements.in\n"
        f"bbb==1.0 \\\n    --hash=sha256:{sha[('bbb', '1.0')]}\n"
        "    # via aaa\n"
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text(compiled)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "requirements.txt").write_text(compiled)

    for folder, extra in ((project, ["--consistent"]), (plain, [])):
        result = bump(index_server, folder, "-w", *extra)
        assert result.returncode == 0, describe(result)
    assert (project / "requirements.txt").read_text() == compiled.replace(
        f"aaa==1.0 \\\n    --hash=sha256:{sha[('aaa', '1.0')]}",
        f"aaa==2.0 \\\n    --hash=sha256:{sha[('aaa', '2.0')]}",
    ).replace(
        f"bbb==1.0 \\\n    --hash=sha256:{sha[('bbb', '1.0')]}",
        f"bbb==1.5 \\\n    --hash=sha256:{sha[('bbb', '1.5')]}",
    )

    installed = pip_dry_run(project / "requirements.txt", wheels)
    assert installed.returncode == 0, installed.stderr
    assert "Would install aaa-2.0 bbb-1.5" in installed.stdout
    refused = pip_dry_run(plain / "requirements.txt", wheels)
    assert refused.returncode != 0
    assert "ResolutionImpossible" in refused.stderr or "conflict" in refused.stderr


def test_offline_consistent_never_connects_and_keeps_the_set_as_written(
    index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    holder_graph(index_server, wheel_factory)
    (tmp_path / "requirements.txt").write_text("aaa==1.0\nbbb==1.0\n")
    env = pipfresh_env(tmp_path, extra={"PIPFRESH_CACHE_DIR": str(tmp_path / "shared")})
    args = ["bump", "--python-version", "3.11", "--index-url", index_server.url, "--consistent"]
    warm = run_pipfresh(*args, env=env, cwd=tmp_path)
    assert warm.returncode == 0, describe(warm)
    index_server.reset_stats()

    offline = run_pipfresh(*args, "--offline", "--format", "json", env=env, cwd=tmp_path)
    assert index_server.count("*") == 0
    # A project the resolution could not have is one the bump could not check: exit 3.
    assert offline.returncode == 3, describe(offline)
    document = json.loads(offline.stdout)
    assert [e["name"] for e in document["errors"]] == ["aaa"]
    assert document["errors"][0]["reason"].startswith("not fetched, --offline: ")
    held = {p["package"]: p for p in document["pins"]}
    # The pinned versions' requirements are not in the cache: nothing is bumped blindly.
    assert (held["aaa"]["changes"], held["bbb"]["changes"]) == (False, False)
    assert held["aaa"]["note"] == "kept as written: --consistent could not resolve this file"
    warnings = json.loads(offline.stdout)["warnings"]
    assert len(warnings) == 2
    assert warnings[0].startswith("--consistent: cannot read what aaa 1.0 requires: not fetched")
    assert warnings[1].startswith("--consistent: requirements.txt: not fetched, --offline")
