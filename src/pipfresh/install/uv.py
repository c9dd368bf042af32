"""The uv backend: ``uv pip install --no-deps --no-index --offline`` of local wheels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pipfresh.install.process import Backend, as_requirements


class UvInstaller(Backend):
    name = "uv"
    environ_overrides: Mapping[str, str] = {"UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}

    def __init__(self, uv: str) -> None:
        self.uv = uv

    def command(
        self, python: str, files: Sequence[Path], *, reinstall: bool, break_system_packages: bool
    ) -> list[str]:
        command = [self.uv, "pip", "install", "--python", python]
        command += ["--no-deps", "--no-index", "--offline", "--no-config", "--no-cache"]
        if reinstall:
            command.append("--reinstall")
        if break_system_packages:
            command.append("--break-system-packages")
        return [*command, *as_requirements(files)]

    def uninstall_command(
        self, python: str, names: Sequence[str], *, break_system_packages: bool
    ) -> list[str]:
        command = [self.uv, "pip", "uninstall", "--python", python, "--no-config"]
        if break_system_packages:
            command.append("--break-system-packages")
        return [*command, *names]
