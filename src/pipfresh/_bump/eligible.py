"""Pure: which release a pin in a dependency file may move to.

The scan's rules (:mod:`pipfresh.select`): yanked files never count, pre-releases
only with ``pre`` (or from a pre-release minimum), ``target`` measured from the pin's
current minimum, the cooldown's cut-off. One rule more: a release must support the
oldest Python the pin is used with (:func:`python_floor`). Wheel tags are not
checked: a dependency file serves every platform it is installed on, not only this
one.

Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pipfresh.models import IndexFile, ProjectPage, Target
from pipfresh.select import (
    IncompletePage,
    Release,
    iter_releases,
    old_enough,
    parse_specifier,
    parse_version,
    prerelease_allowed,
    requires_python_allows,
    within_target,
)

# Pythons a floor is chosen among (X.Y as pip compares them, X.Y.0), with the versions
# a requires-python names added: ">=3.8.1" has its floor at 3.8.1, not 3.9.
_PYTHONS = (Version("2.7"), *(Version(f"3.{minor}") for minor in range(40)))
# A marker is asked about Python alone: its other clauses (sys_platform, ...) are
# tried on each of these, and a Python is in its range when any of them says yes.
_PLATFORMS = (
    {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"},
    {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"},
    {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"},
)
#: At most this many skipped releases are kept per pin (the newest ones).
MAX_SKIPPED = 20


@dataclass(frozen=True, slots=True)
class Rules:
    """The scan's selection settings, as a bump uses them."""

    pre: bool = False
    target: Target = "latest"
    not_after: datetime | None = None  # the cooldown's cut-off, from the caller's clock


@dataclass(frozen=True, slots=True)
class Skipped:
    """A release newer than the chosen one that does not support the pin's Python."""

    version: Version
    requires_python: str
    python: Version

    @property
    def reason(self) -> str:
        return (
            f"skipped {self.version}: requires Python {self.requires_python}, "
            f"the project supports {short_python(self.python)}"
        )


@dataclass(frozen=True, slots=True)
class Choice:
    """What a page offers a pin.

    ``release``: the newest eligible release (None: none is); ``latest``: the newest
    release the rules allow, whatever Python it needs; ``skipped``: the releases
    between the two passed over for their requires-python, newest first.
    """

    release: Release | None
    latest: Version | None
    skipped: tuple[Skipped, ...] = ()


def short_python(python: Version) -> str:
    """3.9.0 -> "3.9": the floor as a project writes it."""
    release = python.release
    return ".".join(map(str, release[:2] if len(release) == 3 and release[2] == 0 else release))


@lru_cache(maxsize=1024)
def _marker_pythons(marker: str) -> frozenset[Version] | None:
    """The Pythons of :data:`_PYTHONS` a marker can select; None when it says nothing
    about Python (or cannot be evaluated), so it narrows nothing."""
    try:
        parsed = Marker(marker)
    except InvalidMarker:
        return None
    if "python_version" not in marker and "python_full_version" not in marker:
        return None
    selected: set[Version] = set()
    for python in _PYTHONS:
        text = short_python(python)
        full = f"{text}.0" if len(python.release) == 2 else str(python)
        for platform in _PLATFORMS:
            environment = {
                "python_version": text,
                "python_full_version": full,
                "implementation_name": "cpython",
                "platform_python_implementation": "CPython",
                "implementation_version": full,
                "platform_machine": "x86_64",
                "platform_release": "",
                "platform_version": "",
                "extra": "",
                **platform,
            }
            try:
                if parsed.evaluate(environment):
                    selected.add(python)
                    break
            except (UndefinedComparison, UndefinedEnvironmentName):
                return None
    return frozenset(selected) if selected else None


def _named_versions(spec: SpecifierSet) -> list[Version]:
    named: list[Version] = []
    for clause in spec:
        if clause.operator in (">=", ">", "==", "~=", "==="):
            version = parse_version(clause.version.removesuffix(".*"))
            if version is not None:
                named.append(version)
    return named


