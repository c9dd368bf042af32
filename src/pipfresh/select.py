"""Pure version selection: which releases of a project the target can install, and the newest.

Nothing here does I/O or reads the clock. Version and specifier strings repeat a lot
across pages (``>=3.8`` appears thousands of times), so their parsing is memoised.
Pages are walked newest release first and the walk stops at the first candidate, so
a page with 20,000 files costs little more than one with 20. "wanted" reuses the same
walk and only goes past the newest candidate when a requirement rules it out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pipfresh.index.parse import version_from_filename, wheel_tags
from pipfresh.models import Bump, IndexFile, ProjectPage, Target


@dataclass(frozen=True, slots=True)
class Release:
    """All files of one version of a project."""

    version: Version
    files: tuple[IndexFile, ...]

    @property
    def upload_time(self) -> str | None:
        """When the release appeared: its earliest file upload (PEP 700), if known."""
        times = [f.upload_time for f in self.files if f.upload_time]
        return min(times) if times else None


@dataclass(frozen=True, slots=True)
class Policy:
    """What counts as a candidate: the target's interpreter version and wheel tags, the
    pre-release rule, how far from the installed version (``target``), and how recent
    a release may be (``not_after``: the cooldown's cut-off, computed by the caller from
    its clock; releases uploaded later are ignored, releases of unknown age are not)."""

    python_version: Version  # release triple of the target interpreter, e.g. 3.11.7
    supported_tags: frozenset[str]
    pre: bool = False
    target: Target = "latest"
    not_after: datetime | None = None


@lru_cache(maxsize=8192)
def parse_version(text: str) -> Version | None:
    """Parse a version, or None for a string that is not PEP 440 (legacy or garbage)."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


@lru_cache(maxsize=2048)
def parse_specifier(text: str) -> SpecifierSet | None:
    """Parse a specifier set, or None for one that is not valid (cached: the same few
    requires-python and pin strings come back for thousands of files)."""
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def python_release(full_version: str) -> Version:
    """The release triple of an interpreter version: "3.13.0rc1" -> 3.13.0.

    pip checks Requires-Python against ``sys.version_info[:3]``, so a pre-release
    interpreter is treated as its final release; we do the same.
    """
    parts: list[str] = []
    for piece in full_version.split(".")[:3]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(digits or "0")
        if digits != piece:
            break
    while len(parts) < 3:
        parts.append("0")
    return Version(".".join(parts))


def requires_python_allows(requires_python: str | None, python_version: Version) -> bool:
    """Whether a file's Requires-Python admits the interpreter.

    An unparseable value is ignored, as pip ignores it: real pages carry a few
    (``>=2.7.*``), and dropping those files would hide releases pip installs.
    """
    if not requires_python:
        return True
    spec = parse_specifier(requires_python)
    if spec is None:
        return True
    # Explicit: packaging's default for pre-releases changed between releases.
    return spec.contains(python_version, prereleases=True)


def file_installable(file: IndexFile, policy: Policy) -> bool:
    """A file is installable when not yanked, Requires-Python fits, and it is an sdist or a
    wheel with at least one supported tag."""
    if file.is_yanked:
        return False
    if not requires_python_allows(file.requires_python, policy.python_version):
        return False
    if file.filename.endswith(".whl"):
        return not wheel_tags(file.filename).isdisjoint(policy.supported_tags)
    return True


def _files_by_version(page: ProjectPage) -> dict[str, list[IndexFile]]:
    """Files keyed by the raw version string in their filename; other projects' files dropped.

    This loop runs once per file of every page (150,000 times in a typical scan), so
    wheels take an inline path: the name part is checked once per distinct spelling,
    and the version is the second dash-separated field.
    """
    by_raw: dict[str, list[IndexFile]] = {}
    project = page.name
    name_ok: dict[str, bool] = {}
    for file in page.files:
        filename = file.filename
        if filename.endswith(".whl"):
            head, _, rest = filename.partition("-")
            ok = name_ok.get(head)
            if ok is None:
                ok = name_ok[head] = version_from_filename(filename, project) is not None
            raw = rest.partition("-")[0] if ok else None
        else:
            raw = version_from_filename(filename, project)
        if not raw:
            continue
        files = by_raw.get(raw)
        if files is None:
            by_raw[raw] = [file]
        else:
            files.append(file)
    return by_raw


