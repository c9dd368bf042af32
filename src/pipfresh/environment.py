"""The target environment: which interpreter, what it reports, and what is installed in it.

Three steps, each usable alone:

* :func:`find_interpreter` turns ``--python`` (or nothing) into an interpreter path,
  touching only the file system (no subprocess, except to check the patch level of a
  ``3.12.1``-style request found on PATH).
* :func:`inspect_target` runs :mod:`pipfresh._target_script` once inside that
  interpreter and turns its JSON into a :class:`~pipfresh.models.TargetEnv`; the
  supported wheel tags are built on the host by :mod:`pipfresh.tags`.
* :func:`pipfresh.installed.read_installed` reads the installed
  distributions' metadata straight from the target's ``sys.path`` in this process,
  which needs no Python in the target.

:func:`start_inspection` does the first two steps with the subprocess left running,
so that the CLI can start it before importing the rest of pipfresh. That is why this
module imports nothing heavy at the top: msgspec, packaging and the models are
imported when the target's answer is read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pipfresh.errors import TargetError

if TYPE_CHECKING:
    from pipfresh.models import TargetEnv

__all__ = ["PendingInspection", "find_interpreter", "inspect_target", "start_inspection"]


# ---------------------------------------------------------------------------
# Finding the interpreter
# ---------------------------------------------------------------------------

_VERSION_REQUEST = re.compile(
    r"(?:python)?(?P<major>\d+)(?:\.(?P<minor>\d+)(?:\.(?P<micro>\d+))?)?"
)
_PYENV_VERSION_DIR = re.compile(r"(\d+)\.(\d+)\.(\d+)")
# A venv or conda folder keeps its interpreter in one of these places (POSIX, Windows venv,
# Windows conda).
_INTERPRETER_IN_FOLDER = ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe")


def find_interpreter(
    spec: str | None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Return the absolute path of the interpreter that ``spec`` names.

    ``spec`` is an interpreter path, a venv/conda folder, a version request (``3.12``,
    ``3.12.1``, ``python3.12``) or a command name on PATH. ``None`` applies the default
    order: ``$VIRTUAL_ENV``, ``$CONDA_PREFIX``, a ``.venv`` folder in ``cwd`` or a parent,
    then the first ``python3``/``python`` on PATH.

    Symlinks are kept, not resolved: a venv's ``bin/python`` links to the base
    interpreter, and resolving it would scan the base instead of the venv.

    pyenv shims found on PATH are resolved to the real interpreter by reading pyenv's
    version files (``$PYENV_VERSION``, ``.python-version``, ``$PYENV_ROOT/version``).
    That is a few stat calls, where running a shim costs a bash start-up, and it makes
    the report name the interpreter actually scanned. When the selection cannot be
    resolved the shim itself is returned; running it still works.
    """
    env = os.environ if environ is None else environ
    here = Path.cwd() if cwd is None else cwd
    if spec is None:
        return _default_interpreter(here, env)
    return _interpreter_from_spec(spec, here, env)


def _interpreter_from_spec(spec: str, cwd: Path, env: Mapping[str, str]) -> str:
    label = f"--python {spec}"
    if not spec.strip():
        raise TargetError(f"{label}: empty interpreter name")
    expanded = os.path.expanduser(spec)
    candidate = Path(expanded) if os.path.isabs(expanded) else cwd / expanded
    looks_like_path = os.sep in spec or (os.altsep is not None and os.altsep in spec)
    if looks_like_path or candidate.exists():
        return _interpreter_at(candidate, label)
    request = _VERSION_REQUEST.fullmatch(spec)
    if request:
        found = _find_version(request, cwd, env)
        if found is None:
            raise TargetError(f"{label}: no interpreter found on PATH or in pyenv")
        return found
    found = _which(spec, env, cwd)
    if found is None:
        raise TargetError(f"{label}: not found on PATH")
    return found


