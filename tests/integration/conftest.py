"""Fixtures shared by the end-to-end update tests (``test_update.py`` drives the CLI,
``test_api_update.py`` the Python API).

Fixtures
    scene             a :class:`integration.test_update.Scene`: the local index, the
                      wheel factory, an empty venv, an isolated environment
    failing_uv        a folder to put first on PATH: its ``uv`` changes the environment,
                      then reports failure (the rollback's own run succeeds)
    make_blocking_uv  ``make_blocking_uv(installs)``: a ``uv`` that stops inside the
                      install step until killed; ``blocking_uv`` is the one that
                      installs everything first
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from integration.test_scan_helpers import pipfresh_env
from integration.test_update import Scene
from support.index_server import IndexServer
from support.venvs import VenvFactory, find_uv
from support.wheels import WheelFactory


@pytest.fixture
def scene(
    index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory, tmp_path: Path
) -> Scene:
    return Scene(index_server, wheel_factory, make_venv("target"), tmp_path, pipfresh_env(tmp_path))


@pytest.fixture
def failing_uv(tmp_path: Path) -> Path:
    """A ``uv`` on PATH that runs the real uv, then fails every install except the
    rollback's ``--reinstall``: the environment changed, and the installer says no."""
    real = find_uv()
    if real is None:
        pytest.skip("uv is not installed")
    folder = tmp_path / "failbin"
    folder.mkdir()
    script = folder / "uv"
    script.write_text(
        "#!/bin/sh\n"
        f'"{real}" "$@" || exit $?\n'
        'case " $* " in *" --reinstall "*) exit 0;; *" install "*) exit 1;; esac\n'
    )
    script.chmod(0o755)
    return folder


#: How much of the install a blocking uv does before it stops: nothing, every pin but
#: the last (a half-changed environment), or everything.
Installs = Literal["nothing", "all-but-last", "all"]


@dataclass(frozen=True)
class BlockingUv:
    bin: Path  # put first on PATH
    marker: Path  # appears (holding the blocked script's pid) once it has stopped


@pytest.fixture
def make_blocking_uv(tmp_path: Path) -> Callable[[Installs], BlockingUv]:
    """``uv`` scripts that, for an install (the rollback's ``--reinstall`` and
    ``uninstall`` runs excepted), run the real uv on all, some or none of the pins,
    write their pid to the marker and block on a FIFO nobody writes: an installer
    caught inside the install step. Killing the script (by that pid) ends it."""
    real = find_uv()
    if real is None:
        pytest.skip("uv is not installed")
    made = 0

    def make(installs: Installs) -> BlockingUv:
        nonlocal made
        made += 1
        folder = tmp_path / f"blockbin{made}"
        folder.mkdir()
        marker = tmp_path / f"blocked{made}.pid"
        fifo = tmp_path / f"never{made}.fifo"
        os.mkfifo(fifo)
        run = {
            "nothing": "",
            # Rebuild "$@" without its last word (the last pinned requirement).
            "all-but-last": (
                'n=$#; i=0\nfor a in "$@"; do\n  [ "$i" -eq 0 ] && set --\n'
                '  i=$((i + 1))\n  [ "$i" -lt "$n" ] && set -- "$@" "$a"\ndone\n'
                f'"{real}" "$@" || exit $?\n'
            ),
            "all": f'"{real}" "$@" || exit $?\n',
        }[installs]
        script = folder / "uv"
        script.write_text(
            "#!/bin/sh\n"
            f'case " $* " in *" --reinstall "*|*" uninstall "*) exec "{real}" "$@";; esac\n'
            f"{run}"
            f'echo $$ > "{marker}.tmp" && mv "{marker}.tmp" "{marker}"\n'
            f'read line < "{fifo}"\n'
        )
        script.chmod(0o755)
        return BlockingUv(folder, marker)

    return make


@pytest.fixture
def blocking_uv(make_blocking_uv: Callable[[Installs], BlockingUv]) -> tuple[Path, Path]:
    """A ``uv`` that installs everything, then blocks before exiting: an installer
    caught after it changed the environment. ``(folder for PATH, marker)``."""
    uv = make_blocking_uv("all")
    return uv.bin, uv.marker
