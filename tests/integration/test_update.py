"""``pipfresh update`` end to end: real venvs, the local index, both installers.

Every run is a ``python -m pipfresh`` subprocess isolated from this machine's pip and
uv configuration (see ``test_scan_helpers``); every check of the environment is a
full freeze of the venv read from its metadata.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.test_scan_helpers import (
    PIPFRESH,
    RUN_TIMEOUT,
    describe,
    pipfresh_env,
    run_pipfresh,
)
from support.index_server import IndexServer
from support.venvs import Venv, VenvFactory, file_tree, freeze, install
from support.wheels import WheelFactory

INSTALLERS = ["uv", "pip"]


@dataclass
class Scene:
    server: IndexServer
    wheels: WheelFactory
    venv: Venv
    tmp_path: Path
    env: dict[str, str]

    def publish(self, name: str, *versions: str, requires: tuple[str, ...] = ()) -> None:
        for version in versions:
            self.server.add(self.wheels(name, version, requires=requires))

    def pin(self, *pins: str) -> None:
        install(self.venv, *pins, index_url=self.server.url, extra_args=["--no-deps"])

    def update(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_pipfresh(
            "update",
            *args,
            "--python",
            self.venv.python,
            "--index-url",
            self.server.url,
            env=env or self.env,
            cwd=self.tmp_path,
        )


def outdated_pair(scene: Scene) -> None:
    """aaa 1.0 -> 2.0 and bbb 1.0 -> 1.5 (bbb 1.5 needs aaa>=1), both installed old."""
    scene.publish("aaa", "1.0", "2.0")
    scene.publish("bbb", "1.0")
    scene.publish("bbb", "1.5", requires=("aaa>=1",))
    scene.pin("aaa==1.0", "bbb==1.0")


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, describe(result)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def changes(document: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["after"] for c in document["plan"]["changes"]}


def dropped(document: dict[str, Any]) -> dict[str, str]:
    return {d["name"]: d["reason"] for d in document["plan"]["dropped"]}


@pytest.mark.parametrize("installer", INSTALLERS)
def test_update_everything_outdated(scene: Scene, installer: str) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    document = as_json(scene.update("-y", "--installer", installer, "--format", "json"))
    assert changes(document) == {"aaa": "2.0", "bbb": "1.5"}
    assert document["installer"] == installer
    assert freeze(scene.venv) == {**before, **changes(document)}
    results = document["result"]["results"]
    assert {(r["name"], r["before"], r["after"], r["status"]) for r in results} == {
        ("aaa", "1.0", "2.0", "updated"),
        ("bbb", "1.0", "1.5", "updated"),
    }
    assert set(document["result"]["timings"]) >= {"scan", "plan", "download", "install", "verify"}


def test_downloaded_wheels_are_in_cache_info_and_clear(scene: Scene) -> None:
    outdated_pair(scene)
    cache = scene.tmp_path / "shared-cache"  # one cache for every run of this test
    env = scene.env | {"PIPFRESH_CACHE_DIR": str(cache)}
    result = scene.update("-y", "--installer", "uv", env=env)
    assert result.returncode == 0, describe(result)
    kept = sorted(p.name for p in (cache / "wheels").glob("*/*.whl"))
    assert kept == ["aaa-2.0-py3-none-any.whl", "bbb-1.5-py3-none-any.whl"]
    info = run_pipfresh("cache", "info", env=env, cwd=scene.tmp_path)
    assert "2 downloaded wheels" in info.stdout, describe(info)
    cleared = run_pipfresh("cache", "clear", env=env, cwd=scene.tmp_path)
    assert "and 2 downloaded wheels" in cleared.stdout, describe(cleared)
    assert not (cache / "wheels").exists()
    after = run_pipfresh("cache", "info", env=env, cwd=scene.tmp_path)
    assert "0 downloaded wheels, 0.0 MB" in after.stdout, describe(after)


def test_a_cached_wheel_is_reused_and_a_damaged_one_fetched_again(scene: Scene) -> None:
    """The second update of the same versions downloads nothing; a cached wheel whose
    bytes changed no longer hashes to the index's sha256, and is fetched again."""
    outdated_pair(scene)
    cache = scene.tmp_path / "shared-cache"
    env = scene.env | {"PIPFRESH_CACHE_DIR": str(cache)}
    before = freeze(scene.venv)

    def downloads() -> list[str]:  # whole wheels, not the ranges that read METADATA
        return sorted(
            r.path.rsplit("/", 1)[1]
            for r in scene.server.requests
            if r.path.endswith(".whl") and "range" not in r.headers
        )

    scene.server.reset_stats()
    assert scene.update("-y", "--installer", "uv", env=env).returncode == 0
    after = freeze(scene.venv)
    assert downloads() == ["aaa-2.0-py3-none-any.whl", "bbb-1.5-py3-none-any.whl"]
    for round_ in ("reused", "damaged"):
        scene.pin(*(f"{name}=={version}" for name, version in before.items()))
        if round_ == "damaged":
            [aaa] = (cache / "wheels").glob("*/aaa-2.0-*.whl")
            aaa.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip, not the wheel
        scene.server.reset_stats()
        result = scene.update("-y", "--installer", "uv", env=env)
        assert result.returncode == 0, describe(result)
        assert freeze(scene.venv) == after
        assert downloads() == ([] if round_ == "reused" else ["aaa-2.0-py3-none-any.whl"])


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_updated_packages_are_still_index_installs(scene: Scene, installer: str) -> None:
    # Installing the downloaded files directly would leave a PEP 610 direct_url.json,
    # and every later scan would treat the packages as installed from a file.
    outdated_pair(scene)
    result = scene.update("-y", "--installer", installer)
    assert result.returncode == 0, describe(result)
    site = scene.venv.site_packages
    assert not list(site.glob("aaa-*.dist-info/direct_url.json"))
    assert not list(site.glob("bbb-*.dist-info/direct_url.json"))


