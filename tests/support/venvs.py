"""Real virtual environments for tests, made fast and isolated from the machine.

``make_venv`` uses ``uv venv`` (tens of milliseconds) and falls back to
``python -m venv --without-pip``; ``with_pip=True`` uses ``python -m venv`` (pip from
the interpreter's bundled ``ensurepip``, offline, about 3 s).

``install`` installs from one local index only. This machine's global pip
configuration adds extra ``file://`` indexes, a find-links folder and a constraints
file, so every installer call runs with a scrubbed environment: no ``PIP_*`` or
``UV_*`` variables, ``PIP_CONFIG_FILE=/dev/null`` (which makes pip skip *all* its
config files; ``--isolated`` alone still reads the global ones), ``--isolated`` and
``--no-config``, and no cache, so nothing from another run or port can leak in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from functools import cache
from pathlib import Path
from typing import Literal

from packaging.utils import canonicalize_name

__all__ = [
    "InstallError",
    "Installer",
    "Venv",
    "VenvFactory",
    "clean_env",
    "find_python",
    "find_uv",
    "freeze",
    "install",
    "make_venv",
    "uninstall",
]

Installer = Literal["uv", "pip"]

#: Upper bound for one venv creation or installer run.
SUBPROCESS_TIMEOUT = 120.0


class InstallError(Exception):
    """An installer run failed; carries the command and its output."""

    def __init__(self, command: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(
            f"{' '.join(command)} exited with {returncode}\n"
            f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        )
        self.command = list(command)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


@dataclass(frozen=True)
class Venv:
    """A virtual environment made by :func:`make_venv`."""

    path: Path

    @property
    def bin(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin")

    @property
    def python(self) -> Path:
        return self.bin / ("python.exe" if os.name == "nt" else "python")

    @property
    def site_packages(self) -> Path:
        if os.name == "nt":
            return self.path / "Lib" / "site-packages"
        candidates = sorted(self.path.glob("lib/*/site-packages"))
        if not candidates:
            raise FileNotFoundError(f"no site-packages in {self.path}")
        return candidates[0]

    @property
    def has_pip(self) -> bool:
        return any(self.site_packages.glob("pip-*.dist-info"))

    def __fspath__(self) -> str:
        return str(self.path)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without installer/venv configuration, plus pip's config disabled."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_", "PIPFRESH_"))
        and key not in {"VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME"}
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["UV_NO_CONFIG"] = "1"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def pip_dry_run_offline(
    requirements: Path, wheels: Path, *options: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``pip install --dry-run --ignore-installed -r requirements`` from the wheels in
    ``wheels`` only (no index, no cache, this machine's pip configuration off), with
    ``options`` (e.g. ``--no-deps``) before ``-r``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "install",
            "--dry-run",
            *options,
            "--ignore-installed",
            "--no-index",
            "--no-cache-dir",
            "--find-links",
            str(wheels),
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=cwd,
        check=False,
        timeout=120,
    )


def find_uv() -> str | None:
    """Path of the uv binary: the ``uv`` package's, next to this Python, or on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    beside = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    if beside.is_file():
        return str(beside)
    return shutil.which("uv")


@cache
def find_python(version: str) -> str | None:
    """A working interpreter for ``version`` (e.g. ``"3.8"``): pyenv's, else on PATH.

    pyenv shims are skipped unless they actually run (a shim for a version that is not
    selected exits 127), so tests can ``skipif(find_python("3.8") is None)``.
    """
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [
        str(path / "bin" / f"python{version}")
        for path in sorted((pyenv_root / "versions").glob(f"{version}.*"), reverse=True)
    ]
    found = shutil.which(f"python{version}")
    if found is not None:
        candidates.append(found)
    for candidate in candidates:
        try:
            result = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
                env=clean_env(),
            )
        except OSError:
            continue
        if result.returncode == 0 and result.stdout.strip() == version:
            return candidate
    return None