def python_floor(
    requires_python: str | None, marker: str | None, default: Version | None
) -> Version | None:
    """The oldest Python a new minimum must support, or None (nothing to check).

    With the project's ``requires-python`` (pyproject.toml): the oldest Python it
    admits, within the range the requirement's ``marker`` selects. Without it
    (requirements files, or a project that declares none): ``default``, the target
    interpreter; when the marker leaves it out, the Python nearest to it that the
    marker selects (``; python_version < "3.10"`` with 3.12: 3.9).
    """
    selected = _marker_pythons(marker) if marker else None
    spec = parse_specifier(requires_python) if requires_python else None
    if spec is not None:
        pool = sorted(
            p for p in {*_PYTHONS, *_named_versions(spec)} if spec.contains(p, prereleases=True)
        )
        if not pool:
            return default
        narrowed = [p for p in pool if selected is None or _minor(p) in selected]
        return (narrowed or pool)[0]
    if selected is None:
        return default
    if default is None:
        return min(selected)
    if _minor(default) in selected:
        return default
    above = [p for p in selected if p > default]
    return min(above) if above else max(selected)


def _minor(python: Version) -> Version:
    return Version(".".join(map(str, (*python.release, 0)[:2])))


def current_minimum(specifier: str) -> Version | None:
    """The lowest version a specifier names as its floor (``==``, ``===``, ``~=``,
    ``>=``, ``>``), or None when it has none (``<2``, ``!=1.5``, unversioned)."""
    spec = parse_specifier(specifier) if specifier else None
    if spec is None:
        return None
    floors = _named_versions(spec)
    return max(floors) if floors else None


def _supports(file: IndexFile, python: Version | None) -> bool:
    return python is None or requires_python_allows(file.requires_python, python)


def _listed_releases(page: ProjectPage, rules: Rules, current: Version | None) -> Iterator[Release]:
    """Releases newest first. A cached digest (``complete=False``) lists versions whose
    files it may not hold: meeting one the rules would consider, or reaching the end
    of its list with no answer, raises IncompletePage, and the caller fetches the
    whole page."""
    if page.complete:
        yield from iter_releases(page)
        return
    held = {release.version: release for release in iter_releases(page)}
    listed = sorted({v for raw in page.versions or () if (v := parse_version(raw))}, reverse=True)
    for version in listed:
        release = held.get(version)
        if release is None:
            if _considered(version, rules, current):
                raise IncompletePage(page.name)
            continue
        yield release
    raise IncompletePage(page.name)


def _considered(version: Version, rules: Rules, current: Version | None) -> bool:
    if not prerelease_allowed(version, current, rules.pre):
        return False
    return rules.target == "latest" or within_target(version, current, rules.target)


def newest_eligible(
    page: ProjectPage, rules: Rules, current: Version | None, python: Version | None
) -> Choice:
    """The newest release a pin whose minimum is ``current`` may move to.

    Never one below ``current``: the walk stops there (a pin on a yanked or too-new
    release stays where it is). ``python``: the floor from :func:`python_floor`
    (None: any). Raises IncompletePage when ``page`` is a digest that cannot answer.
    """
    latest: Version | None = None
    skipped: list[Skipped] = []
    for release in _listed_releases(page, rules, current):
        if current is not None and release.version < current:
            break
        if not _considered(release.version, rules, current):
            continue
        files = [f for f in release.files if not f.is_yanked]
        if not files or not old_enough(release, rules.not_after):
            continue
        if latest is None:
            latest = release.version
        if any(_supports(f, python) for f in files):
            return Choice(release, latest, tuple(skipped))
        if python is not None and len(skipped) < MAX_SKIPPED:
            needs = next((f.requires_python for f in files if f.requires_python), "")
            skipped.append(Skipped(release.version, needs, python))
    return Choice(None, latest, tuple(skipped))
