"""The target environment: which interpreter, what it reports, and what is installed in it.

Three steps, each usable alone:

* :func:`find_interpreter` turns ``--python`` (or nothing) into an interpreter path,
  touching only the file system (no subprocess, except to check the patch level of a
  ``3.12.1``-style request found on PATH).
* :func:`inspect_target` runs :mod:`pipfresh._target_script` once inside that
  interpreter and turns its JSON into a :class:`~pipfresh.models.TargetEnv`; the
  supported wheel tags are built here, on the host, by :func:`supported_tags`.
* :func:`read_installed` reads the installed distributions' metadata straight from the
  target's ``sys.path`` in this process, which needs no Python in the target.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging import tags as _tags
from packaging.utils import canonicalize_name

from pipfresh.auth import redact_url
from pipfresh.errors import TargetError
from pipfresh.models import InstalledDist, Kind, TargetEnv

__all__ = [
    "TagFacts",
    "find_interpreter",
    "inspect_target",
    "linux_archs",
    "linux_platforms",
    "read_installed",
    "supported_tags",
]

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
    env = os.environ if environ is None else environ
    label = python
    try:
        script = _SCRIPT_PATH.read_text(encoding="utf-8")
    except OSError as exc:  # a broken pipfresh install, not a bad target
        raise TargetError(f"cannot read {_SCRIPT_PATH}: {exc.strerror}") from exc
    flags = ["-E", "-s"] if env.get("PYTHONNOUSERSITE") else ["-E"]
    try:
        proc = subprocess.run(
            [python, *flags, "-c", script],
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            env=dict(env),
        )
    except FileNotFoundError as exc:
        raise TargetError(f"{label}: not found", python=python) from exc
    except subprocess.TimeoutExpired as exc:
        raise TargetError(f"{label}: no answer within {timeout:g} s", python=python) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TargetError(f"{label}: not a Python interpreter ({reason})", python=python) from exc
    if proc.returncode != 0:
        raise TargetError(_failure_message(label, proc.returncode, proc.stderr), python=python)
    return _target_from_output(label, python, proc.stdout)


def _failure_message(label: str, code: int, stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    if last.startswith("SyntaxError"):
        # The script is valid Python 3.8; a syntax error means an older interpreter.
        return f"{label}: Python too old (pipfresh needs 3.8 or newer in the target)"
    detail = f"exit {code}: {last[:200]}" if last else f"exit {code}"
    return f"{label}: not a Python interpreter pipfresh can use ({detail})"


def _target_from_output(label: str, python: str, stdout: bytes) -> TargetEnv:
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
    )


# ---------------------------------------------------------------------------
# Wheel tags
# ---------------------------------------------------------------------------

# The same short names packaging uses for interpreter tags.
_SHORT_NAMES = {"python": "py", "cpython": "cp", "pypy": "pp", "ironpython": "ip", "jython": "jy"}
_EM_386 = 3
_EM_ARM = 40
_EF_ARM_ABIMASK = 0xFF000000
_EF_ARM_ABI_VER5 = 0x05000000
_EF_ARM_ABI_FLOAT_HARD = 0x00000400
# Architectures that manylinux covers without an ELF check of the interpreter.
_MANYLINUX_ARCHS = frozenset(
    {"x86_64", "aarch64", "ppc64", "ppc64le", "s390x", "loongarch64", "riscv64"}
)
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
# glibc has never left major version 2; should it, assume each earlier major had minors
# up to this value (packaging makes the same guess, so the tag lists agree).
_ASSUMED_LAST_GLIBC_MINOR = 50


@dataclass(frozen=True, slots=True)
class TagFacts:
    """What the target reported about itself that decides its supported wheel tags."""

    implementation: str  # sys.implementation.name
    python_version: tuple[int, int]
    interpreter_version: str  # py_version_nodot, e.g. "311"
    abis: tuple[str, ...]
    platform: str  # sysconfig.get_platform(), e.g. "linux-x86_64"
    is_32bit: bool = False
    glibc: str | None = None
    musl: tuple[int, int] | None = None
    elf: Mapping[str, Any] | None = None
    manylinux_denied: frozenset[tuple[int, int, str]] = field(default_factory=frozenset)
    mac: tuple[tuple[int, int], str] | None = None  # (version, machine)
    ios: tuple[tuple[int, int], str] | None = None  # (version, multiarch)
    android_api_level: int | None = None
    emscripten: str | None = None

    @classmethod
    def from_json(
        cls, implementation: str, version_info: Sequence[int], raw: Mapping[str, Any]
    ) -> TagFacts:
        mac = raw.get("mac")
        ios = raw.get("ios")
        android = raw.get("android")
        musl = raw.get("musl")
        return cls(
            implementation=implementation,
            python_version=(int(version_info[0]), int(version_info[1])),
            interpreter_version=str(raw["interpreter_version"]),
            abis=tuple(str(a) for a in raw["abis"]),
            platform=str(raw["platform"]),
            is_32bit=bool(raw.get("is_32bit")),
            glibc=raw.get("glibc"),
            musl=(int(musl[0]), int(musl[1])) if musl else None,
            elf=raw.get("elf"),
            manylinux_denied=frozenset(
                (int(a), int(b), str(c)) for a, b, c in raw.get("manylinux_denied") or ()
            ),
            mac=(_pair(mac["version"]), str(mac["arch"])) if mac and mac["version"] else None,
            ios=(_pair(ios["version"]), str(ios["multiarch"])) if ios else None,
            android_api_level=int(android["api_level"]) if android else None,
            emscripten=raw.get("emscripten"),
        )


def _pair(values: Sequence[int]) -> tuple[int, int]:
    return int(values[0]), int(values[1])


def supported_tags(facts: TagFacts) -> list[str]:
    """The target's supported wheel tags, best first, as packaging's ``sys_tags`` orders them."""
    platforms = _platforms(facts)
    short = _SHORT_NAMES.get(facts.implementation, facts.implementation)
    found: Iterable[_tags.Tag]
    if short == "cp":
        found = _tags.cpython_tags(facts.python_version, list(facts.abis), platforms)
        compat_interpreter: str | None = "cp" + facts.interpreter_version
    else:
        interpreter = short + facts.interpreter_version
        found = _tags.generic_tags(interpreter, list(facts.abis), platforms)
        compat_interpreter = "pp3" if short == "pp" else None
    compatible = _tags.compatible_tags(facts.python_version, compat_interpreter, platforms)
    return [str(tag) for tag in (*found, *compatible)]


def _normalize(text: str) -> str:
    return text.replace(".", "_").replace("-", "_").replace(" ", "_")


def _platforms(facts: TagFacts) -> list[str]:
    generic = _normalize(facts.platform)
    if facts.mac is not None:
        version, machine = facts.mac
        return list(_tags.mac_platforms(version, _mac_arch(machine, facts.is_32bit)))
    if facts.ios is not None:
        return list(_tags.ios_platforms(*facts.ios))
    if facts.android_api_level is not None:
        abi = facts.platform.split("-")[-1]
        return list(_tags.android_platforms(facts.android_api_level, abi))
    if facts.emscripten:
        return [f"pyemscripten_{facts.emscripten}_wasm32", generic]
    if not generic.startswith("linux_"):
        return [generic]
    archs = linux_archs(facts.platform, facts.is_32bit)
    return linux_platforms(
        archs,
        glibc=_parse_glibc(facts.glibc) if _elf_allows_manylinux(archs, facts.elf) else None,
        musl=facts.musl,
        denied=facts.manylinux_denied,
    )


def _mac_arch(machine: str, is_32bit: bool) -> str:
    if not is_32bit:
        return machine
    return "ppc" if machine.startswith("ppc") else "i386"


def linux_archs(platform: str, is_32bit: bool) -> list[str]:
    """Architectures a Linux interpreter can load, from ``sysconfig.get_platform()``.

    A 32-bit interpreter on a 64-bit kernel reports the kernel's machine, so the arch is
    narrowed to the 32-bit one; armv8l also runs armv7l code.
    """
    arch = _normalize(platform).split("_", 1)[1]
    if is_32bit:
        arch = {"x86_64": "i686", "aarch64": "armv8l"}.get(arch, arch)
    return ["armv8l", "armv7l"] if arch == "armv8l" else [arch]


def _elf_allows_manylinux(archs: Sequence[str], elf: Mapping[str, Any] | None) -> bool:
    """Whether the interpreter binary's ABI is one the manylinux tags describe for ``archs``."""
    if "armv7l" in archs:
        return (
            elf is not None
            and elf["bits"] == 32
            and elf["lsb"]
            and elf["machine"] == _EM_ARM
            and elf["flags"] & _EF_ARM_ABIMASK == _EF_ARM_ABI_VER5
            and elf["flags"] & _EF_ARM_ABI_FLOAT_HARD == _EF_ARM_ABI_FLOAT_HARD
        )
    if "i686" in archs:
        return elf is not None and elf["bits"] == 32 and elf["lsb"] and elf["machine"] == _EM_386
    return any(arch in _MANYLINUX_ARCHS for arch in archs)


