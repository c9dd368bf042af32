"""Running an installer: the one place pipfresh starts pip or uv.

The installer runs in its own session, so a Ctrl-C at the terminal reaches pipfresh
only; pipfresh then stops the installer itself (and waits for it) before it restores
the environment, instead of racing an installer that is still writing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipfresh.models import TargetEnv

#: Variables of the installers' own configuration, never passed on: pipfresh tells
#: them everything they need on the command line.
_STRIPPED_PREFIXES = ("PIP_", "UV_")
#: Kept all the same: where the user's uv keeps its cache, not how uv behaves.
_KEPT = frozenset({"UV_CACHE_DIR"})
_STRIPPED = frozenset({"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX"})
#: How long an installer gets to stop after SIGTERM before it is killed.
STOP_GRACE = 10.0


@dataclass(frozen=True, slots=True)
class InstallResult:
    command: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr, interleaved
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def installer_environ(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` without pip's, uv's and Python's path overrides, plus ``extra``."""
    env = {
        k: v
        for k, v in base.items()
        if k in _KEPT or (not k.startswith(_STRIPPED_PREFIXES) and k not in _STRIPPED)
    }
    env.update(extra)
    return env


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux: the kernel kills the installer when pipfresh dies, even by SIGKILL, so no
    # installer goes on writing while the next run restores the environment.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


_PR_SET_PDEATHSIG = 1


def run_command(
    command: Sequence[str],
    environ: Mapping[str, str],
    on_output: Callable[[str], None] | None = None,
    *,
    pass_fds: Sequence[int] = (),
    timeout: float | None = None,
) -> InstallResult:
    """Run ``command`` to its end, handing each output line to ``on_output``.

    Any exception while waiting (KeyboardInterrupt included) stops the installer
    (SIGTERM, then SIGKILL after :data:`STOP_GRACE` seconds) and is re-raised once it
    has exited. ``pass_fds`` (the environment's lock) are inherited by the installer,
    so the lock stays held for as long as the installer lives.
    """
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(environ),
            start_new_session=True,
            pass_fds=tuple(pass_fds),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
    except OSError as exc:
        message = f"cannot run {command[0]}: {exc.strerror or exc}\n"
        return InstallResult(tuple(command), 127, message, time.perf_counter() - started)
    lines: list[str] = []
    timer = None
    if timeout is not None:
        import threading

        timer = threading.Timer(timeout, proc.kill)  # a hung build costs one package
        timer.daemon = True
        timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            if on_output is not None:
                on_output(line)
        returncode = proc.wait()
    except BaseException:
        _stop(proc)
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if proc.stdout is not None:
            proc.stdout.close()
    return InstallResult(tuple(command), returncode, "".join(lines), time.perf_counter() - started)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


__all__ = ["InstallResult", "installer_environ", "run_command"]


def as_requirements(files: Sequence[Path]) -> list[str]:
    """``--find-links`` folders and ``name==version`` pins for local wheels.

    Installing the wheel files themselves would be a direct-URL install: pip and uv
    would write a PEP 610 ``direct_url.json``, and every later scan would report the
    package as installed from a file and never look it up on an index again. Pinned
    requirements found through ``--find-links`` install the same files as ordinary
    index installs.
    """
    from packaging.utils import parse_wheel_filename

    folders = list(dict.fromkeys(str(Path(f).parent) for f in files))
    pins = []
    for file in files:
        name, version, _, _ = parse_wheel_filename(Path(file).name)
        pins.append(f"{name}=={version}")
    return [arg for folder in folders for arg in ("--find-links", folder)] + pins


class Backend:
    """What every installer backend shares: running its (pure) commands with its
    environment. Subclasses give ``name``, ``environ_overrides``, :meth:`command` and
    :meth:`uninstall_command`."""

    name: str
    source: str = ""  # where it was found, as users read it: "uv on PATH"
    environ_overrides: Mapping[str, str] = {}

    def command(
        self, python: str, files: Sequence[Path], *, reinstall: bool, break_system_packages: bool
    ) -> list[str]:
        raise NotImplementedError

    def uninstall_command(
        self, python: str, names: Sequence[str], *, break_system_packages: bool
    ) -> list[str]:
        raise NotImplementedError

    def run(
        self,
        python: str,
        files: Sequence[Path],
        *,
        reinstall: bool = False,
        break_system_packages: bool = False,
        on_output: Callable[[str], None] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> InstallResult:
        command = self.command(
            python, files, reinstall=reinstall, break_system_packages=break_system_packages
        )
        return run_command(command, self._environ(), on_output, pass_fds=pass_fds)

    def own_distribution(self, target: TargetEnv) -> str | None:
        """The target's distribution this installer runs from, if any (it must keep
        working while the update replaces it, so its files are copied, not moved)."""
        return None

    def uninstall(
        self,
        python: str,
        names: Sequence[str],
        *,
        break_system_packages: bool = False,
        on_output: Callable[[str], None] | None = None,
    ) -> InstallResult:
        command = self.uninstall_command(python, names, break_system_packages=break_system_packages)
        return run_command(command, self._environ(), on_output)

    def _environ(self) -> dict[str, str]:
        return installer_environ(os.environ, self.environ_overrides)
