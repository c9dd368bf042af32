"""``pipfresh bump --consistent``: bump a file's ``==`` pins only as far as they stay a
consistent set.

A file that pins a whole set with ``==`` (pip-compile output, a constraints file) is
treated as the update treats an environment: its pins are the "installed" set, with
the Requires-Dist of each pinned version read from the index (PEP 658, a range read
of the wheel, or the wheel, as planning reads metadata), and the versions the plain
bump proposes are the targets. The update's resolver (:mod:`pipfresh.resolve`) then
finds the newest set in which every requirement of every pinned version holds; a
target it has to stop below is held back, and the pins whose requirements hold it are
named (``held_back_by``), or, when its own new version needs what the set cannot give,
a note says what. Pins the plain bump does not move (excluded, left alone, already
newest) stay where they are; a project the pins require but do not pin is taken from
the index at its newest fitting version, for the resolution only (no line is added).

The Python resolved for is the one the bump judges the file for (the target
interpreter, ``--python-version``, or a pyproject's requires-python floor); the other
markers are this machine's. Any platform's wheel counts, as a file serves every
platform it is installed on; a release with only an sdist cannot have its
requirements read and is not a candidate. A pin whose marker is false for that Python
is not part of the set; neither are pins that are not exactly ``==``, which are bumped
on their own. A project pinned in several files stops at the lowest version any of
the files' sets allows, so the files keep agreeing.
"""

from __future__ import annotations

import asyncio
import contextlib
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.parser import HeaderParser
from typing import TYPE_CHECKING, Any

from packaging.markers import (
    InvalidMarker,
    Marker,
    UndefinedComparison,
    UndefinedEnvironmentName,
    default_environment,
)
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from pipfresh._bump.eligible import Rules, current_minimum, python_floor
from pipfresh._bump.model import DepFile, Pin
from pipfresh._bump.report import PinResult
from pipfresh.errors import IndexError_, NetworkError, NotFound
from pipfresh.index.parse import wheel_tags
from pipfresh.models import Holder, IndexFile, InstalledDist, ProjectError, ProjectPage
from pipfresh.requirements import parse_requirement, requirement_text
from pipfresh.resolve import Cand, Provider
from pipfresh.select import (
    Policy,
    Release,
    iter_releases,
    old_enough,
    parse_version,
    prerelease_allowed,
    requires_python_allows,
    within_target,
)

if TYPE_CHECKING:
    from pipfresh._bump.engine import Propose
    from pipfresh.index.client import IndexClient
    from pipfresh.scan import Setup

#: Rounds at most over the files when a project pinned in several of them is held
#: lower by one than by another (each round can only lower targets, so it ends).
MAX_ROUNDS = 4

NO_SET = "--consistent: no file read pins a set with ==, so every pin was bumped on its own"


def exact(specifier: str) -> Version | None:
    """The version of a specifier that is exactly one ``==X`` (or ``===X``) clause."""
    try:
        clauses = list(SpecifierSet(specifier)) if specifier else []
    except InvalidSpecifier:
        return None
    if len(clauses) != 1 or clauses[0].operator not in ("==", "===") or "*" in clauses[0].version:
        return None
    return parse_version(clauses[0].version)


def markers_for(python: Version) -> dict[str, str]:
    """This machine's marker environment, for ``python`` instead of its own."""
    release = (*python.release, 0, 0)
    environment = {key: str(value) for key, value in default_environment().items()}
    environment["python_version"] = f"{release[0]}.{release[1]}"
    environment["python_full_version"] = f"{release[0]}.{release[1]}.{release[2]}"
    return environment


def _applies(marker: str | None, environment: Mapping[str, str]) -> bool:
    if not marker:
        return True
    try:
        return Marker(marker).evaluate(dict(environment))
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName, ValueError):
        return True  # a pin cannot be shown not to apply: it is part of the set


@dataclass(slots=True)
class Member:
    """One ``==`` pin of a file's set."""

    pin: Pin
    current: Version
    movable: bool  # the plain bump may move it (not excluded, not left alone)


@dataclass(slots=True)
class PinnedSet:
    """The ``==`` pins of one file, and the Python its set is resolved for."""

    file: DepFile
    python: Version
    members: dict[str, Member] = field(default_factory=dict)  # canonical name -> member