def test_update_table_summary(scene: Scene) -> None:
    outdated_pair(scene)
    result = scene.update("-y", "--installer", "uv")
    assert result.returncode == 0, describe(result)
    assert "aaa  1.0 -> 2.0  updated" in result.stdout
    assert "2 updated with uv (" in result.stdout
    assert freeze(scene.venv)["aaa"] == "2.0"


@pytest.mark.parametrize("before_options", [True, False], ids=["name-first", "name-last"])
def test_update_one_named_package(scene: Scene, before_options: bool) -> None:
    outdated_pair(scene)
    options = ("-y", "--installer", "uv", "--format", "json")
    argv = ("aaa", *options) if before_options else (*options, "aaa")
    document = as_json(scene.update(*argv))
    assert changes(document) == {"aaa": "2.0"}
    assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.0"}


def additions(document: dict[str, Any]) -> dict[str, str]:
    return {a["name"]: a["version"] for a in document["plan"]["additions"]}


def new_dependency(scene: Scene) -> None:
    """ccc 1.0 installed; ccc 2.0 needs ddd, which is not installed."""
    scene.publish("ccc", "1.0")
    scene.publish("ccc", "2.0", requires=("ddd>=1",))
    scene.publish("ddd", "0.5", "1.0", "1.1")
    scene.pin("ccc==1.0")


@pytest.mark.parametrize("installer", INSTALLERS)
def test_new_dependency_is_resolved_and_added(scene: Scene, installer: str) -> None:
    outdated_pair(scene)
    new_dependency(scene)
    document = as_json(scene.update("-y", "--installer", installer, "--format", "json"))
    assert changes(document) == {"aaa": "2.0", "bbb": "1.5", "ccc": "2.0"}
    assert additions(document) == {"ddd": "1.1"}  # the newest compatible version
    [added] = document["plan"]["additions"]
    assert added["reason"] == "new dependency of ccc 2.0"
    assert dropped(document) == {}
    assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.5", "ccc": "2.0", "ddd": "1.1"}
    statuses = {r["name"]: r["status"] for r in document["result"]["results"]}
    assert statuses["ddd"] == "added"