def _parse_glibc(text: str | None) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", text or "")
    return (int(match[1]), int(match[2])) if match else None


def linux_platforms(
    archs: Sequence[str],
    *,
    glibc: tuple[int, int] | None,
    musl: tuple[int, int] | None = None,
    denied: Iterable[tuple[int, int, str]] = (),
) -> list[str]:
    """Linux platform tags, best first: ``linux_<arch>``, then manylinux, then musllinux.

    manylinux runs from the target's glibc down to the oldest glibc the arch has
    manylinux wheels for (2.5 on x86, 2.17 elsewhere), each legacy alias
    (manylinux2014/2010/1) right after the version it stands for. ``denied`` holds the
    (major, minor, arch) triples that a ``_manylinux`` module in the target ruled out.
    """
    refused = set(denied)
    result = [f"linux_{arch}" for arch in archs]
    if glibc is not None:
        floor = (2, 5) if {"x86_64", "i686"} & set(archs) else (2, 17)
        versions = list(_glibc_versions(glibc, floor))
        for arch in archs:
            for major, minor in versions:
                if (major, minor, arch) in refused:
                    continue
                result.append(f"manylinux_{major}_{minor}_{arch}")
                legacy = _LEGACY_MANYLINUX.get((major, minor))
                if legacy is not None:
                    result.append(f"{legacy}_{arch}")
    if musl is not None:
        major, minor = musl
        result.extend(
            f"musllinux_{major}_{m}_{arch}" for arch in archs for m in range(minor, -1, -1)
        )
    return result


