"""Collect the facts pipfresh needs about a target interpreter; runs *inside* that interpreter.

pipfresh reads this file as text and runs it with ``python -E -c``. It prints one JSON
object on stdout. Constraints that shape it:

* stdlib only, and it must run on every target from CPython/PyPy 3.8 up: no ``match``,
  no runtime ``X | Y`` unions, no packaging import (packaging 26 is 3.10+ syntax). The
  ``from __future__`` import keeps the annotations unevaluated, so builtin generics in
  annotations are fine on 3.8.
* Startup cost is paid on every scan, so modules that only a rare platform needs
  (subprocess, ctypes) are imported inside the branch that needs them.
* It reports raw facts; the wheel tags themselves are built by pipfresh on the host with
  packaging's parameterised functions, so the tag logic is tested in one place.
"""

from __future__ import annotations

import json
import os
import platform
import struct
import sys
import sysconfig

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs an import on every scan; mypy alone needs it
    from typing import Any

SCHEMA = 1
MIN_VERSION = (3, 8)

_PT_INTERP = 3


def _full_version(info: Any) -> str:
    text = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        text += info.releaselevel[0] + str(info.serial)
    return text


def marker_environment() -> dict[str, str]:
    """PEP 508 environment markers, with the same sources packaging uses."""
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": _full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def cpython_abis(version: tuple[int, int]) -> list[str]:
    """The CPython ABI tags this build can load, most specific first.

    Only the interpreter itself knows its build flags (debug, free-threaded), which is
    why this runs in the target rather than on the host.
    """
    nodot = f"{version[0]}{version[1]}"
    debug = sysconfig.get_config_var("Py_DEBUG")
    # Windows builds leave Py_DEBUG unset; the debug extension suffix is the tell there.
    has_debug_ext = "_d.pyd" in _extension_suffixes()
    flags = ""
    if version >= (3, 13) and sysconfig.get_config_var("Py_GIL_DISABLED"):
        flags += "t"
    if debug or (debug is None and (hasattr(sys, "gettotalrefcount") or has_debug_ext)):
        return ["cp" + nodot + flags + "d", "cp" + nodot + flags]
    return ["cp" + nodot + flags]


def _extension_suffixes() -> list[str]:
    import importlib.machinery  # already loaded by the import system; this is a lookup

    return list(importlib.machinery.EXTENSION_SUFFIXES)