def pinned_sets(
    files: Sequence[DepFile], results: Mapping[Pin, PinResult], default: Version | None
) -> list[PinnedSet]:
    """Every file with ``==`` pins, and those pins (one per project: the first)."""
    sets: list[PinnedSet] = []
    for file in files:
        declared = file.requires_python if file.kind == "pyproject" else None
        python = python_floor(declared, None, default) or Version(
            default_environment()["python_full_version"]
        )
        environment = markers_for(python)
        found = PinnedSet(file, python)
        for pin in file.pins:
            version = exact(pin.specifier)
            if version is None or pin.canonical in found.members:
                continue
            if not _applies(pin.marker, environment):
                continue
            movable = results[pin].not_checked is None and pin.leave_alone is None
            found.members[pin.canonical] = Member(pin, version, movable)
        if found.members:
            sets.append(found)
    return sets


class _Source:
    """The index as the resolver sees it, through one client (the bump's pages reused
    when they are whole); :meth:`releases` and :meth:`metadata` are called from the
    resolver's thread and run on the loop that owns the client."""

    def __init__(
        self,
        client: IndexClient,
        loop: asyncio.AbstractEventLoop,
        pages: Mapping[str, ProjectPage],
        setup: Setup,
    ) -> None:
        self.client = client
        self.loop = loop
        self.setup = setup
        self.pages: dict[str, ProjectPage] = dict(pages)
        self.pending: dict[str, asyncio.Future[ProjectPage]] = {}
        self.listed: dict[str, list[Release]] = {}
        self.known: dict[tuple[str, str], tuple[str, ...]] = {}
        self.pythons: dict[tuple[str, str], str | None] = {}
        self.fetched: dict[str, bytes] = {}
        self.fetches = 0
        self.page_fetches = 0

    async def page(self, name: str) -> ProjectPage:
        found = self.pages.get(name)
        if found is not None:
            return found
        # The pinned and the proposed version of a project are read at once: one
        # request for its page, which both wait for.
        pending = self.pending.get(name)
        if pending is None:
            pending = self.pending[name] = asyncio.ensure_future(self._page(name))
        return await asyncio.shield(pending)

    async def _page(self, name: str) -> ProjectPage:
        found = self.pages.get(name)
        if found is None:
            if self.setup.settings.offline:
                import time

                from pipfresh.scan import page_from_cache

                cached = page_from_cache(
                    self.setup.settings, self.setup.sources, self.setup.cache, name, time.time()
                )
                if not isinstance(cached, ProjectPage):
                    raise NetworkError(f"{name}: {cached or 'not in the cache'}", project=name)
                found = cached
            else:
                found, answers = await self.client.fetch(name, conditional=False)
                cache = self.setup.cache
                if cache is not None:
                    import time

                    from pipfresh.scan import remember

                    # Whole, so that the next --consistent run needs no page request.
                    remember(cache, name, answers, latest=None, wanted=None, now=time.time())
            self.pages[name] = found
        return found

    async def all_releases(self, name: str) -> list[Release]:
        found = self.listed.get(name)
        if found is None:
            try:
                found = list(iter_releases(await self.page(name)))
            except NotFound:
                found = []
            self.listed[name] = found
        return found

    async def read_metadata(self, name: str, version: str, wheel: IndexFile) -> tuple[str, ...]:
        from pipfresh.index.metadata import wheel_metadata

        key = (name, version)
        known = self.known.get(key)
        if known is not None:
            return known
        try:
            text = await wheel_metadata(self.client, name, wheel, self.fetched)
        except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
            raise NetworkError(
                f"cannot read the metadata of {wheel.filename}: {exc}", project=name
            ) from exc
        headers = HeaderParser().parsestr(text)
        requires = tuple(headers.get_all("Requires-Dist") or ())
        self.known[key] = requires
        self.pythons[key] = headers.get("Requires-Python") or None
        return requires

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    # -- resolve.Source ----------------------------------------------------------------

    def releases(self, name: str) -> Sequence[Release]:
        from pipfresh.resolve import MAX_PAGES, BudgetExceeded

        if name not in self.listed and name not in self.pages:
            if self.page_fetches >= MAX_PAGES:
                raise BudgetExceeded(f"more than {MAX_PAGES} project pages needed")
            self.page_fetches += 1
        found: list[Release] = self._run(self.all_releases(name))
        return found

    def metadata(self, name: str, version: str, wheel: IndexFile) -> tuple[str, ...]:
        from pipfresh.resolve import MAX_FETCHES, BudgetExceeded

        if (name, version) not in self.known:
            if self.fetches >= MAX_FETCHES:
                raise BudgetExceeded(f"more than {MAX_FETCHES} metadata files needed")
            self.fetches += 1
        found: tuple[str, ...] = self._run(self.read_metadata(name, version, wheel))
        return found

    def requires_python(self, name: str, version: str) -> str | None:
        return self.pythons.get((name, version))


