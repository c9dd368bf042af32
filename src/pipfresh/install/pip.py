"""The pip backend: the pip of the Python running pipfresh, aimed at the target with
``pip --python``, so a target needs no pip of its own."""

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


class PipInstaller:
    name = "pip"

    def __init__(self, runner: str) -> None:
        self.runner = runner  # the interpreter whose pip runs

    def command(
        self, python: str, files: Sequence[Path], *, reinstall: bool, break_system_packages: bool
    ) -> list[str]:
        command = [
            self.runner,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--isolated",
            "--no-deps",
            "--no-index",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
        ]
        if reinstall:
            command.append("--force-reinstall")
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
        # --isolated skips pip's user config and PIP_* but not the global config file;
        # PIP_CONFIG_FILE=/dev/null skips every config file.
        environ = installer_environ(os.environ, {"PIP_CONFIG_FILE": os.devnull})
        return run_command(command, environ, on_output)

    def uninstall(
        self,
        python: str,
        names: Sequence[str],
        *,
        break_system_packages: bool = False,
        on_output: Callable[[str], None] | None = None,
    ) -> InstallResult:
        command = [
            self.runner,
            "-m",
            "pip",
            "--python",
            python,
            "uninstall",
            "--isolated",
            "--yes",
            "--disable-pip-version-check",
            "--no-input",
        ]
        if break_system_packages:
            command.append("--break-system-packages")
        environ = installer_environ(os.environ, {"PIP_CONFIG_FILE": os.devnull})
        return run_command([*command, *names], environ, on_output)
