"""The update's preflight on a real small file system: a full disk and a read-only
site-packages are refused before anything changes, with one line saying which.

Needs a tmpfs mount (root, or a container that allows it); skipped where it cannot be
made, with the reason.
"""

from __future__ import annotations

import base64
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.test_scan_helpers import describe, pipfresh_env, run_pipfresh
from integration.test_update import Scene
from support.index_server import IndexServer
from support.venvs import file_tree, freeze, make_venv
from support.wheels import WheelFactory


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "disk"
    folder.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {made.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_scene(
    small_disk: Path, index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> Scene:
    venv = make_venv(small_disk / "venv")
    return Scene(index_server, wheel_factory, venv, tmp_path, pipfresh_env(tmp_path))


def incompressible(size: int) -> str:
    return base64.b64encode(random.Random(7).randbytes(size)).decode()


def state_left(scene: Scene) -> list[str]:
    folder = scene.venv.site_packages / ".pipfresh-update"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_disk_without_room_for_the_plan_is_refused_before_any_change(
    small_scene: Scene,
) -> None:
    scene = small_scene
    scene.publish("aaa", "1.0")
    # 4 MB of data that does not compress: the disk has 6 MB, the plan needs about 3 x.
    big = scene.wheels("aaa", "2.0", files={"aaa/blob.txt": incompressible(3 << 20)})
    scene.server.add(big)
    scene.pin("aaa==1.0")
    before = file_tree(scene.venv.path)
    result = scene.update("-y", "--installer", "uv")
    assert result.returncode == 3, describe(result)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f"pipfresh: error: not enough room on the disk of {scene.venv.site_packages}:"
    )
    assert line.endswith("; nothing was changed"), line
    assert file_tree(scene.venv.path) == before
    assert state_left(scene) in ([], ["lock"])


def test_a_read_only_site_packages_is_refused_before_any_change(
    small_scene: Scene, small_disk: Path
) -> None:
    scene = small_scene
    scene.publish("aaa", "1.0", "2.0")
    scene.pin("aaa==1.0")
    before = freeze(scene.venv)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        result = scene.update("-y", "--installer", "uv")
        scan = run_pipfresh(
            "--python", scene.venv.python, "--index-url", scene.server.url,
            env=scene.env, cwd=scene.tmp_path,
        )  # fmt: skip
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    # Found when the environment's lock is made, the first write of an update.
    assert result.returncode == 3, describe(result)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"pipfresh: error: cannot write in {scene.venv.site_packages}: ")
    assert "Read-only file system" in line, line
    assert line.endswith("nothing was changed"), line
    assert "Traceback" not in result.stderr
    assert freeze(scene.venv) == before
    # The read-only scan still works on it.
    assert scan.returncode == 0, describe(scan)
    assert "aaa" in scan.stdout
    assert os.access(scene.venv.site_packages, os.W_OK)