def _glibc_versions(current: tuple[int, int], floor: tuple[int, int]) -> Iterator[tuple[int, int]]:
    """glibc versions from ``current`` down to ``floor``, across major versions."""
    major, minor = current
    while major >= floor[0]:
        lowest = floor[1] if major == floor[0] else 0
        for m in range(minor, lowest - 1, -1):
            yield major, m
        major, minor = major - 1, _ASSUMED_LAST_GLIBC_MINOR


# ---------------------------------------------------------------------------
# Installed distributions
# ---------------------------------------------------------------------------

_WANTED_HEADERS = frozenset({"name", "version", "requires-dist"})


def read_installed(sys_path: Sequence[str]) -> list[InstalledDist]:
    """Every distribution on ``sys_path``, the first one of each name winning, as in pip.

    Within one path entry the ``.dist-info``/``.egg-info`` folders come first, then the
    projects that legacy ``.egg-link`` files there point to (pip's order). A
    distribution whose metadata cannot be read, or lacks a name or version, is skipped.
    Zip files and wheels on the path are not looked into (pip skips wheels too).
    """
    seen: set[str] = set()
    found: list[InstalledDist] = []
    for entry in sys_path:
        for dist in _dists_in(entry):
            if dist.canonical_name not in seen:
                seen.add(dist.canonical_name)
                found.append(dist)
    return found


def _dists_in(entry: str) -> Iterator[InstalledDist]:
    try:
        names = sorted(os.listdir(entry))
    except OSError:  # missing, a file (zip/egg), or unreadable
        return
    egg_links = []
    for name in names:
        lower = name.lower()
        if lower.endswith(".dist-info"):
            dist = _read_dist_info(os.path.join(entry, name), entry)
        elif lower.endswith(".egg-info"):
            dist = _read_egg_info(os.path.join(entry, name), entry)
        elif lower.endswith(".egg-link"):
            egg_links.append(os.path.join(entry, name))
            continue
        else:
            continue
        if dist is not None:
            yield dist
    if entry.lower().endswith(".egg") and "EGG-INFO" in names:
        dist = _read_egg_info(os.path.join(entry, "EGG-INFO"), entry)
        if dist is not None:
            yield dist
    for link in egg_links:
        yield from _dists_from_egg_link(link, entry)


def _read_dist_info(folder: str, location: str) -> InstalledDist | None:
    headers = _read_headers(os.path.join(folder, "METADATA"))
    if headers is None:
        return None
    kind, url = _direct_url(os.path.join(folder, "direct_url.json"))
    return _make_dist(headers, location, tuple(headers.get("requires-dist", ())), kind, url)


