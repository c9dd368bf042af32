"""The uv backend: ``uv pip install --no-deps --no-index --offline`` of local wheels."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from pipfresh.install.process import (
    InstallResult,
    as_requirements,
    installer_environ,
    run_command,
)


class UvInstaller:
    name = "uv"

    def __init__(self, uv: str) -> None:
        self.uv = uv

    def command(
        self, python: str, files: Sequence[Path], *, reinstall: bool, break_system_packages: bool
    ) -> list[str]:
        command = [
            self.uv,
            "pip",
            "install",
            "--python",
            python,
            "--no-deps",
            "--no-index",
            "--offline",
            "--no-config",
            "--no-cache",
        ]
        if reinstall:
            command.append("--reinstall")
        if break_system_packages:
            command.append("--break-system-packages")
        return [*command, *as_requirements(files)]

    def run(
        self,
        python: str,
        files: Sequence[Path],
        *,
        reinstall: bool = False,
        break_system_packages: bool = False,
        on_output: Callable[[str], None] | None = None,
    ) -> InstallResult:
        command = self.command(
            python, files, reinstall=reinstall, break_system_packages=break_system_packages
        )
        environ = installer_environ(
            os.environ, {"UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}
        )
        return run_command(command, environ, on_output)

    def uninstall(
        self,
        python: str,
        names: Sequence[str],
        *,
        break_system_packages: bool = False,
        on_output: Callable[[str], None] | None = None,
    ) -> InstallResult:
        command = [self.uv, "pip", "uninstall", "--python", python, "--no-config"]
        if break_system_packages:
            command.append("--break-system-packages")
        environ = installer_environ(
            os.environ, {"UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}
        )
        return run_command([*command, *names], environ, on_output)