def test_new_dependency_shown_in_the_table(scene: Scene) -> None:
    new_dependency(scene)
    result = scene.update("-y", "--installer", "uv")
    assert result.returncode == 0, describe(result)
    assert "ddd      (new)      -> 1.1  (new dependency of ccc 2.0)" in result.stdout
    assert "1 updated, 1 added with uv (" in result.stdout


def test_co_move_of_an_installed_package(scene: Scene) -> None:
    """kkk 2.0 needs lll>=2: updating only kkk moves lll with it (boto3 / botocore)."""
    scene.publish("kkk", "1.0")
    scene.publish("kkk", "2.0", requires=("lll>=2",))
    scene.publish("lll", "1.0", "2.0", "2.1")
    scene.publish("mmm", "1.0", requires=("lll>=1",))
    scene.pin("kkk==1.0", "lll==1.0", "mmm==1.0")
    document = as_json(scene.update("kkk", "-y", "--installer", "uv", "--format", "json"))
    assert changes(document) == {"kkk": "2.0", "lll": "2.1"}
    reasons = {c["name"]: c["reason"] for c in document["plan"]["changes"]}
    assert reasons == {"kkk": "", "lll": "needed by kkk 2.0"}
    assert additions(document) == {}
    assert freeze(scene.venv) == {"kkk": "2.0", "lll": "2.1", "mmm": "1.0"}


def test_freeze_is_the_plans_consistent_set_and_installs(scene: Scene) -> None:
    """Each package's wanted version alone (kkk 2.0 with lll 1.0, held by nnn 1.0) does
    not install; the plan's set moves lll and nnn together with kkk."""
    scene.publish("kkk", "1.0")
    scene.publish("kkk", "2.0", requires=("lll>=2",))
    scene.publish("lll", "1.0", "2.0", "2.1")
    scene.publish("nnn", "1.0", requires=("lll<2",))
    scene.publish("nnn", "2.0", requires=("lll>=2",))
    new_dependency(scene)
    scene.pin("kkk==1.0", "lll==1.0", "nnn==1.0")
    before = freeze(scene.venv)
    result = scene.update("--dry-run", "--format", "freeze")
    assert result.returncode == 0, describe(result)
    assert result.stdout.splitlines() == [
        "ccc==2.0",
        "ddd==1.1",
        "kkk==2.0",
        "lll==2.1",
        "nnn==2.0",
    ]
    assert freeze(scene.venv) == before  # a dry run
    pins = scene.tmp_path / "plan.txt"
    pins.write_text(result.stdout)
    install(scene.venv, "-r", pins, index_url=scene.server.url, installer="pip")
    assert freeze(scene.venv) == {
        "ccc": "2.0",
        "ddd": "1.1",
        "kkk": "2.0",
        "lll": "2.1",
        "nnn": "2.0",
    }
    check = subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "--python", str(scene.venv.python), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (check.returncode, check.stdout) == (0, "No broken requirements found.\n"), check


def test_co_move_blocked_by_another_package_is_dropped(scene: Scene) -> None:
    """A real conflict: kkk 2.0 needs lll>=2, mmm (which cannot move) needs lll<2."""
    scene.publish("kkk", "1.0")
    scene.publish("kkk", "2.0", requires=("lll>=2",))
    scene.publish("lll", "1.0", "2.0")
    scene.publish("mmm", "1.0", requires=("lll<2",))
    scene.pin("kkk==1.0", "lll==1.0", "mmm==1.0")
    document = as_json(scene.update("kkk", "--dry-run", "--format", "json"))
    assert changes(document) == {}
    reason = dropped(document)["kkk"]
    assert reason.startswith("conflict: ")
    assert "kkk 2.0 requires lll>=2" in reason
    assert "mmm 1.0 requires lll<2" in reason


def test_dependent_change_resolved_with_its_dependency(scene: Scene) -> None:
    """eee 2.0 relies on ccc 2.0, which needs a new project: all three go in."""
    new_dependency(scene)
    scene.publish("eee", "1.0")
    scene.publish("eee", "2.0", requires=("ccc>=2",))
    scene.pin("eee==1.0")
    document = as_json(scene.update("--dry-run", "--format", "json"))
    assert changes(document) == {"ccc": "2.0", "eee": "2.0"}
    assert additions(document) == {"ddd": "1.1"}
    assert dropped(document) == {}


