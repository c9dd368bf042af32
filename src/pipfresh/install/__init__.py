"""Installer backends: pip and uv behind one small interface.

Each backend builds its command line (pure: :meth:`Installer.command`) and runs it
(:meth:`Installer.run`, through :func:`pipfresh.install.process.run_command`, the
only place that starts an installer). Both install exactly the files they are
given: no dependencies, no index, no configuration of this machine.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pipfresh.errors import UsageError
from pipfresh.install.process import InstallResult

InstallerName = Literal["auto", "uv", "pip"]
INSTALLERS: tuple[InstallerName, ...] = ("auto", "uv", "pip")


class Installer(Protocol):
    """One installer backend."""

    name: str

    def command(
        self, python: str, files: Sequence[Path], *, reinstall: bool, break_system_packages: bool
    ) -> list[str]:
        """The command that installs ``files`` into the interpreter ``python`` (pure)."""
        ...

    def run(
        self,
        python: str,
        files: Sequence[Path],
        *,
        reinstall: bool = False,
        break_system_packages: bool = False,
        on_output: Callable[[str], None] | None = None,
    ) -> InstallResult:
        """Run :meth:`command`; the result carries the exit status and the output."""
        ...

    def uninstall(
        self,
        python: str,
        names: Sequence[str],
        *,
        break_system_packages: bool = False,
        on_output: Callable[[str], None] | None = None,
    ) -> InstallResult:
        """Remove the distributions ``names`` from the interpreter ``python``."""
        ...


def find_uv(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """uv on PATH, else the uv installed beside the Python running pipfresh."""
    found = which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    return str(beside) if beside.is_file() else None


def choose_installer(
    requested: InstallerName, which: Callable[[str], str | None] = shutil.which
) -> Installer:
    """The backend for ``--installer``: auto means uv when it can be found, else pip."""
    from pipfresh.install.pip import PipInstaller
    from pipfresh.install.uv import UvInstaller

    if requested in ("auto", "uv"):
        uv = find_uv(which)
        if uv is not None:
            return UvInstaller(uv)
        if requested == "uv":
            raise UsageError("--installer uv: uv is not on PATH")
    if importlib.util.find_spec("pip") is None:
        raise UsageError(
            f"--installer pip: pip is not installed for {sys.executable} (the Python running "
            "pipfresh); install it there, or put uv on PATH"
        )
    return PipInstaller(sys.executable)


__all__ = ["INSTALLERS", "InstallResult", "Installer", "InstallerName", "choose_installer"]