def _interpreter_at(path: Path, label: str) -> str:
    """The interpreter at ``path``, or inside it when it is an environment folder."""
    if path.is_dir():
        inside = _interpreter_in_folder(path)
        if inside is None:
            raise TargetError(f"{label}: no Python interpreter in this folder")
        return inside
    if not path.exists():
        raise TargetError(f"{label}: not found")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise TargetError(f"{label}: not a Python interpreter")
    return os.path.abspath(path)


def _interpreter_in_folder(folder: Path) -> str | None:
    for relative in _INTERPRETER_IN_FOLDER:
        candidate = folder / relative
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    return None


def _default_interpreter(cwd: Path, env: Mapping[str, str]) -> str:
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        setting = env.get(variable)
        if setting:
            found = _interpreter_in_folder(Path(setting))
            if found is None:
                # An explicit, broken setting: scanning some other environment instead
                # would report on the wrong packages.
                raise TargetError(f"${variable}={setting}: no Python interpreter in this folder")
            return found
    for folder in (cwd, *cwd.parents):
        venv = folder / ".venv"
        if venv.is_dir():
            found = _interpreter_in_folder(venv)
            if found is not None:
                return found
    for name in ("python3", "python"):
        found = _which(name, env, cwd)
        if found is not None:
            return found
    raise TargetError(
        "no Python interpreter found: no virtual environment is active, no .venv in "
        f"{cwd} or its parents, and no python3 or python on PATH"
    )


def _which(name: str, env: Mapping[str, str], cwd: Path) -> str | None:
    """A command on PATH, with pyenv shims resolved to what they would run."""
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        return None
    root = _pyenv_root(env)
    if Path(found).parent == root / "shims":
        resolved = _resolve_shim(name, root, cwd, env)
        if resolved is not None:
            return resolved
    return os.path.abspath(found)


def _pyenv_root(env: Mapping[str, str]) -> Path:
    configured = env.get("PYENV_ROOT")
    if configured:
        return Path(configured)
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".pyenv"


def _pyenv_selection(root: Path, cwd: Path, env: Mapping[str, str]) -> list[str]:
    """The pyenv versions in effect, in pyenv's own order of precedence."""
    chosen = env.get("PYENV_VERSION")
    if chosen:
        return chosen.replace(":", " ").split()
    for folder in (cwd, *cwd.parents):
        names = _read_version_file(folder / ".python-version")
        if names is not None:
            return names
    return _read_version_file(root / "version") or ["system"]


def _read_version_file(path: Path) -> list[str] | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return [word for line in text.splitlines() if not line.startswith("#") for word in line.split()]


def _resolve_shim(name: str, root: Path, cwd: Path, env: Mapping[str, str]) -> str | None:
    for version in _pyenv_selection(root, cwd, env):
        if version == "system":
            path = os.pathsep.join(
                p
                for p in env.get("PATH", os.defpath).split(os.pathsep)
                if Path(p) != root / "shims"
            )
            found = shutil.which(name, path=path)
            if found is not None:
                return os.path.abspath(found)
            continue
        candidate = root / "versions" / version / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _find_version(request: re.Match[str], cwd: Path, env: Mapping[str, str]) -> str | None:
    major = int(request["major"])
    minor = None if request["minor"] is None else int(request["minor"])
    micro = None if request["micro"] is None else int(request["micro"])
    command = f"python{major}" if minor is None else f"python{major}.{minor}"
    root = _pyenv_root(env)
    # Shims are skipped here: pyenv's versions are searched directly right after.
    path = os.pathsep.join(
        p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and Path(p) != root / "shims"
    )
    on_path = shutil.which(command, path=path)
    if on_path is not None and (micro is None or _reports_version(on_path, (major, minor, micro))):
        return os.path.abspath(on_path)
    return _find_in_pyenv(root, major, minor, micro)