def _read_egg_info(path: str, location: str) -> InstalledDist | None:
    """An ``.egg-info`` folder (PKG-INFO + requires.txt) or a single PKG-INFO-style file."""
    if os.path.isdir(path):
        headers = _read_headers(os.path.join(path, "PKG-INFO"))
        requires = _requires_txt(os.path.join(path, "requires.txt"))
    else:
        headers = _read_headers(path)
        requires = ()
    if headers is None:
        return None
    return _make_dist(headers, location, requires, "index", None)


def _make_dist(
    headers: Mapping[str, list[str]],
    location: str,
    requires: tuple[str, ...],
    kind: Kind,
    url: str | None,
) -> InstalledDist | None:
    name = (headers.get("name") or [""])[0]
    version = (headers.get("version") or [""])[0]
    if not name or not version:
        return None
    return InstalledDist(
        name=name,
        canonical_name=canonicalize_name(name),
        version=version,
        kind=kind,
        location=location,
        requires=requires,
        url=url,
    )


def _read_headers(path: str) -> dict[str, list[str]] | None:
    """The Name/Version/Requires-Dist headers of a core metadata file.

    Only the header block is read (it ends at the first empty line; the long description
    after it can be large). Folded lines are joined. Bytes that are not UTF-8 are
    replaced rather than fatal: a mis-encoded author name must not hide a package.
    """
    headers: dict[str, list[str]] = {}
    current: list[str] | None = None
    try:
        with open(path, "rb") as f:
            for raw in f:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    break
                if line[0] in " \t":
                    if current is not None:
                        current[-1] = f"{current[-1]} {line.strip()}".strip()
                    continue
                key, colon, value = line.partition(":")
                if not colon:
                    current = None
                    continue
                key = key.strip().lower()
                if key in _WANTED_HEADERS:
                    current = headers.setdefault(key, [])
                    current.append(value.strip())
                else:
                    current = None
    except OSError:
        return None
    return headers


def _requires_txt(path: str) -> tuple[str, ...]:
    """requires.txt of an egg-info, as Requires-Dist strings.

    Its ``[extra]``, ``[:marker]`` and ``[extra:marker]`` sections become markers.
    """
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ()
    requires = []
    condition = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            condition = _section_marker(line[1:-1].strip())
            continue
        requires.append(f"{line}; {condition}" if condition else line)
    return tuple(requires)


def _section_marker(section: str) -> str:
    extra, _, marker = section.partition(":")
    parts = []
    if extra.strip():
        parts.append(f'extra == "{extra.strip()}"')
    if marker.strip():
        parts.append(f"({marker.strip()})" if parts else marker.strip())
    return " and ".join(parts)


def _direct_url(path: str) -> tuple[Kind, str | None]:
    """The install kind that a PEP 610 ``direct_url.json`` records."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return "index", None
    except OSError:
        return "direct_url", None
    try:
        data = json.loads(raw)
    except ValueError:
        # The file says "not from an index" even when its content is unreadable;
        # looking the project up on an index could replace a local build.
        return "direct_url", None
    if not isinstance(data, dict):
        return "direct_url", None
    url = data.get("url")
    shown = redact_url(url) if isinstance(url, str) else None
    dir_info = data.get("dir_info")
    if isinstance(dir_info, dict) and dir_info.get("editable") is True:
        return "editable", shown
    return "direct_url", shown


def _dists_from_egg_link(link: str, location: str) -> Iterator[InstalledDist]:
    """Distributions of a legacy ``setup.py develop`` install, all of them editable."""
    try:
        with open(link, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return
    target = next((line.strip() for line in lines if line.strip()), "")
    if not target:
        return
    project = os.path.normpath(os.path.join(location, target))
    url = Path(project).as_uri() if os.path.isabs(project) else None
    for dist in _dists_in_linked(project):
        yield InstalledDist(
            name=dist.name,
            canonical_name=dist.canonical_name,
            version=dist.version,
            kind="editable",
            location=location,
            requires=dist.requires,
            url=url,
        )


def _dists_in_linked(project: str) -> Iterator[InstalledDist]:
    try:
        names = sorted(os.listdir(project))
    except OSError:
        return
    for name in names:
        lower = name.lower()
        if lower.endswith(".egg-info"):
            dist = _read_egg_info(os.path.join(project, name), project)
        elif lower.endswith(".dist-info"):
            dist = _read_dist_info(os.path.join(project, name), project)
        else:
            continue
        if dist is not None:
            yield dist
