"""The pip backend: ``pip install --no-deps --no-index`` of local wheels.

Run by the target's own pip when it has one (``python -m pip``: a pip that supports
that Python), else by the pip of the Python running pipfresh aimed at the target with
``pip --python``, so a target needs no pip of its own."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipfresh.install.process import Backend, as_requirements

if TYPE_CHECKING:
    from pipfresh.models import TargetEnv


class PipInstaller(Backend):
    name = "pip"
    # --isolated skips pip's user config and PIP_* but not the global config file;
    # PIP_CONFIG_FILE=/dev/null skips every config file.
    environ_overrides: Mapping[str, str] = {"PIP_CONFIG_FILE": os.devnull}

    def __init__(self, runner: str, *, own: bool = False) -> None:
        self.runner = runner  # the interpreter whose pip runs
        self.own = own  # that interpreter is the target's

    def _pip(self, python: str, action: str) -> list[str]:
        if self.own:
            return [self.runner, "-m", "pip", action, "--isolated"]
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

    def own_distribution(self, target: TargetEnv) -> str | None:
        return "pip" if self.own else None