def any_wheel(files: Iterable[IndexFile], python: Version) -> IndexFile | None:
    """A wheel to read a release's requirements from: a pure one when there is one
    (its metadata serves every platform), else the first for ``python``."""
    best: IndexFile | None = None
    for file in files:
        if not file.filename.endswith(".whl") or file.is_yanked:
            continue
        if not requires_python_allows(file.requires_python, python):
            continue
        if any(tag.endswith("-none-any") for tag in wheel_tags(file.filename)):
            return file
        if best is None:
            best = file
    return best


class _FileProvider(Provider):
    """The update's provider over a file's pins: the bump's rules choose the candidates
    (every platform's wheels count), and no target moves past what the bump proposed."""

    def __init__(self, *args: Any, caps: Mapping[str, Version], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.caps = dict(caps)

    def _index(self, name: str, extras: frozenset[str]) -> list[Cand]:
        key = ("index", name, extras)
        found: list[Cand] | None = self.memo.get(key)
        if found is None:
            dist = self.installed.get(name)
            installed = parse_version(dist.version) if dist is not None else None
            cap = self.caps.get(name)
            policy = self.policy
            found = []
            for release in self.source.releases(name):
                version = release.version
                if cap is not None and version > cap:
                    continue
                if not prerelease_allowed(version, installed, policy.pre):
                    continue
                if policy.target != "latest" and not within_target(
                    version, installed, policy.target
                ):
                    continue
                if not old_enough(release, policy.not_after):
                    continue
                wheel = any_wheel(release.files, policy.python_version)
                if wheel is not None:
                    found.append(Cand(name, extras, version, str(version), wheel, False))
            self.memo[key] = found
        return found


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one file's resolution allows: the version of each member, and who holds
    each one that stops below its target."""

    chosen: dict[str, Version]
    holders: dict[str, tuple[Holder, ...]]
    reasons: dict[str, str]  # why a target with no holder among the others is not reached


def _holders(
    name: str, version: Version, mapping: Mapping[str, Cand], provider: Provider
) -> tuple[Holder, ...]:
    found: list[Holder] = []
    for other, chosen in sorted(mapping.items()):
        if other == name:
            continue
        for req in provider.get_dependencies(chosen):
            if req.name == name and not req.specifier.contains(version, prereleases=True):
                dist = provider.installed.get(other)
                shown = dist.name if dist is not None else other
                found.append(Holder(shown, chosen.raw, req.text))
    return tuple(found)


def _own_reason(
    name: str, version: Version, mapping: Mapping[str, Cand], source: _Source, python: Version
) -> str:
    """Why ``version`` of ``name`` is not in the set when no other pin rules it out:
    its Requires-Python, or one of its own requirements that the set cannot meet."""
    needs = source.requires_python(name, str(version))
    if needs and not requires_python_allows(needs, python):
        return f"not {version}: it requires Python {needs}"
    for line in source.known.get((name, str(version)), ()):
        req = parse_requirement(line)
        if req is None or req.url:
            continue
        other = canonicalize_name(req.name)
        chosen = mapping.get(other)
        if chosen is not None and not req.specifier.contains(chosen.version, prereleases=True):
            text = requirement_text(req)
            return f"not {version}: it requires {text}, and the set has {req.name} {chosen.raw}"
    return f"not {version}: no consistent set of the pins with it"


def resolve_set(
    pinned: PinnedSet,
    targets: Mapping[str, Version],
    source: _Source,
    rules: Rules,
    requires: Mapping[tuple[str, Version], tuple[str, ...]],
) -> Outcome:
    """The newest consistent versions of ``pinned``'s members, no target past
    ``targets`` (may raise the resolver's errors; the caller says what failed)."""
    from pipfresh.resolve import resolve

    dists = [
        InstalledDist(
            m.pin.name,
            name,
            str(m.current),
            kind="index" if m.movable and name in targets else "editable",
            requires=requires.get((name, m.current), ()),
        )
        for name, m in pinned.members.items()
    ]
    pins = {
        name: str(version)
        for name, version in targets.items()
        if name in pinned.members and version > pinned.members[name].current
    }
    policy = Policy(
        python_version=pinned.python,
        supported_tags=frozenset(),
        pre=rules.pre,
        target=rules.target,
        not_after=rules.not_after,
    )
    source.fetches = 0
    source.page_fetches = 0
    provider = _FileProvider(
        dists,
        pins,
        source=source,
        policy=policy,
        ranked_tags=(),
        markers=markers_for(pinned.python),
        firm=(),
        caps=targets,
    )
    mapping = resolve(provider)
    chosen: dict[str, Version] = {}
    holders: dict[str, tuple[Holder, ...]] = {}
    reasons: dict[str, str] = {}
    for name, member in pinned.members.items():
        got = mapping.get(name)
        version = member.current if got is None else got.version
        chosen[name] = version
        wanted = Version(pins[name]) if name in pins else None
        if wanted is not None and version < wanted:
            held = _holders(name, wanted, mapping, provider)
            if held:
                holders[name] = held
            else:
                reasons[name] = _own_reason(name, wanted, mapping, source, pinned.python)
    return Outcome(chosen, holders, reasons)


async def _prefetch(
    source: _Source, sets: Sequence[PinnedSet], targets: Mapping[str, Version]
) -> tuple[dict[tuple[str, Version], tuple[str, ...]], list[str]]:
    """The requirements of every pinned version (the "installed" ones) and of every
    target, read concurrently before the resolver asks for them one at a time; and a
    warning for the pinned versions whose requirements cannot be read (a project the
    index does not answer for is already among the bump's errors)."""
    wanted: dict[tuple[str, Version], Version] = {}  # (name, version) -> python
    for pinned in sets:
        for name, member in pinned.members.items():
            wanted.setdefault((name, member.current), pinned.python)
            target = targets.get(name)
            if target is not None and target > member.current:
                wanted.setdefault((name, target), pinned.python)

    async def one(name: str, version: Version, python: Version) -> tuple[str, ...] | str | None:
        try:
            releases = await source.all_releases(name)
        except IndexError_:
            return None
        if not releases:
            return None  # not found: the bump's errors say so
        release = next((r for r in releases if r.version == version), None)
        if release is None:
            return "not on the index"
        wheel = any_wheel(release.files, python)
        if wheel is None:
            return "no wheel to read them from"
        try:
            return await source.read_metadata(name, str(version), wheel)
        except IndexError_ as exc:
            return exc.message

    keys = list(wanted)
    answers = await asyncio.gather(*(one(n, v, wanted[(n, v)]) for n, v in keys))
    found = dict(zip(keys, answers, strict=True))
    requires: dict[tuple[str, Version], tuple[str, ...]] = {}
    unreadable: dict[str, str] = {}
    for pinned in sets:
        for name, member in pinned.members.items():
            got = found[(name, member.current)]
            if isinstance(got, tuple):
                requires[(name, member.current)] = got
            elif isinstance(got, str):
                unreadable.setdefault(f"{member.pin.name} {member.current}", got)
    warnings: list[str] = []
    if unreadable:
        first, why = next(iter(unreadable.items()))
        more = len(unreadable) - 1
        others = f" (and {more} more pinned version{'s' * (more != 1)})" if more else ""
        warnings.append(
            f"--consistent: cannot read what {first} requires: {why}{others}; "
            "their requirements are not checked"
        )
    return requires, warnings


def make_consistent(
    setup: Setup,
    files: Sequence[DepFile],
    results: Mapping[Pin, PinResult],
    *,
    pages: Mapping[str, ProjectPage],
    rules: Rules,
    default: Version | None,
    propose: Propose,
    on_request: Callable[[str], None] | None = None,
) -> tuple[dict[Pin, PinResult], list[str], list[ProjectError]]:
    """``results`` (the plain bump's) with every pin held where its file's ``==`` set
    stays consistent; warnings, one line each; and the projects whose pages or
    metadata the resolution could not have (their files' ``==`` pins stay as written)."""
    sets = pinned_sets(files, results, default)
    if not sets:
        return dict(results), [NO_SET], []
    return asyncio.run(_consistent(setup, files, sets, results, pages, rules, propose, on_request))


async def _consistent(  # noqa: PLR0917 - private, one call site
    setup: Setup,
    files: Sequence[DepFile],
    sets: Sequence[PinnedSet],
    results: Mapping[Pin, PinResult],
    pages: Mapping[str, ProjectPage],
    rules: Rules,
    propose: Propose,
    on_request: Callable[[str], None] | None,
) -> tuple[dict[Pin, PinResult], list[str], list[ProjectError]]:
    from pipfresh import __version__
    from pipfresh.index.client import IndexClient

    # The version each project's pins were proposed at (the same for all of them).
    targets: dict[str, Version] = {}
    for pin, result in results.items():
        if result.changes and result.version is not None:
            targets[pin.canonical] = Version(result.version)
    async with IndexClient(
        setup.index_config,
        concurrency=setup.concurrency,
        user_agent=f"pipfresh/{__version__}",
        on_request=on_request,
        offline=setup.settings.offline,
    ) as client:
        source = _Source(client, asyncio.get_running_loop(), pages, setup)
        requires, warnings = await _prefetch(source, sets, targets)
        outcome = await asyncio.to_thread(_rounds, sets, targets, source, rules, requires)
        caps, holders, reasons, failed = outcome
        releases: dict[str, list[Release]] = {}
        for name, limit in caps.items():
            if limit < targets[name]:
                # Read by the resolution already; a failure only leaves the pin as written.
                with contextlib.suppress(IndexError_):
                    releases[name] = await source.all_releases(name)
    decided = dict(results)
    errors = [error for _, _, error in failed if error is not None]
    for pinned, why, _ in failed:
        warnings.append(
            f"--consistent: {pinned.file.path.name}: {why}; its == pins are kept as written"
        )
    kept = {pin for pinned, _, _ in failed for pin in pinned.file.pins}
    by_file = {file.path: file for file in files}
    for pin, result in results.items():
        if pin in kept and result.changes and exact(pin.specifier) is not None:
            decided[pin] = replace(
                result,
                proposed=None,
                version=None,
                bump=None,
                edits=(),
                note="kept as written: --consistent could not resolve this file",
            )
            continue
        cap = caps.get(pin.canonical)
        if cap is None or result.version is None or cap >= Version(result.version):
            continue
        base = replace(
            result,
            proposed=None,
            version=None,
            bump=None,
            edits=(),
            note=reasons.get(pin.canonical),
            held_back_by=holders.get(pin.canonical, ()),
        )
        release = next((r for r in releases.get(pin.canonical, ()) if r.version == cap), None)
        # Never below what the pin already asks for (a ">=1.8" elsewhere stays as written).
        current = current_minimum(pin.specifier)
        if release is None or (current is not None and cap <= current):
            decided[pin] = base
            continue
        from pipfresh._bump.engine import propose_at

        decided[pin] = propose_at(pin, by_file[pin.path], base, release, propose, note=base.note)
    return decided, warnings, errors


def _rounds(
    sets: Sequence[PinnedSet],
    targets: Mapping[str, Version],
    source: _Source,
    rules: Rules,
    requires: Mapping[tuple[str, Version], tuple[str, ...]],
) -> tuple[
    dict[str, Version],
    dict[str, tuple[Holder, ...]],
    dict[str, str],
    list[tuple[PinnedSet, str, ProjectError | None]],
]:
    """Each file's set resolved, then again with the lower versions other files
    allowed, until no project's version moves (at most :data:`MAX_ROUNDS`)."""
    from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep, ResolverException

    from pipfresh.resolve import BudgetExceeded

    caps = dict(targets)
    holders: dict[str, tuple[Holder, ...]] = {}
    reasons: dict[str, str] = {}
    failed: dict[int, tuple[PinnedSet, str, ProjectError | None]] = {}
    for _ in range(MAX_ROUNDS):
        lowered = dict(caps)
        for i, pinned in enumerate(sets):
            if i in failed:
                continue
            try:
                outcome = resolve_set(pinned, caps, source, rules, requires)
            except ResolutionImpossible:
                failed[i] = (pinned, "its pins conflict with each other", None)
                continue
            except ResolutionTooDeep as exc:
                failed[i] = (pinned, f"no solution within {exc.round_count} rounds", None)
                continue
            except BudgetExceeded as exc:
                failed[i] = (pinned, str(exc), None)
                continue
            except IndexError_ as exc:
                # A project the index did not answer for: one the bump could not check.
                failed[i] = (pinned, exc.message, ProjectError(exc.project, exc.message))
                continue
            except ResolverException as exc:  # resolvelib's others: say it, never crash
                failed[i] = (pinned, f"the resolver stopped: {exc}", None)
                continue
            for name, version in outcome.chosen.items():
                cap = lowered.get(name)
                if cap is not None and version < cap:
                    lowered[name] = version
                    if name in outcome.holders:
                        holders[name] = outcome.holders[name]
                        reasons.pop(name, None)
                    elif name in outcome.reasons and name not in holders:
                        reasons[name] = outcome.reasons[name]
        if lowered == caps:
            break
        caps = lowered
    return caps, holders, reasons, list(failed.values())
