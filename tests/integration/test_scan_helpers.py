"""Helpers shared by the end-to-end scan tests (``test_scan_*.py``, ``test_cli_*.py``).

This module holds no tests. Import it as ``from integration.test_scan_helpers import ...``
(``tests/`` is on ``sys.path`` through ``tests/conftest.py``).

Every pipfresh run made here is isolated from this machine: no ``PIP_*``, ``UV_*`` or
``PIPFRESH_*`` variable leaks in, pip's configuration files are replaced by
``PIP_CONFIG_FILE`` (``/dev/null`` or a file the test wrote), ``.netrc`` is a file of the
test's own (or none), and the cache lives in the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from support.index_server import IndexServer
from support.venvs import Venv, clean_env, install
from support.wheels import WheelFactory

PIPFRESH = (sys.executable, "-m", "pipfresh")
#: Upper bound for one pipfresh run; the runs here take well under a second.
RUN_TIMEOUT = 60.0
_STRIP = ("PIP_", "UV_", "PIPFRESH_")
DEFAULT_CACHE_NAME = "pipfresh-cache"


def pipfresh_env(
    tmp_path: Path,
    *,
    pip_config: Path | str | None = None,
    netrc: Path | str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a pipfresh subprocess: scrubbed, plain output, own cache."""
    env = {k: v for k, v in clean_env().items() if not k.startswith(_STRIP)}
    env["PIP_CONFIG_FILE"] = str(pip_config) if pip_config is not None else os.devnull
    env["PIPFRESH_CACHE_DIR"] = str(tmp_path / DEFAULT_CACHE_NAME)
    # Not this machine's user config file (empty: none); a test may name its own.
    env["PIPFRESH_CONFIG_FILE"] = ""
    # Not this machine's ~/.netrc: an empty one of the test's own, unless it wrote one.
    if netrc is None:
        netrc = tmp_path / "empty.netrc"
        netrc.touch(mode=0o600, exist_ok=True)
    env["NETRC"] = str(netrc)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    env.pop("FORCE_COLOR", None)
    if extra:
        env.update(extra)
    return env


def api_environ(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    pip_config: Path | str | None = None,
    extra: Mapping[str, str] | None = None,
) -> None:
    """Make ``os.environ`` of this process what :func:`pipfresh_env` gives a subprocess
    (the API reads pip's configuration from ``os.environ``)."""
    wanted = pipfresh_env(tmp_path, pip_config=pip_config, extra=extra)
    for key in list(os.environ):
        if key not in wanted:
            monkeypatch.delenv(key)
    for key, value in wanted.items():
        monkeypatch.setenv(key, value)


def run_pipfresh(
    *args: str | os.PathLike[str],
    env: Mapping[str, str],
    cwd: Path,
) -> subprocess.CompletedProcess[str]:
    """``python -m pipfresh ARGS`` to completion (bounded), output captured as text.

    Each run starts with an empty cache (a fresh folder under the scene's), so tests
    that count requests see every one; a test about the cache passes its own
    ``PIPFRESH_CACHE_DIR`` (any other name) to share one between runs.
    """
    env = dict(env)
    default_cache = env.get("PIPFRESH_CACHE_DIR", "")
    if default_cache.endswith(DEFAULT_CACHE_NAME):
        Path(default_cache).mkdir(parents=True, exist_ok=True)
        env["PIPFRESH_CACHE_DIR"] = tempfile.mkdtemp(prefix="run-", dir=default_cache)
    return subprocess.run(
        [*PIPFRESH, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def run_json(
    *args: str | os.PathLike[str],
    env: Mapping[str, str],
    cwd: Path,
    expect: int = 0,
) -> dict[str, Any]:
    """Run with ``--format json``; check the exit status and return the document."""
    result = run_pipfresh(*args, "--format", "json", env=env, cwd=cwd)
    assert result.returncode == expect, describe(result)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """Everything about a finished run, for assertion messages."""
    return (
        f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n"
        f"--- stderr ---\n{result.stderr}"
    )


def latest_by_name(document: Mapping[str, Any]) -> dict[str, str | None]:
    """``{name: latest}`` of the packages of a JSON document."""
    return {p["name"]: p["latest"] for p in document["packages"]}


def publish(
    server: IndexServer,
    wheels: WheelFactory,
    name: str,
    *versions: str,
    upload_time: str | None = None,
) -> None:
    """Serve a py3-none-any wheel of ``name`` for each version."""
    for version in versions:
        server.add(wheels(name, version), upload_time=upload_time)


def install_pins(venv: Venv, server_url: str, pins: Iterable[str]) -> None:
    """Install ``pins`` (``name==version``) into ``venv`` from ``server_url`` with uv."""
    install(venv, *pins, index_url=server_url)


def assert_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2, nothing on stdout, one ``pipfresh: error:`` line on stderr, no traceback."""
    assert result.returncode == 2, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, describe(result)
    assert lines[0].startswith("pipfresh: error:"), describe(result)
    for needle in needles:
        assert needle in lines[0], describe(result)
    assert result.stdout == "", describe(result)
