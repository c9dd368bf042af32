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
from typing import TYPE_CHECKING, Literal

from pipfresh.errors import UsageError
from pipfresh.install.process import Backend, InstallResult
from pipfresh.installed import read_installed

if TYPE_CHECKING:
    from pipfresh.models import TargetEnv

# Every backend derives from Backend: building commands is theirs, running them shared.
Installer = Backend

InstallerName = Literal["auto", "uv", "pip"]
INSTALLERS: tuple[InstallerName, ...] = ("auto", "uv", "pip")


def find_uv(which: Callable[[str], str | None] = shutil.which) -> tuple[str, str] | None:
    """(path, where it was found) of a uv binary: on PATH, beside the Python running
    pipfresh, or shipped by the ``uv`` package (``pipfresh[uv]``)."""
    found = which("uv")
    if found:
        return found, "on PATH"
    beside = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    if beside.is_file():
        return str(beside), f"beside {sys.executable}"
    if importlib.util.find_spec("uv") is not None:
        try:
            from uv import find_uv_bin

            return str(find_uv_bin()), "from the uv package"
        except (ImportError, FileNotFoundError, OSError):
            pass
    return None


def target_has_pip(target: TargetEnv) -> bool:
    """The target has a pip of its own (one that supports its Python)."""
    return any(
        d.canonical_name == "pip" and d.kind == "index" for d in read_installed(target.sys_path)
    )


def _own_pip_supports(target: TargetEnv) -> str | None:
    """None when the pip of the Python running pipfresh can install into ``target``,
    else why not."""
    if importlib.util.find_spec("pip") is None:
        return f"pip is not installed for {sys.executable}"
    from importlib.metadata import PackageNotFoundError, metadata

    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        info = metadata("pip")
    except PackageNotFoundError:
        return f"pip is not installed for {sys.executable}"
    needs = (info.get_all("Requires-Python") or [""])[0]
    try:
        if needs and not SpecifierSet(needs).contains(target.python_version, prereleases=True):
            return f"the pip of {sys.executable} ({info['Version']}) needs Python {needs}"
    except InvalidSpecifier:
        pass
    return None


def choose_installer(
    requested: InstallerName,
    target: TargetEnv,
    which: Callable[[str], str | None] = shutil.which,
    *,
    cache: bool = True,
) -> Installer:
    """The backend for ``--installer``; its ``source`` says where it came from.
    ``cache``: uv may use its own cache (False with pipfresh's ``--no-cache``).

    auto: uv wherever it can be found (the fastest), else the target's own pip, else the
    pip of the Python running pipfresh when it supports the target's Python.
    """
    from pipfresh.install.pip import PipInstaller
    from pipfresh.install.uv import UvInstaller

    chosen: Installer
    if requested in ("auto", "uv"):
        uv = find_uv(which)
        if uv is not None:
            chosen = UvInstaller(uv[0], cache=cache)
            chosen.source = f"uv {uv[1]}"
            return chosen
        if requested == "uv":
            raise UsageError(
                "--installer uv: uv is not on PATH (install it, or pipfresh with the extra: "
                "pip install 'pipfresh[uv]')"
            )
    if target_has_pip(target):
        chosen = PipInstaller(target.python, own=True)
        chosen.source = "the target's own pip"
        return chosen
    why_not = _own_pip_supports(target)
    if why_not is not None:
        tried = "it has no pip, uv was not found," if requested == "auto" else "it has no pip"
        raise UsageError(
            f"no installer for {target.python} (Python {target.python_version}): {tried} "
            f"and {why_not}; install uv (pip install 'pipfresh[uv]') or pip in the target"
        )
    chosen = PipInstaller(sys.executable)
    chosen.source = f"the pip of {sys.executable}"
    return chosen


__all__ = ["INSTALLERS", "InstallResult", "Installer", "InstallerName", "choose_installer"]