def iter_releases(page: ProjectPage) -> Iterator[Release]:
    """Releases newest first; files whose version is not PEP 440 are dropped.

    Spellings of one version ("1.0" and "1.0.0") are merged into one release.
    """
    by_version: dict[Version, list[IndexFile]] = {}
    for raw, files in _files_by_version(page).items():
        version = parse_version(raw)
        if version is None:
            continue
        known = by_version.get(version)
        if known is None:
            by_version[version] = files
        else:
            known.extend(files)
    for version in sorted(by_version, reverse=True):
        yield Release(version, tuple(by_version[version]))


def group_releases(page: ProjectPage) -> list[Release]:
    """All releases, newest first (see :func:`iter_releases`)."""
    return list(iter_releases(page))


def prerelease_allowed(version: Version, installed: Version | None, pre: bool) -> bool:
    """Pre-releases count with --pre, or when the installed version is a pre-release of the
    same release line (someone on 2.0rc1 wants to hear about 2.0rc2)."""
    if pre or not version.is_prerelease:
        return True
    return (
        installed is not None
        and installed.is_prerelease
        and installed.epoch == version.epoch
        and installed.release == version.release
    )


def within_target(version: Version, installed: Version | None, target: Target) -> bool:
    """Whether ``version`` is within ``target`` of the installed version: ``minor`` keeps
    the major number, ``patch`` keeps major and minor. Anything goes when the installed
    version is unknown (not PEP 440): there is nothing to measure from."""
    if target == "latest" or installed is None:
        return True
    if version.epoch != installed.epoch:
        return False
    width = 1 if target == "minor" else 2
    new = (*version.release, 0, 0)[:width]
    old = (*installed.release, 0, 0)[:width]
    return new == old


_FRACTION = re.compile(r"\.(\d+)")


@lru_cache(maxsize=8192)
def parse_upload_time(text: str) -> datetime | None:
    """An upload time (ISO 8601, as PEP 700 gives it) as an aware datetime, or None."""
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python 3.10's fromisoformat takes exactly 3 or 6 fraction digits; indexes send 0-9.
    value = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def old_enough(release: Release, not_after: datetime | None) -> bool:
    """False only for a release known to be uploaded after the cooldown's cut-off."""
    if not_after is None:
        return True
    uploaded = release.upload_time
    moment = parse_upload_time(uploaded) if uploaded else None
    return moment is None or moment <= not_after


def candidates(
    releases: Iterable[Release], policy: Policy, installed: Version | None
) -> Iterator[Release]:
    """Releases the target could install, newest first, lazily."""
    limited = policy.target != "latest"
    for release in releases:
        if not prerelease_allowed(release.version, installed, policy.pre):
            continue
        if limited and not within_target(release.version, installed, policy.target):
            continue
        if not any(file_installable(f, policy) for f in release.files):
            continue
        if old_enough(release, policy.not_after):
            yield release


def select_latest(
    releases: Iterable[Release], policy: Policy, installed: Version | None
) -> Release | None:
    """The newest candidate, or None when the target can install no release at all."""
    return next(candidates(releases, policy, installed), None)


