"""The uv backend: ``uv pip install --no-deps --no-index --offline`` of local wheels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipfresh.install.process import Backend, as_requirements

if TYPE_CHECKING:
    from pipfresh.models import TargetEnv


class UvInstaller(Backend):
    name = "uv"
    environ_overrides: Mapping[str, str] = {"UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}

    def __init__(self, uv: str, *, cache: bool = True) -> None:
        self.uv = uv
        # uv unpacks each wheel into its cache and links the files from there: with
        # --no-cache it unpacks into a temporary cache and deletes it after, some
        # 22,000 more unlinks on a 136-wheel update, and the next update unpacks again.
        self.cache = cache

    def command(
        self, python: str, files: Sequence[Path], *, reinstall: bool, break_system_packages: bool
    ) -> list[str]:
        command = [self.uv, "pip", "install", "--python", python]
        command += ["--no-deps", "--no-index", "--offline", "--no-config"]
        if not self.cache:
            command.append("--no-cache")
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

    def own_distribution(self, target: TargetEnv) -> str | None:
        # A uv installed in the target itself keeps working while uv is replaced.
        import os

        binary = os.path.normpath(os.path.abspath(self.uv))
        prefix = os.path.normpath(os.path.abspath(target.prefix))
        return "uv" if binary.startswith(prefix + os.sep) else None
