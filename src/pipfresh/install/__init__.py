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
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pipfresh.errors import UsageError
from pipfresh.install.process import Backend, InstallResult

# Every backend derives from Backend: building commands is theirs, running them shared.
Installer = Backend

InstallerName = Literal["auto", "uv", "pip"]
INSTALLERS: tuple[InstallerName, ...] = ("auto", "uv", "pip")


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