def walk_listed(
    page: ProjectPage,
    policy: Policy,
    installed: Version | None,
    admits: Callable[[Version], bool] | None = None,
    *,
    steps: int = 3,
    above: Version | None = None,
) -> tuple[bool, Release | None]:
    """(decided, newest candidate) from the page's PEP 700 ``versions`` list.

    Versions are walked newest first; each one's files are found with one substring
    test per file, instead of grouping the whole page by version. The first version
    with an installable file (old enough for the cooldown) is the answer, whatever
    the rest of the page holds. On a full page the walk gives up ("not decided")
    after ``steps`` versions, or at a version whose files it cannot find (spelled
    differently from the list): the caller then walks the whole page. On a cached
    digest every version it needs must be there (else IncompletePage).
    ``admits`` narrows the versions further (the ranges other packages allow); with
    ``above``, the caller only asks about versions newer than it, so a digest that
    lists every version from ``above`` up decides "none" too.
    """
    if not page.versions:
        return False, None
    spellings: dict[Version, list[str]] = {}
    limited = policy.target != "latest"
    for raw in page.versions:
        version = parse_version(raw)
        if (
            version is not None
            # Most versions are final releases: no call to tell them allowed.
            and (not version.is_prerelease or prerelease_allowed(version, installed, policy.pre))
            and not (limited and not within_target(version, installed, policy.target))
            and (admits is None or admits(version))
        ):
            spellings.setdefault(version, []).append(raw)
    for step, version in enumerate(_newest_first(spellings)):
        if page.complete and step >= steps:
            return False, None
        files = files_of_version(page, version, spellings[version])
        if not files:
            if not page.complete:
                raise IncompletePage(page.name)
            return False, None
        release = Release(version, files)
        if any(file_installable(f, policy) for f in files) and old_enough(
            release, policy.not_after
        ):
            return True, release
    if not page.complete:
        floor = min((v for raw in page.versions if (v := parse_version(raw))), default=None)
        if above is not None and floor is not None and floor <= above:
            return True, None
        # A digest lists only the versions it kept: an older one may be the answer.
        raise IncompletePage(page.name)
    return True, None


def _newest_first(versions: Iterable[Version]) -> Iterator[Version]:
    """Versions newest first; the first costs one pass (usually the only one needed),
    the rest a sort."""
    pool = list(versions)
    if not pool:
        return
    top = max(pool)
    yield top
    pool.remove(top)
    yield from sorted(pool, reverse=True)


def files_of_version(
    page: ProjectPage, version: Version, spellings: Iterable[str]
) -> tuple[IndexFile, ...]:
    """The files of one version, found by a substring test per file for each way the
    versions list spells it, then checked exactly."""
    near: list[IndexFile] = []
    spellings = tuple(spellings)
    for raw in spellings:
        needle = "-" + raw
        near += [f for f in page.files if needle in f.filename]
    # A filename spelling the version as the list does needs no Version built and
    # compared (a release has dozens of wheels); any other spelling still may match.
    exact = {raw for raw in spellings if parse_version(raw) == version}
    return tuple(
        f
        for f in {id(f): f for f in near}.values()
        if (found := version_from_filename(f.filename, page.name)) is not None
        and (found in exact or parse_version(found) == version)
    )


class IncompletePage(Exception):
    """A cached digest cannot answer this question: the caller fetches the full page."""


def newest_release(page: ProjectPage, policy: Policy, installed: Version | None) -> Release | None:
    """The newest release of ``page`` that the target can install (None: there is none).

    Raises IncompletePage when ``page`` is a digest that does not hold the answer.
    """
    decided, release = walk_listed(page, policy, installed)
    if decided:
        return release
    if not page.complete:
        raise IncompletePage(page.name)
    return select_latest(iter_releases(page), policy, installed)


def digest_page(
    page: ProjectPage, keep: Iterable[Version], *, listed_from: Version | None = None
) -> ProjectPage:
    """What the cache keeps of a page: part of its versions list and the files of
    ``keep`` only.

    Selection from a digest works through the versions list (see :func:`walk_listed`):
    every version from ``listed_from`` (default: the oldest kept) up is listed, so a
    walk down the list knows each version it passes; a listed version whose files
    were not kept makes the walk ask the network (IncompletePage), never guess. The
    releases worth keeping are those a scan just chose (latest, wanted) and the ones
    above latest that were not installable here, which another interpreter may take.
    A page without a versions list is kept whole: nothing could be decided from part
    of it.
    """
    keep = set(keep)
    if not page.versions or not page.complete or not keep:
        return page
    floor = min(keep) if listed_from is None else min(listed_from, *keep)
    spellings: dict[Version, list[str]] = {}
    for raw in page.versions:
        version = parse_version(raw)
        if version is not None and version >= floor:
            spellings.setdefault(version, []).append(raw)
    kept = [v for v in spellings if v in keep]
    files: list[IndexFile] = []
    if len(kept) <= 4:
        for version in kept:
            files += files_of_version(page, version, spellings[version])
    else:
        # Many releases above latest (a --target or a cooldown): one grouping pass
        # beats a substring scan of the whole page per release.
        for release in iter_releases(page):
            if release.version < floor:
                break
            if release.version in keep:
                files += release.files
    # Only versions from the floor up are listed: reading a cached digest parses a
    # handful of versions, not the thousands a large project has.
    listed = tuple(raw for raws in spellings.values() for raw in raws)
    return ProjectPage(
        page.name, tuple(files), listed, complete=False, local_files=page.local_files
    )