def generic_abis(version: tuple[int, int]) -> list[str]:
    """The ABI tag of a non-CPython interpreter, read from its extension-module suffix."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    if not isinstance(suffix, str) or not suffix.startswith("."):
        return []
    parts = suffix.split(".")
    if len(parts) < 3:
        # A bare ".pyd" (old Windows builds) carries no ABI; they are CPython-like.
        return cpython_abis(version)
    soabi = parts[1]
    if soabi.startswith("cpython"):
        pieces = soabi.split("-")
        abi = "cp" + pieces[1] if len(pieces) > 1 and pieces[1] else ""
    elif soabi.startswith("cp"):
        abi = soabi.split("-")[0]
    elif soabi.startswith("pypy"):
        abi = "-".join(soabi.split("-")[:2])
    elif soabi.startswith("graalpy"):
        abi = "-".join(soabi.split("-")[:3])
    else:
        abi = soabi
    if not abi:
        return []
    return [abi.replace(".", "_").replace("-", "_").replace(" ", "_")]


def read_elf(path: str) -> dict[str, Any] | None:
    """The few ELF header fields the Linux tag rules need, or None for a non-ELF file."""
    try:
        with open(path, "rb") as f:
            ident = f.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2):
                return None
            bits = 32 if ident[4] == 1 else 64
            endian = "<" if ident[5] == 1 else ">"
            fmt = endian + ("HHIIIIIHHH" if bits == 32 else "HHIQQQIHHH")
            header = f.read(struct.calcsize(fmt))
            (_, machine, _, _, phoff, _, flags, _, phentsize, phnum) = struct.unpack(fmt, header)
            interp = _elf_interpreter(f, endian + str(bits), phoff, phentsize, phnum)
    except (OSError, struct.error, ValueError):
        return None
    return {
        "bits": bits,
        "lsb": endian == "<",
        "machine": machine,
        "flags": flags,
        "interpreter": interp,
    }


def _elf_interpreter(f: Any, layout: str, phoff: int, size: int, count: int) -> str:
    """The PT_INTERP path (the dynamic loader) of an ELF file; ``layout`` is e.g. ``<64``."""
    endian, bits = layout[0], int(layout[1:])
    # Program header layouts differ: 32-bit puts p_offset before p_flags, 64-bit after.
    fmt = endian + ("IIIIIIII" if bits == 32 else "IIQQQQQQ")
    want = struct.calcsize(fmt)
    for index in range(count):
        f.seek(phoff + size * index)
        entry = f.read(want)
        if len(entry) < want:
            break
        fields = struct.unpack(fmt, entry)
        if fields[0] != _PT_INTERP:
            continue
        offset, filesz = (fields[1], fields[4]) if bits == 32 else (fields[2], fields[5])
        f.seek(offset)
        loader: bytes = f.read(filesz)
        return loader.rstrip(b"\0").decode("utf-8", "replace")
    return ""


def glibc_version() -> str | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, OSError, ValueError):
        text = None
    if text:
        parts = text.split()
        return parts[-1] if len(parts) == 2 else None
    return _glibc_version_ctypes()


def _glibc_version_ctypes() -> str | None:
    # Only reached where confstr cannot tell (musl, exotic builds); ctypes is slow to load.
    try:
        import ctypes

        process = ctypes.CDLL(None)
        getter = process.gnu_get_libc_version
    except (ImportError, OSError, AttributeError):
        return None
    getter.restype = ctypes.c_char_p
    value = getter()
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return None


def musl_version(loader: str) -> list[int] | None:
    """musl's version, asked from its dynamic loader, which prints it when run bare."""
    if "musl" not in loader:
        return None
    import re
    import subprocess

    try:
        proc = subprocess.run(
            [loader], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, check=False, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in proc.stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 2 or not lines[0].startswith("musl"):
        return None
    found = re.match(r"Version (\d+)\.(\d+)", lines[1])
    return [int(found.group(1)), int(found.group(2))] if found else None


def manylinux_denied(glibc: str | None, is_32bit: bool) -> list[list[Any]]:
    """Versions that a distributor's ``_manylinux`` module (PEP 600) rules out.

    The module can only be asked here, in the target. It is rare, so the common case
    costs one failed import. The arch list mirrors the host's ``linux_archs``.
    """
    try:
        module = __import__("_manylinux")
    except ImportError:
        return []
    if not glibc or "." not in glibc:
        return []
    try:
        major, minor = (int(x) for x in glibc.split(".")[:2])
    except ValueError:
        return []
    arch = sysconfig.get_platform().replace(".", "_").replace("-", "_").split("_", 1)[-1]
    if is_32bit:
        arch = {"x86_64": "i686", "aarch64": "armv8l"}.get(arch, arch)
    archs = ["armv8l", "armv7l"] if arch == "armv8l" else [arch]
    legacy = {(2, 5): "manylinux1", (2, 12): "manylinux2010", (2, 17): "manylinux2014"}
    denied: list[list[Any]] = []
    for name in archs:
        for version in range(minor, -1, -1):
            hook = getattr(module, "manylinux_compatible", None)
            if hook is not None:
                verdict = hook(major, version, name)
                allowed = True if verdict is None else bool(verdict)
            elif (major, version) in legacy:
                allowed = bool(getattr(module, legacy[(major, version)] + "_compatible", True))
            else:
                allowed = True
            if not allowed:
                denied.append([major, version, name])
    return denied


def mac_facts() -> dict[str, Any]:
    release, _, machine = platform.mac_ver()
    try:
        version = [int(x) for x in release.split(".")[:2]]
    except ValueError:  # no version known: the host falls back to the generic platform tag
        return {"version": [], "arch": machine}
    if version == [10, 16]:
        # Built against an old SDK, Python is told "10.16"; this env var asks for the truth.
        import subprocess

        env = dict(os.environ, SYSTEM_VERSION_COMPAT="0")
        code = "import platform; print(platform.mac_ver()[0])"
        out = subprocess.run(
            [sys.executable, "-sS", "-c", code], stdout=subprocess.PIPE,
            env=env, check=True, timeout=30,
        ).stdout  # fmt: skip
        version = [int(x) for x in out.decode().strip().split(".")[:2]]
    return {"version": version, "arch": machine}


def tag_facts(system: str) -> dict[str, Any]:
    """Everything the host needs to build this interpreter's supported wheel tags."""
    version = (sys.version_info[0], sys.version_info[1])
    name = sys.implementation.name
    nodot = sysconfig.get_config_var("py_version_nodot")
    is_32bit = struct.calcsize("P") == 4
    facts: dict[str, Any] = {
        "interpreter_version": str(nodot) if nodot else f"{version[0]}{version[1]}",
        "abis": cpython_abis(version) if name == "cpython" else generic_abis(version),
        "platform": sysconfig.get_platform(),
        "is_32bit": is_32bit,
    }
    if system == "Linux":
        elf = read_elf(sys.executable)
        glibc = glibc_version()
        facts["elf"] = elf
        facts["glibc"] = glibc
        facts["musl"] = musl_version(elf["interpreter"]) if elf else None
        facts["manylinux_denied"] = manylinux_denied(glibc, is_32bit)
    elif system == "Darwin":
        facts["mac"] = mac_facts()
    elif system == "iOS":
        release = platform.ios_ver()[1]  # type: ignore[attr-defined, unused-ignore]
        facts["ios"] = {
            "version": [int(x) for x in release.split(".")[:2]],
            "multiarch": getattr(sys.implementation, "_multiarch", ""),
        }
    elif system == "Android":
        facts["android"] = {
            "api_level": platform.android_ver().api_level,  # type: ignore[attr-defined, unused-ignore]
        }
    elif system == "Emscripten":
        facts["emscripten"] = sysconfig.get_config_var("PYEMSCRIPTEN_PLATFORM_VERSION")
    return facts


def search_path() -> list[str]:
    """sys.path as the import system will use it: existing entries, absolute, no repeats.

    ``-c`` puts the caller's working directory first as ``""``; it is not part of the
    environment, so it is dropped.
    """
    entries = list(sys.path)
    if entries and entries[0] == "":
        entries = entries[1:]
    seen = set()
    result = []
    for entry in entries:
        path = os.path.abspath(entry)
        if path not in seen and os.path.exists(path):
            seen.add(path)
            result.append(path)
    return result


def externally_managed_file() -> bool:
    try:
        stdlib = sysconfig.get_path("stdlib")
    except KeyError:
        return False
    return bool(stdlib) and os.path.isfile(os.path.join(stdlib, "EXTERNALLY-MANAGED"))


def install_paths() -> dict[str, str]:
    """Where an installer puts a wheel's parts (the default scheme of this interpreter)."""
    names = ("purelib", "platlib", "scripts", "data", "include")
    try:
        found = sysconfig.get_paths()
    except Exception:  # a broken sysconfig must not cost the scan
        return {}
    return {k: os.path.abspath(found[k]) for k in names if found.get(k)}


def collect() -> dict[str, Any]:
    markers = marker_environment()
    base_prefix = getattr(sys, "base_prefix", sys.prefix)
    return {
        "schema": SCHEMA,
        "executable": sys.executable,
        "version": markers["python_full_version"],
        "version_info": list(sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "prefix": sys.prefix,
        "base_prefix": base_prefix,
        # Old virtualenv (<20) marks its environments with sys.real_prefix instead.
        "in_venv": sys.prefix != base_prefix or hasattr(sys, "real_prefix"),
        "sys_path": search_path(),
        "markers": markers,
        "tags": tag_facts(markers["platform_system"]),
        "externally_managed_file": externally_managed_file(),
        "paths": install_paths(),
    }


def main() -> None:
    if sys.version_info[:2] < MIN_VERSION:
        found = f"{sys.version_info[0]}.{sys.version_info[1]}"
        facts: dict[str, Any] = {"schema": SCHEMA, "error": f"Python {found} is too old"}
    else:
        facts = collect()
    # ASCII keeps the output independent of the target's stdout encoding.
    sys.stdout.write(json.dumps(facts, ensure_ascii=True))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