def _find_in_pyenv(root: Path, major: int, minor: int | None, micro: int | None) -> str | None:
    try:
        names = os.listdir(root / "versions")
    except OSError:
        return None
    best: tuple[int, int, int] | None = None
    best_path: str | None = None
    wanted = tuple(v for v in (major, minor, micro) if v is not None)
    for name in names:
        match = _PYENV_VERSION_DIR.fullmatch(name)
        if match is None:
            continue  # pypy3.10-7.3.12, 3.13.0t, miniconda3-latest: not a version request's target
        version = (int(match[1]), int(match[2]), int(match[3]))
        if version[: len(wanted)] != wanted:
            continue
        candidate = root / "versions" / name / "bin" / f"python{version[0]}.{version[1]}"
        if (best is None or version > best) and candidate.is_file():
            best, best_path = version, str(candidate)
    return best_path


def _reports_version(python: str, wanted: tuple[int, int | None, int]) -> bool:
    code = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
    try:
        out = subprocess.run(
            [python, "-E", "-s", "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == ".".join(str(v) for v in wanted)


# ---------------------------------------------------------------------------
# Inspecting the target
# ---------------------------------------------------------------------------

_SCRIPT_PATH = Path(__file__).with_name("_target_script.py")


def inspect_target(
    python: str, *, timeout: float = 30, environ: Mapping[str, str] | None = None
) -> TargetEnv:
    """Run one subprocess inside ``python`` and describe the environment it sees.

    The target runs with ``-E`` (and with ``-s`` when ``PYTHONNOUSERSITE`` is set in
    ``environ``), which gives the ``sys.path`` that ``python -m pip`` would see there:

    * ``-E`` keeps the caller's ``PYTHONPATH``, ``PYTHONHOME``, ``PYTHONSTARTUP`` and
      friends out. They are per-shell overrides, often meant for a different
      interpreter, not part of the environment pip installs into.
    * ``-I`` is not used, because it implies ``-s``: it would drop the user site
      (``~/.local/lib/pythonX.Y/site-packages``) that pip lists and upgrades for a
      non-venv interpreter. Without ``-s`` the target's own ``site`` decides, with its
      real rules (off in a venv without system site-packages, off for setuid runs,
      ``PYTHONUSERBASE`` honoured) and its ``.pth`` files processed in the real order.
      ``-E`` would hide ``PYTHONNOUSERSITE``, so it is passed on as ``-s``.
    * The working directory that ``-c`` puts first on ``sys.path`` is removed by the
      script, as it is no part of the environment.
    """
    with _spawn(None, python, timeout, environ) as pending:
        return pending.result()


def start_inspection(
    spec: str | None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> PendingInspection:
    """:func:`find_interpreter` then :func:`inspect_target`, returning as soon as the
    target's subprocess is started; :meth:`PendingInspection.result` waits for it.

    Nothing is raised here: an error of either step (a :class:`TargetError`, as they
    would raise it) is kept and raised by ``result()``, so that a caller which checks
    its own settings in between still reports those first, as it would have without
    the early start. ``environ`` serves both steps (``os.environ`` when None).
    """
    try:
        python = find_interpreter(spec, cwd=cwd, environ=environ)
        return _spawn(spec, python, timeout, environ)
    except Exception as exc:  # raised by result(), where the caller expects it
        return PendingInspection(spec, error=exc)


class PendingInspection:
    """The target's inspection, possibly still running in its subprocess.

    Use it as a context manager, or call :meth:`close`: a result never asked for
    (the caller failed first) kills and reaps the subprocess.
    """

    def __init__(
        self,
        spec: str | None,
        *,
        python: str | None = None,
        process: subprocess.Popen[bytes] | None = None,
        timeout: float = 30,
        error: Exception | None = None,
    ) -> None:
        self.spec = spec  # the --python value it was started for
        self._python = python
        self._process = process
        self._timeout = timeout
        self._error = error

    def result(self) -> TargetEnv:
        """Wait for the subprocess and describe the target, or raise the error of the
        step that failed; only once."""
        process, python = self._process, self._python
        self._process = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if process is None or python is None:
            raise RuntimeError("the inspection's result was already taken")
        label = python
        # The timeout runs from here, as when the subprocess was started here: the
        # time the caller spent meanwhile is not held against the target.
        with process:  # on the way out: closes the pipes and reaps the child
            try:
                stdout, stderr = process.communicate(timeout=self._timeout)
            except subprocess.TimeoutExpired as exc:
                # Killed, not drained: a grandchild may hold the pipes open.
                process.kill()
                raise TargetError(
                    f"{label}: no answer within {self._timeout:g} s", python=python
                ) from exc
            except BaseException:
                process.kill()
                raise
        if process.returncode != 0:
            raise TargetError(_failure_message(label, process.returncode, stderr), python=python)
        return _target_from_output(label, python, stdout)

    def close(self) -> None:
        """Kill and reap the subprocess if its result was never taken."""
        process, self._process = self._process, None
        self._error = None
        if process is not None:
            with process:  # closes the pipes and waits, so no zombie is left
                if process.poll() is None:
                    process.kill()

    def __enter__(self) -> PendingInspection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _spawn(
    spec: str | None, python: str, timeout: float, environ: Mapping[str, str] | None
) -> PendingInspection:
    env = os.environ if environ is None else environ
    label = python
    try:
        script = _SCRIPT_PATH.read_text(encoding="utf-8")
    except OSError as exc:  # a broken pipfresh install, not a bad target
        raise TargetError(f"cannot read {_SCRIPT_PATH}: {exc.strerror}") from exc
    flags = ["-E", "-s"] if env.get("PYTHONNOUSERSITE") else ["-E"]
    try:
        process = subprocess.Popen(
            [python, *flags, "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
        )
    except FileNotFoundError as exc:
        raise TargetError(f"{label}: not found", python=python) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TargetError(f"{label}: not a Python interpreter ({reason})", python=python) from exc
    return PendingInspection(spec, python=python, process=process, timeout=timeout)


def _failure_message(label: str, code: int, stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    if last.startswith("SyntaxError"):
        # The script is valid Python 3.8; a syntax error means an older interpreter.
        return f"{label}: Python too old (pipfresh needs 3.8 or newer in the target)"
    detail = f"exit {code}: {last[:200]}" if last else f"exit {code}"
    return f"{label}: not a Python interpreter pipfresh can use ({detail})"


def _target_from_output(label: str, python: str, stdout: bytes) -> TargetEnv:
    import json

    try:
        facts = json.loads(stdout)
    except ValueError:
        raise TargetError(
            f"{label}: not a Python interpreter (its output is not the expected JSON)",
            python=python,
        ) from None
    if not isinstance(facts, dict):
        raise TargetError(f"{label}: unexpected output from the target", python=python)
    if "error" in facts:
        raise TargetError(
            f"{label}: {facts['error']} (pipfresh needs 3.8 or newer in the target)", python=python
        )
    try:
        return _target_env(python, facts)
    except (KeyError, TypeError, ValueError) as exc:
        raise TargetError(
            f"{label}: unexpected output from the target (bad field {exc})", python=python
        ) from exc


def _target_env(python: str, facts: Mapping[str, Any]) -> TargetEnv:
    from pipfresh.models import TargetEnv
    from pipfresh.tags import TagFacts, supported_tags

    markers = {str(k): str(v) for k, v in facts["markers"].items()}
    version_info = tuple(int(v) for v in facts["version_info"])
    tag_facts = TagFacts.from_json(facts["implementation"], version_info, facts["tags"])
    return TargetEnv(
        python=str(facts["executable"] or os.path.abspath(python)),
        python_version=str(facts["version"]),
        implementation=str(facts["implementation"]),
        prefix=str(facts["prefix"]),
        sys_path=tuple(str(p) for p in facts["sys_path"]),
        markers=markers,
        tags=tuple(supported_tags(tag_facts)),
        # PEP 668: the marker file governs the base interpreter only, never a venv on it.
        externally_managed=bool(facts["externally_managed_file"]) and not facts["in_venv"],
        paths={str(k): str(v) for k, v in (facts.get("paths") or {}).items()},
    )