def test_conflicting_upgrade_stays_at_wanted(scene: Scene) -> None:
    scene.publish("eee", "1.0", "1.5", "2.0")
    scene.publish("fff", "1.0", requires=("eee<2",))
    scene.pin("eee==1.0", "fff==1.0")
    document = as_json(scene.update("-y", "--installer", "uv", "--format", "json"))
    assert changes(document) == {"eee": "1.5"}
    assert freeze(scene.venv) == {"eee": "1.5", "fff": "1.0"}


def test_latest_that_breaks_another_package_goes_as_far_as_it_can(scene: Scene) -> None:
    scene.publish("eee", "1.0", "1.5", "2.0")
    scene.publish("fff", "1.0", requires=("eee<2",))
    scene.pin("eee==1.0", "fff==1.0")
    document = as_json(scene.update("--latest", "--dry-run", "--format", "json"))
    assert changes(document) == {"eee": "1.5"}
    [change] = document["plan"]["changes"]
    assert change["reason"] == "not 2.0: fff 1.0 requires eee<2"
    assert dropped(document) == {}


def test_latest_that_cannot_move_at_all_is_dropped(scene: Scene) -> None:
    scene.publish("eee", "1.0", "2.0")
    scene.publish("fff", "1.0", requires=("eee<2",))
    scene.pin("eee==1.0", "fff==1.0")
    document = as_json(scene.update("--latest", "--dry-run", "--format", "json"))
    assert changes(document) == {}
    assert "fff 1.0 requires eee<2" in dropped(document)["eee"]
    assert dropped(document)["eee"].startswith("conflict: ")


@pytest.mark.parametrize("installer", INSTALLERS)
def test_sdist_only_target_is_built_and_a_failed_build_drops_only_it(
    scene: Scene, installer: str
) -> None:
    scene.publish("ggg", "1.0")
    scene.server.add(scene.wheels.sdist("ggg", "2.0"))
    scene.publish("hhh", "1.0")
    scene.server.add(scene.wheels.sdist("hhh", "2.0", broken=True))
    scene.publish("iii", "1.0", "1.1")
    scene.pin("ggg==1.0", "hhh==1.0", "iii==1.0")
    document = as_json(scene.update("--dry-run", "--format", "json"))
    assert changes(document) == {"ggg": "2.0", "iii": "1.1"}
    [reason] = dropped(document).values()
    assert reason.startswith("only an sdist, and building it failed: "), reason
    assert "\n" not in reason
    result = scene.update("-y", "--installer", installer)
    assert result.returncode == 0, describe(result)
    assert freeze(scene.venv) == {"ggg": "2.0", "hhh": "1.0", "iii": "1.1"}
    # An index install, as any other: the next scan looks it up on the index again.
    assert not list(scene.venv.site_packages.glob("ggg-*.dist-info/direct_url.json"))


@pytest.mark.parametrize("installer", INSTALLERS)
def test_old_version_not_on_index_is_updated_and_restorable(scene: Scene, installer: str) -> None:
    # The rollback keeps the installed files themselves: no wheel of 1.0 is needed.
    scene.publish("hhh", "1.0", "2.0")
    scene.publish("zzz", "1.0")
    scene.pin("hhh==1.0", "zzz==1.0")
    scene.server.remove("hhh-1.0-py3-none-any.whl")
    good = scene.wheels("zzz", "2.0")
    scene.server.add(corrupt_member(good, scene.tmp_path / "bad", "zzz/__init__.py"))
    before, files = freeze(scene.venv), file_tree(scene.venv)
    document = as_json(scene.update("--dry-run", "--format", "json"))
    assert changes(document) == {"hhh": "2.0", "zzz": "2.0"}
    result = scene.update("-y", "--installer", installer)
    assert result.returncode == 4, describe(result)
    assert freeze(scene.venv) == before
    assert file_tree(scene.venv) == files
    scene.server.remove("zzz-2.0-py3-none-any.whl")
    result = scene.update("-y", "--installer", installer)
    assert result.returncode == 0, describe(result)
    assert freeze(scene.venv) == {**before, "hhh": "2.0"}