def _run(command: Sequence[str], *, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else clean_env(),
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise InstallError(command, result.returncode, result.stdout, result.stderr)
    return result.stdout


def make_venv(
    path: Path | str, python: Path | str = sys.executable, *, with_pip: bool = False
) -> Venv:
    """Create a virtual environment at ``path`` for the interpreter ``python``."""
    path = Path(path)
    uv = find_uv()
    if with_pip:
        _run([str(python), "-m", "venv", str(path)])
    elif uv is not None:
        _run([uv, "venv", "--quiet", "--no-config", "--python", str(python), str(path)])
    else:
        _run([str(python), "-m", "venv", "--without-pip", str(path)])
    return Venv(path)


def _as_venv(venv: Venv | Path | str) -> Venv:
    return venv if isinstance(venv, Venv) else Venv(Path(venv))


def install(
    venv: Venv | Path | str,
    *specs: str | Path,
    index_url: str | None,
    installer: Installer = "uv",
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> str:
    """Install ``specs`` into ``venv`` from ``index_url`` only; return the installer's stdout.

    ``index_url=None`` means no index at all (``--no-index``): install local files.
    pip runs as the venv's own pip when it has one, else as this Python's pip with
    ``--python``. Raises :class:`InstallError` when the installer fails.
    """
    venv = _as_venv(venv)
    args = [str(spec) for spec in specs]
    index_args = ["--index-url", index_url] if index_url is not None else ["--no-index"]
    if installer == "uv":
        uv = find_uv()
        if uv is None:
            raise FileNotFoundError("uv is not installed")
        command = [
            uv,
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--python",
            str(venv.python),
            *index_args,
            *extra_args,
            *args,
        ]
    elif installer == "pip":
        command = [*_pip_command(venv), "install", *index_args, *extra_args, *args]
    else:
        raise ValueError(f"unknown installer {installer!r}")
    return _run(command, env=clean_env(env))


def uninstall(
    venv: Venv | Path | str, *names: str, installer: Installer = "uv"
) -> str:  # pragma: no cover - convenience for other tests
    """Uninstall ``names`` from ``venv``."""
    venv = _as_venv(venv)
    if installer == "uv":
        uv = find_uv()
        if uv is None:
            raise FileNotFoundError("uv is not installed")
        command = [uv, "pip", "uninstall", "--no-config", "--python", str(venv.python), *names]
    else:
        command = [*_pip_command(venv), "uninstall", "--yes", *names]
    return _run(command)


def _pip_command(venv: Venv) -> list[str]:
    common = ["--isolated", "--no-cache-dir", "--disable-pip-version-check", "--no-input"]
    if venv.has_pip:
        return [str(venv.python), "-m", "pip", *common]
    return [sys.executable, "-m", "pip", "--python", str(venv.python), *common]


def freeze(venv: Venv | Path | str) -> dict[str, str]:
    """Installed distributions of ``venv`` as {canonical name: version}, read from metadata."""
    venv = _as_venv(venv)
    found: dict[str, str] = {}
    parser = HeaderParser()
    site = venv.site_packages
    for meta in sorted([*site.glob("*.dist-info/METADATA"), *site.glob("*.egg-info/PKG-INFO")]):
        headers = parser.parsestr(meta.read_text(encoding="utf-8", errors="replace"))
        name, version = headers.get("Name"), headers.get("Version")
        if name and version:
            found.setdefault(canonicalize_name(name), version)
    return found


def file_tree(venv: Venv | Path | str) -> dict[str, str]:
    """Every file of ``venv``'s site-packages and bin folders as {relative path: sha256},
    bytecode caches left out: equal trees mean an exactly restored environment."""
    import hashlib

    venv = _as_venv(venv)
    found: dict[str, str] = {}
    for base in (venv.site_packages, venv.python.parent):
        for path in sorted(base.rglob("*")):
            parts = path.relative_to(base).parts
            if "__pycache__" in parts or ".pipfresh-update" in parts or path.is_dir():
                continue
            key = f"{base.name}/{path.relative_to(base).as_posix()}"
            found[key] = (
                "link" if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
            )
    return found


class VenvFactory:
    """Makes real venvs under ``root``: ``factory(name=None, python=..., with_pip=False)``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made = 0

    def __call__(
        self,
        name: str | None = None,
        python: Path | str = sys.executable,
        *,
        with_pip: bool = False,
    ) -> Venv:
        self._made += 1
        return make_venv(self.root / (name or f"venv{self._made}"), python, with_pip=with_pip)
