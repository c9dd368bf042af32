"""Ctrl-C anywhere in a real pip install: the environment ends exactly as it was (every
file's bytes, every metadata folder) or fully updated, never in between.

The points are spread over the install by a seeded random delay after pipfresh says
the install began (a timer that picks the moment, not a wait for something to happen:
wherever it lands, the outcome must be one of the two). The wheels have many files,
console scripts and files only one version has, so a half-done install has much to
undo.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time

import pytest

from integration.test_scan_helpers import PIPFRESH, RUN_TIMEOUT, describe
from integration.test_update import Scene
from support.venvs import VenvFactory, file_tree, freeze

NAMES = ("aaa", "bbb", "ccc", "ddd")
POINTS = 10


def files_of(name: str, version: str) -> dict[str, str]:
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/mod_{i:03d}.py": f"X = {i!r}  # {version}\n" for i in range(150)}
    files[f"{name}/only_{version.replace('.', '_')}.py"] = "ONLY = True\n"
    files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{name}-{version[0]} = {name}:main\n"
    return files


def publish(scene: Scene) -> None:
    for name in NAMES:
        for version in ("1.0", "2.0"):
            scene.server.add(scene.wheels(name, version, files=files_of(name, version)))


def interrupted_update(scene: Scene, delay: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [*PIPFRESH, "update", "-y", "--verbose", "--installer", "pip",
         "--python", str(scene.venv.python), "--index-url", scene.server.url],
        env=scene.env, cwd=scene.tmp_path, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("pipfresh: install ("):
                time.sleep(delay)
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)


@pytest.mark.slow
def test_sigint_at_random_points_of_a_pip_install(scene: Scene, make_venv: VenvFactory) -> None:
    publish(scene)
    scene.venv = make_venv("with-pip", with_pip=True)  # the target's own pip installs
    scene.pin(*(f"{n}==1.0" for n in NAMES))
    before, files = freeze(scene.venv), file_tree(scene.venv)
    rng = random.Random(20261207)
    outcomes: list[int] = []
    for point in range(POINTS):
        # Up to about the length of the whole install (0.2-1 s here), so that some
        # interrupts land late and some early.
        result = interrupted_update(scene, rng.uniform(0.0, 0.8))
        assert "Traceback" not in result.stderr, result.stderr
        outcomes.append(result.returncode)
        late = "pipfresh: interrupted after the update was complete; nothing was undone"
        if result.returncode == 0 or (result.returncode == 130 and late in result.stderr):
            # The interrupt came after the update had committed.
            assert freeze(scene.venv) == {**before, **dict.fromkeys(NAMES, "2.0")}
            scene.pin(*(f"{n}==1.0" for n in NAMES))  # back to the start for the next point
            files = file_tree(scene.venv)
        else:
            assert result.returncode == 4, result.stderr
            assert "restored to its previous version" in result.stderr
            assert freeze(scene.venv) == before
            assert file_tree(scene.venv) == files, f"point {point}"
    assert 4 in outcomes, outcomes  # at least one interrupt landed inside the install


KILL_POINTS = 20


def killed_update(scene: Scene, delay: float) -> int:
    """SIGKILL to pipfresh and its installer together (a crash, the OOM killer, a
    power cut as far as these processes can tell), ``delay`` after the install began;
    returns pipfresh's exit status (0 when the install had finished first)."""
    proc = subprocess.Popen(
        # --no-cache: uv unpacks every wheel afresh, as on a first update, so that the
        # install lasts long enough for the kills to land inside it.
        [*PIPFRESH, "update", "-y", "--verbose", "--installer", "uv", "--no-cache",
         "--python", str(scene.venv.python), "--index-url", scene.server.url],
        env=scene.env, cwd=scene.tmp_path, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: the kill reaches the installer
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("pipfresh: install ("):
                time.sleep(delay)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode


@pytest.mark.slow
def test_sigkill_of_the_process_tree_at_random_points_is_recovered_exactly(
    scene: Scene,
) -> None:
    publish(scene)
    scene.pin(*(f"{n}==1.0" for n in NAMES))
    before, files = freeze(scene.venv), file_tree(scene.venv)
    rng = random.Random(20261208)
    killed = 0
    for point in range(KILL_POINTS):
        code = killed_update(scene, rng.uniform(0.0, 0.25))
        journal = scene.venv.site_packages / ".pipfresh-update" / "journal.json"
        if code == 0 or not journal.exists():
            # The kill came after the update had committed (or pipfresh had exited).
            assert freeze(scene.venv) == {**before, **dict.fromkeys(NAMES, "2.0")}
            scene.pin(*(f"{n}==1.0" for n in NAMES))
            files = file_tree(scene.venv)
            continue
        assert code == -signal.SIGKILL, code
        killed += 1
        # The next update restores first; no patch release exists, so it then stops.
        after = scene.update("-y", "--target", "patch", "--installer", "uv")
        assert after.returncode == 0, describe(after)
        assert "Traceback" not in after.stderr
        assert freeze(scene.venv) == before, f"point {point}: {after.stderr}"
        assert file_tree(scene.venv) == files, f"point {point}: {after.stderr}"
    assert killed >= KILL_POINTS // 2, killed  # most kills landed inside the update
