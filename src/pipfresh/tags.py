"""The wheel tags a target interpreter supports, computed on the host.

The target reports raw facts (interpreter, ABIs, platform, glibc or musl version,
macOS version) from a stdlib-only script, because packaging cannot run there (a
target may be Python 3.8 with nothing installed); here those facts go through
packaging's parameterised tag functions, with our own Linux platform list built
from the reported libc.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging import tags as _tags

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