def test_metadata_read_from_wheel_without_pep658(
    wheel_factory: WheelFactory, make_venv: VenvFactory, tmp_path: Path
) -> None:
    with IndexServer(pep658=False) as server:
        scene = Scene(server, wheel_factory, make_venv("t"), tmp_path, pipfresh_env(tmp_path))
        scene.publish("ccc", "1.0")
        scene.publish("ccc", "2.0", requires=("ddd>=1",))
        scene.publish("aaa", "1.0", "2.0")
        scene.pin("ccc==1.0", "aaa==1.0")
        document = as_json(scene.update("-y", "--installer", "uv", "--format", "json"))
        assert changes(document) == {"aaa": "2.0"}
        assert "ddd>=1" in dropped(document)["ccc"]
        assert freeze(scene.venv) == {"aaa": "2.0", "ccc": "1.0"}


def test_hash_mismatch_aborts_before_any_change(scene: Scene) -> None:
    scene.publish("aaa", "1.0")
    scene.server.add(scene.wheels("aaa", "2.0"), hashes={"sha256": "0" * 64})
    scene.publish("bbb", "1.0", "2.0")
    scene.pin("aaa==1.0", "bbb==1.0")
    before = freeze(scene.venv)
    result = scene.update("-y", "--installer", "uv")
    assert result.returncode == 3, describe(result)
    assert "hash mismatch" in result.stderr
    assert "nothing was changed" in result.stderr
    assert freeze(scene.venv) == before


@pytest.mark.parametrize(
    "hashes",
    [{}, {"md5": "0" * 32}, {"sha256": 5}],
    ids=["empty", "md5-only", "not-a-string"],
)
def test_a_target_without_a_readable_sha256_aborts_before_any_change(
    scene: Scene, hashes: object
) -> None:
    """The hashes are read only when a download needs them; when they cannot give a
    sha256 the file cannot be checked, so nothing is installed."""
    scene.publish("aaa", "1.0")
    scene.publish("bbb", "1.0", "2.0")
    scene.pin("aaa==1.0", "bbb==1.0")
    # Published after the pins are installed: uv refuses the whole page once it is there.
    scene.server.add(scene.wheels("aaa", "2.0"), hashes=hashes)  # type: ignore[arg-type]
    before = freeze(scene.venv)
    result = scene.update("-y", "--installer", "uv")
    assert result.returncode == 3, describe(result)
    assert "the index lists no sha256 for aaa-2.0-py3-none-any.whl" in result.stderr
    assert "nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert freeze(scene.venv) == before