def newest_listed(page: ProjectPage) -> Version | None:
    """The newest version in the page's versions list (pre-releases included)."""
    parsed = [v for raw in page.versions or () if (v := parse_version(raw)) is not None]
    return max(parsed, default=None)


def wanted_release(
    page: ProjectPage,
    policy: Policy,
    installed: Version | None,
    allowed: Sequence[SpecifierSet],
) -> Release | None:
    """:func:`select_wanted` on a page, trying the PEP 700 versions list first.

    The quick answer is only taken when it is a move up: staying put and moving down
    follow the rules of the full walk.
    """

    def fits(version: Version) -> bool:
        return all(spec.contains(version, prereleases=True) for spec in allowed)

    if page.complete:
        decided, quick = walk_listed(page, policy, installed, fits)
        if decided and quick is not None and (installed is None or quick.version > installed):
            return quick
        return select_wanted(iter_releases(page), policy, installed, allowed)
    if installed is not None and fits(installed):
        # Staying is allowed, so only the versions above the installed one matter;
        # the digest lists every one of them when it reaches down to the installed one.
        current = installed
        _, quick = walk_listed(
            page, policy, installed, lambda v: v > current and fits(v), above=installed
        )
        if quick is not None:
            return quick
        return _stay(page, policy, installed)
    # An inconsistent environment: the newest admitted candidate, wherever it is.
    _, quick = walk_listed(page, policy, installed, fits)
    return quick


def _stay(page: ProjectPage, policy: Policy, installed: Version) -> Release:
    """The installed version as the wanted one: its release, when it is a candidate
    (so its upload time is known), else a release with no files."""
    spellings = [raw for raw in page.versions or () if parse_version(raw) == installed]
    release = Release(installed, files_of_version(page, installed, spellings))
    if not page.complete:
        floor = min((v for raw in page.versions or () if (v := parse_version(raw))), default=None)
        if floor is None or installed < floor or (spellings and not release.files):
            # The digest does not say whether the installed release is a candidate.
            raise IncompletePage(page.name)
    if any(file_installable(f, policy) for f in release.files) and old_enough(
        release, policy.not_after
    ):
        return release
    return Release(installed, ())


def select_wanted(
    releases: Iterable[Release],
    policy: Policy,
    installed: Version | None,
    allowed: Sequence[SpecifierSet],
) -> Release | None:
    """The newest candidate that every range in ``allowed`` admits.

    Never a move down from an installed version that the ranges admit: when no newer
    candidate fits, the answer is the installed version itself (a Release with no
    files when the index does not list it). Below an installed version the ranges
    reject (an inconsistent environment), the newest admitted candidate is the answer,
    or None when there is none.
    """

    def fits(version: Version) -> bool:
        return all(spec.contains(version, prereleases=True) for spec in allowed)

    stay = installed is not None and fits(installed)
    for release in candidates(releases, policy, installed):
        if stay and installed is not None and release.version < installed:
            break
        if fits(release.version):
            return release
    if stay and installed is not None:
        return Release(installed, ())
    return None


def bump_level(installed: Version | None, target: Version) -> Bump:
    """How far a move from installed to target goes, judged on the release segments."""
    if installed is None:
        return "unknown"
    if installed.epoch != target.epoch:
        return "major"
    width = max(len(installed.release), len(target.release), 3)
    old = installed.release + (0,) * (width - len(installed.release))
    new = target.release + (0,) * (width - len(target.release))
    for position, (a, b) in enumerate(zip(old, new, strict=True)):
        if a != b:
            return ("major", "minor")[position] if position < 2 else "patch"
    return "pre"
