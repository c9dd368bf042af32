"""The installers' command lines and environment: pure, so checked without running them."""

from __future__ import annotations

from pathlib import Path

from pipfresh.install.process import installer_environ
from pipfresh.install.uv import UvInstaller

WHEEL = Path("/cache/wheels/ab/demo-2.0-py3-none-any.whl")


def test_uv_installs_through_its_cache_unless_pipfresh_has_none() -> None:
    cached = UvInstaller("uv").command("py", [WHEEL], reinstall=False, break_system_packages=False)
    assert "--no-cache" not in cached
    assert {"--no-deps", "--no-index", "--offline", "--no-config"} <= set(cached)
    uncached = UvInstaller("uv", cache=False).command(
        "py", [WHEEL], reinstall=False, break_system_packages=False
    )
    assert "--no-cache" in uncached


def test_the_installer_environment_keeps_where_uv_caches_and_nothing_of_its_configuration() -> None:
    base = {
        "PATH": "/bin",
        "UV_CACHE_DIR": "/scratch/uv",
        "UV_INDEX_URL": "http://evil/simple",
        "PIP_INDEX_URL": "http://evil/simple",
        "PYTHONPATH": "/elsewhere",
    }
    env = installer_environ(base, {"UV_NO_CONFIG": "1"})
    assert env == {"PATH": "/bin", "UV_CACHE_DIR": "/scratch/uv", "UV_NO_CONFIG": "1"}