def corrupt_member(wheel: Path, dest: Path, member: str) -> Path:
    """A copy of ``wheel`` whose ``member`` has damaged compressed data: its metadata
    still reads (and the index serves its true sha256), but unpacking it fails."""
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo(member)
    data = bytearray(wheel.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    for i in range(start, start + info.compress_size):
        data[i] ^= 0xFF
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / wheel.name
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("installer", INSTALLERS)
def test_installer_failure_is_rolled_back(scene: Scene, installer: str) -> None:
    scene.publish("aaa", "1.0", "2.0")
    scene.publish("zzz", "1.0")
    good = scene.wheels("zzz", "2.0")
    scene.server.add(corrupt_member(good, scene.tmp_path / "bad", "zzz/__init__.py"))
    scene.pin("aaa==1.0", "zzz==1.0")
    before = freeze(scene.venv)
    files = file_tree(scene.venv)
    result = scene.update("-y", "--installer", installer)
    assert result.returncode == 4, describe(result)
    assert "restored to its previous version" in result.stderr.splitlines()[-1]
    assert freeze(scene.venv) == before
    assert file_tree(scene.venv) == files


def test_rollback_removes_an_added_dependency(scene: Scene, failing_uv: Path) -> None:
    outdated_pair(scene)
    new_dependency(scene)
    before = freeze(scene.venv)
    env = {**scene.env, "PATH": f"{failing_uv}{os.pathsep}{scene.env['PATH']}"}
    result = scene.update("-y", "--installer", "uv", env=env)
    assert result.returncode == 4, describe(result)
    assert "restored to its previous version" in result.stderr.splitlines()[-1]
    after = freeze(scene.venv)
    assert "ddd" not in after
    assert after == before


def test_refuses_externally_managed_target(tmp_path: Path, index_server: IndexServer) -> None:
    from pipfresh import _target_script

    facts = {**_target_script.collect(), "in_venv": False, "externally_managed_file": True}
    (tmp_path / "facts.json").write_text(json.dumps(facts))
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec cat "{tmp_path / "facts.json"}"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    result = run_pipfresh(
        "update",
        "-y",
        "--python",
        python,
        "--index-url",
        index_server.url,
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 2, describe(result)
    assert "externally managed (PEP 668)" in result.stderr
    assert "--break-system-packages" in result.stderr
    assert index_server.total_requests == 0


def lock_path(venv: Venv) -> Path:
    """The environment's own lock: in its site-packages, whatever the cache folder."""
    return venv.site_packages / ".pipfresh-update" / "lock"


def test_second_update_is_blocked_by_the_lock(scene: Scene) -> None:
    outdated_pair(scene)
    path = lock_path(scene.venv)
    path.parent.mkdir(mode=0o700)
    before = freeze(scene.venv)
    with open(path, "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Another cache folder than the holder's does not matter: the lock is the env's.
        for cache in ("one-cache", "another-cache"):
            result = scene.update("-y", "--cache-dir", str(scene.tmp_path / cache))
            assert result.returncode == 2, describe(result)
            assert len(result.stderr.splitlines()) == 1
            assert "another pipfresh update is running" in result.stderr
    assert freeze(scene.venv) == before
    # Released: the same command now runs.
    assert scene.update("-y", "--installer", "uv").returncode == 0


def test_dry_run_prints_the_plan_and_changes_nothing(scene: Scene) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    result = scene.update("--dry-run")
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Update plan for ")
    assert any(line.split() == ["aaa", "1.0", "->", "2.0"] for line in lines)
    assert any(line.split() == ["bbb", "1.0", "->", "1.5"] for line in lines)
    assert freeze(scene.venv) == before
    document = as_json(scene.update("--dry-run", "--format", "json"))
    assert document["dry_run"] is True
    assert "result" not in document
    assert document["plan"]["changes"][0]["file"] == "aaa-2.0-py3-none-any.whl"
    assert freeze(scene.venv) == before


def test_non_tty_without_yes_refuses(scene: Scene) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    scene.server.reset_stats()
    result = scene.update()
    assert result.returncode == 2, describe(result)
    assert len(result.stderr.splitlines()) == 1
    assert "pass -y" in result.stderr
    assert "--dry-run" in result.stderr
    assert scene.server.total_requests == 0
    assert freeze(scene.venv) == before


def test_update_options_rejected_outside_update(scene: Scene) -> None:
    result = run_pipfresh(
        "--dry-run", "--python", scene.venv.python, env=scene.env, cwd=scene.tmp_path
    )
    assert result.returncode == 2, describe(result)
    assert "only for 'pipfresh update'" in result.stderr


@contextlib.contextmanager
def started_update(
    scene: Scene, *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``pipfresh update ARGS`` running in the background on the scene's venv and index;
    killed if still running at the end of the block."""
    proc = subprocess.Popen(
        [
            *PIPFRESH,
            "update",
            *args,
            "--python",
            str(scene.venv.python),
            "--index-url",
            scene.server.url,
        ],
        env=env or scene.env,
        cwd=scene.tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_sigint_during_install_is_rolled_back(scene: Scene, blocking_uv: tuple[Path, Path]) -> None:
    folder, marker = blocking_uv
    outdated_pair(scene)
    before = freeze(scene.venv)
    env = {**scene.env, "PATH": f"{folder}{os.pathsep}{scene.env['PATH']}"}
    with started_update(scene, "-y", "--installer", "uv", env=env) as proc:
        # Bounded polling of the venv's state: the real uv has installed the new versions.
        for _ in range(int(RUN_TIMEOUT * 20)):
            if marker.exists() or proc.poll() is not None:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        assert marker.exists(), "the installer never ran"
        assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.5"}  # really half-way
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 4, f"{proc.returncode}\n{stdout}\n{stderr}"
    assert "interrupted" in stderr
    assert freeze(scene.venv) == before


@pytest.mark.parametrize(("answer", "updated"), [("y", True), ("n", False), ("", False)])
def test_terminal_confirmation(scene: Scene, answer: str, updated: bool) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    result = run_on_terminal(scene, f"{answer}\n")  # stdin is a terminal: confirm the plan
    assert result.returncode == 0, describe(result)
    assert "Proceed? [y/N]" in result.stderr
    assert "aaa" in result.stdout
    assert freeze(scene.venv) == ({"aaa": "2.0", "bbb": "1.5"} if updated else before)


def run_on_terminal(
    scene: Scene, typed: str, *args: str, stderr_too: bool = False
) -> subprocess.CompletedProcess[str]:
    """``pipfresh update`` with stdin a terminal that ``typed`` was written to; with
    ``stderr_too``, stderr is that terminal as well (its text is then in ``.stderr``)."""
    primary, secondary = os.openpty()
    try:
        os.write(primary, typed.encode())
        command = [*PIPFRESH, "update", "--installer", "uv", "--python", str(scene.venv.python)]
        result = subprocess.run(
            [*command, "--index-url", scene.server.url, *args],
            env=scene.env,
            cwd=scene.tmp_path,
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=secondary if stderr_too else subprocess.PIPE,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        if stderr_too:
            result.stderr = os.read(primary, 65536).decode()
        return result
    finally:
        os.close(secondary)
        os.close(primary)


def test_interactive_picks_packages_and_plans_them_again(scene: Scene) -> None:
    outdated_pair(scene)
    result = run_on_terminal(scene, "7\n2\ny\n", "--interactive")
    assert result.returncode == 0, describe(result)
    assert "  1  aaa 1.0 -> 2.0\n  2  bbb 1.0 -> 1.5\n" in result.stderr
    assert "pipfresh: '7' is not between 1 and 2" in result.stderr
    assert "Proceed? [y/N]" in result.stderr
    assert "bbb  1.0 -> 1.5  updated" in result.stdout
    assert freeze(scene.venv) == {"aaa": "1.0", "bbb": "1.5"}


def test_interactive_with_nothing_picked_changes_nothing(scene: Scene) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    result = run_on_terminal(scene, "\n", "--interactive")
    assert result.returncode == 0, describe(result)
    assert "Nothing to update." in result.stdout
    assert "Proceed?" not in result.stderr
    assert freeze(scene.venv) == before


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("-y",), "--interactive needs a terminal (stdin is not one)"),
        (("--dry-run",), "--interactive cannot be used with --dry-run"),
    ],
)
def test_interactive_refused_where_it_cannot_ask(
    scene: Scene, args: tuple[str, ...], why: str
) -> None:
    outdated_pair(scene)
    result = scene.update("--interactive", *args)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("pipfresh: error: pipfresh update"), line
    assert why in line


def test_stages_are_shown_on_a_terminal(scene: Scene) -> None:
    outdated_pair(scene)
    result = run_on_terminal(scene, "", "-y", stderr_too=True)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "pipfresh: " in line]
    assert lines == [
        "pipfresh: downloading 2 wheels and 2 of the versions they replace (for a rollback)",
        "pipfresh: installing 2 packages with uv",
        "pipfresh: checking the installed versions and requirements",
    ]


def test_direct_url_installs_are_listed_as_not_updated(scene: Scene) -> None:
    scene.publish("aaa", "1.0", "2.0")
    scene.pin("aaa==1.0")
    local = scene.wheels("kkk", "1.0")
    install(scene.venv, local, index_url=None)  # a file: a PEP 610 direct URL install
    scene.publish("kkk", "1.0", "3.0")
    document = as_json(scene.update("--dry-run", "--format", "json"))
    assert changes(document) == {"aaa": "2.0"}
    assert dropped(document) == {"kkk": "not updated: a direct URL install"}
    result = scene.update("--dry-run")
    assert "  kkk 1.0: not updated: a direct URL install" in result.stdout.splitlines()
