"""The pip backend: the pip of the Python running pipfresh, aimed at the target with
``pip --python``, so a target needs no pip of its own."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipfresh.install.process import Backend, as_requirements


class PipInstaller(Backend):
    name = "pip"
    # --isolated skips pip's user config and PIP_* but not the global config file;
    # PIP_CONFIG_FILE=/dev/null skips every config file.
    environ_overrides: Mapping[str, str] = {"PIP_CONFIG_FILE": os.devnull}

    def __init__(self, runner: str) -> None:
        self.runner = runner  # the interpreter whose pip runs

    def _pip(self, python: str, action: str) -> list[str]:
        return [self.runner, "-m", "pip", "--python", python, action, "--isolated"]

    def command(
        self, python: str, files: Sequence[Path], *, reinstall: bool, break_system_packages: bool
    ) -> list[str]:
        command = self._pip(python, "install")
        command += ["--no-deps", "--no-index", "--no-cache-dir"]
        command += ["--disable-pip-version-check", "--no-input"]
        if reinstall:
            command.append("--force-reinstall")
        if break_system_packages:
            command.append("--break-system-packages")
        return [*command, *as_requirements(files)]

    def uninstall_command(
        self, python: str, names: Sequence[str], *, break_system_packages: bool
    ) -> list[str]:
        command = self._pip(python, "uninstall")
        command += ["--yes", "--disable-pip-version-check", "--no-input"]
        if break_system_packages:
            command.append("--break-system-packages")
        return [*command, *names]
