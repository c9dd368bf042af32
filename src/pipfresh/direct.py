"""Which installed packages are the project's direct dependencies (``outdated --direct``).

The project's own files say so when they name any: every project named in the
current folder's ``pyproject.toml`` (dependencies, optional dependencies, dependency
groups; not the build requirements, which the environment does not run on) and
``requirements*.txt`` / ``constraints*.txt``, found and read as ``pipfresh bump``
finds and reads them (``-r`` / ``-c`` includes followed). Without such files (or with
files that name no dependency, such as a pyproject.toml holding only tool settings),
as pip's ``list --not-required``: the installed distributions that no other installed
distribution requires (markers evaluated for the target, extras in use counted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from pipfresh.models import InstalledDist
from pipfresh.requirements import Markers, only_for_extras, parse_requirement


@dataclass(frozen=True, slots=True)
class DirectSet:
    """The canonical names of the direct dependencies, and where they were found:
    the files read (relative to the folder), or none when the installed set decided."""

    names: frozenset[str]
    files: tuple[str, ...] = ()

    def describe(self) -> str:
        """ "named in pyproject.toml, requirements.txt" or "required by no other
        installed package", for the table's legend."""
        if self.files:
            return "named in " + ", ".join(self.files)
        return "required by no other installed package"


def named_in_files(cwd: Path) -> DirectSet | None:
    """The projects the folder's dependency files name, or None when it has none (or
    they name none). Raises BumpInputError for a file that cannot be read (file and
    line named)."""
    from pipfresh._bump.files import discover, read_files

    if not discover(cwd):
        return None
    files = read_files([], cwd)
    names = frozenset(
        pin.canonical
        for file in files
        for pin in file.pins
        if pin.section != "build-system.requires"
    )
    if not names:
        return None
    shown = []
    for file in files:
        try:
            shown.append(str(file.path.relative_to(cwd)))
        except ValueError:
            shown.append(str(file.path))
    return DirectSet(names, tuple(shown))


def not_required(
    dists: Iterable[InstalledDist],
    markers: Mapping[str, str],
    extras: Mapping[str, frozenset[str]] | None = None,
) -> frozenset[str]:
    """The installed distributions that no other installed one requires.

    A requirement counts when its marker holds for the target with no extra, or with
    one of the extras of its distribution that something installed asks for
    (``extras``, as :func:`pipfresh.requirements.analyse` finds them); a distribution
    asking for itself (``pkg[extra]``) does not make it required.
    """
    installed: dict[str, InstalledDist] = {}
    for dist in dists:
        installed.setdefault(dist.canonical_name, dist)
    extras = extras or {}
    holds = Markers(markers)
    required: set[str] = set()
    for name, dist in installed.items():
        in_use = ("", *sorted(extras.get(name, ())))
        for line in dist.requires:
            if len(in_use) == 1 and only_for_extras(line):
                continue
            req = parse_requirement(line)
            if req is None:
                continue
            target = canonicalize_name(req.name)
            if target == name or target in required or target not in installed:
                continue
            if req.marker is None:
                required.add(target)
                continue
            if any(holds.true(req.marker, extra) for extra in in_use):
                required.add(target)
    return frozenset(installed.keys() - required)
