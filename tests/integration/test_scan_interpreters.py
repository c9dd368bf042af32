"""``--python`` against other interpreters (pyenv's 3.8 and 3.13, skipped when absent) and
a ``uv venv`` with no pip: pipfresh, on its own Python, scans them all."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from integration.test_scan_helpers import install_pins, pipfresh_env, publish, run_json
from support.index_server import IndexServer
from support.venvs import VenvFactory, clean_env, find_python
from support.wheels import WheelFactory


@pytest.mark.parametrize("version", ["3.8", "3.13"])
def test_venv_of_another_interpreter(
    version: str,
    index_server: IndexServer,
    wheel_factory: WheelFactory,
    make_venv: VenvFactory,
    tmp_path: Path,
) -> None:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    publish(index_server, wheel_factory, "oldie", "0.9", "1.4")
    venv = make_venv(python=python)
    install_pins(venv, index_server.url, ["oldie==0.9"])
    full_version = subprocess.run(
        [str(venv.python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
        timeout=30,
    ).stdout.strip()
    assert full_version.startswith(version + ".")

    document = run_json(
        "--python",
        venv.path,
        "--index-url",
        index_server.url,
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    assert document["environment"]["python_version"] == full_version
    assert document["environment"]["prefix"] == str(venv.path)
    assert [(p["name"], p["installed"], p["latest"]) for p in document["packages"]] == [
        ("oldie", "0.9", "1.4")
    ]


def test_uv_venv_without_pip(
    index_server: IndexServer,
    wheel_factory: WheelFactory,
    make_venv: VenvFactory,
    tmp_path: Path,
) -> None:
    publish(index_server, wheel_factory, "oldie", "0.9", "1.4")
    venv = make_venv()  # uv venv: nothing installed, not even pip
    assert not venv.has_pip
    install_pins(venv, index_server.url, ["oldie==0.9"])
    document = run_json(
        "--python",
        venv.python,  # the interpreter itself this time, not the folder
        "--index-url",
        index_server.url,
        "--all",
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    assert [(p["name"], p["latest"]) for p in document["packages"]] == [("oldie", "1.4")]
    assert document["summary"]["checked"] == 1
    assert document["environment"]["prefix"] == str(venv.path)
