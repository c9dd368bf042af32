"""Planning an update against the index: targets, metadata, consistency, resolution.

:func:`plan_update` turns a scan's report into a :class:`~pipfresh.plan.Plan`,
fetching each target's page and metadata concurrently (PEP 658 ``.metadata`` when
the index serves it, else a few HTTP range requests into the wheel, else the whole
wheel, kept for the install), checking the
result for consistency (:func:`pipfresh.plan.make_plan`) and handing what that
must drop to the resolver (:mod:`pipfresh.resolve`). It never prints.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import HeaderParser
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from pipfresh import __version__
from pipfresh.errors import (
    HashMismatch,
    IndexError_,
    NetworkError,
    NotFound,
    UpdateAborted,
)
from pipfresh.index.metadata import wheel_metadata
from pipfresh.installed import read_installed
from pipfresh.models import IndexFile, InstalledDist, PackageStatus, ProjectPage, Report
from pipfresh.names import renamed, shown_name
from pipfresh.plan import (
    NO_RESOLVER,
    Addition,
    Candidate,
    Change,
    Dropped,
    Plan,
    Target,
    chain,
    choose_targets,
    installed_after,
    make_plan,
    rank_wheels,
)
from pipfresh.requirements import analyse
from pipfresh.scan import OFFLINE_MISS, ScanInput, offline_page, policy_for, status_for
from pipfresh.select import (
    IncompletePage,
    Policy,
    Release,
    file_installable,
    iter_releases,
    parse_version,
    requires_python_allows,
)

if TYPE_CHECKING:
    from pipfresh.index.client import IndexClient
    from pipfresh.upgrade.downloads import DownloadCache


@dataclass(frozen=True, slots=True)
class Planned:
    """A plan, with the wheel bytes already fetched while planning (reused later)."""

    plan: Plan
    fetched: Mapping[str, bytes] = field(default_factory=dict)  # url -> body (hash-checked)
    seconds: float = 0.0


# ----- plan --------------------------------------------------------------------------


#: Planning rounds at most: each round plans again on the set the previous one leaves.
MAX_ROUNDS = 4


def plan_update(
    scan: ScanInput,
    report: Report,
    *,
    latest: bool = False,
    prefetch: DownloadCache | None = None,
) -> Planned:
    """The plan for the outdated packages of ``report`` (the scan of ``scan``).

    An upgrade can lift the cap that held another package back (a newer boto3 allows
    a newer botocore), so after the first round the outdated packages are judged
    again against the installed set as the plan leaves it, and planned again, until
    a round changes nothing (at most :data:`MAX_ROUNDS`): the environment then ends
    where a second ``pipfresh update`` would find nothing more to do.

    With ``prefetch`` (an update that will not stop to ask), the wheel of every target
    starts downloading into that cache as soon as it is chosen, while the resolution
    goes on; the update's download stage then finds them there. Only the cache is
    written; a failed prefetch is left to that stage to retry and report.
    """
    started = time.perf_counter()
    targets, dropped = choose_targets(report.packages, latest=latest)
    if not targets:
        return Planned(Plan((), tuple(dropped)), {}, time.perf_counter() - started)
    # Everything installed counts for consistency, not only the packages being checked.
    dists = read_installed(scan.target.sys_path)
    if scan.constraints is not None:
        dists.append(scan.constraints)  # pip's constraints hold like any requirement
    outdated = [p for p in report.packages if p.outdated and p.kind == "index"]
    fetched: dict[str, bytes] = {}
    plan_run = _plan(
        scan, dists, targets, dropped, outdated, fetched, latest=latest, prefetch=prefetch
    )
    if prefetch is None:
        plan = asyncio.run(plan_run)
    else:
        # Downloads are under way: Ctrl-C and SIGTERM cancel them cleanly (no partial
        # file left in the cache) and then stop the update, which has changed nothing.
        from pipfresh.upgrade.executor import run_stoppable

        plan = run_stoppable(plan_run)
    return Planned(plan, fetched, time.perf_counter() - started)


async def _plan(  # noqa: PLR0917 - private, one call site
    scan: ScanInput,
    dists: Sequence[InstalledDist],
    targets: Sequence[Target],
    dropped: Sequence[Dropped],
    outdated: Sequence[PackageStatus],
    fetched: dict[str, bytes],
    *,
    latest: bool,
    prefetch: DownloadCache | None,
) -> Plan:
    async with client_for(scan) as client:
        source = _IndexSource(client, asyncio.get_running_loop(), fetched)
        if scan.settings.offline:
            source.offline = scan
        if prefetch is not None:
            source.prefetcher = _Prefetcher(client, prefetch)
        try:
            plan = await _plan_rounds(scan, source, dists, targets, dropped, outdated, latest)
        finally:
            if source.prefetcher is not None:
                await source.prefetcher.finish()
    return plan


async def _plan_rounds(  # noqa: PLR0917 - private, one call site
    scan: ScanInput,
    source: _IndexSource,
    dists: Sequence[InstalledDist],
    targets: Sequence[Target],
    dropped: Sequence[Dropped],
    outdated: Sequence[PackageStatus],
    latest: bool,
) -> Plan:
    plan = await _plan_round(scan, source, dists, targets, dropped)
    for _ in range(MAX_ROUNDS - 1):
        if plan.empty:
            break
        after = installed_after(dists, plan)
        more = await _retarget(scan, source, after, outdated, latest=latest)
        if not more:
            break
        step = await _plan_round(scan, source, after, more, ())
        plan = chain(plan, step)
        if step.empty:
            break
    return plan


async def _plan_round(
    scan: ScanInput,
    source: _IndexSource,
    dists: Sequence[InstalledDist],
    targets: Sequence[Target],
    dropped: Sequence[Dropped],
) -> Plan:
    """One round: the targets checked for consistency, what that drops resolved."""
    candidates = await _gather(scan, source, targets)
    for cand in candidates:
        if source.prefetcher is not None and cand.wheel is not None and cand.error is None:
            source.prefetcher.start(cand.target.canonical_name, cand.wheel)
        if cand.error is None:
            key = (cand.target.canonical_name, cand.target.after)
            source.known[key] = cand.requires
            source.pythons[key] = cand.requires_python
    plan = make_plan(dists, scan.target.markers, scan.target.python_version, candidates, dropped)
    if any(NO_RESOLVER in d.reason for d in plan.dropped):
        plan = await _resolve_dropped(scan, source, dists, plan, candidates)
    return plan


async def _retarget(
    scan: ScanInput,
    source: _IndexSource,
    dists: Sequence[InstalledDist],
    outdated: Sequence[PackageStatus],
    *,
    latest: bool,
) -> list[Target]:
    """The ``outdated`` packages judged again on ``dists``: those that can now move
    further than the installed set let them before (one already planned to its
    latest version has nowhere further to go, and its page is not asked for again)."""
    policy = _policy(scan)
    analysis = analyse(dists, scan.target.markers)
    by_name: dict[str, InstalledDist] = {}
    for dist in dists:
        by_name.setdefault(dist.canonical_name, dist)
    todo: list[InstalledDist] = []
    for status in outdated:
        found = by_name.get(canonicalize_name(status.name))
        now = None if found is None else parse_version(found.version)
        newest = None if status.latest is None else parse_version(status.latest)
        if found is not None and (now is None or newest is None or now < newest):
            todo.append(found)

    async def one(dist: InstalledDist) -> PackageStatus | None:
        try:
            page = await source.page(dist.canonical_name)
        except IndexError_:
            return None  # the first round already reported it
        try:
            return status_for(dist, page, policy, analysis.on(dist.canonical_name))
        except IncompletePage:  # pragma: no cover - planning pages are always whole
            return None

    statuses = [s for s in await asyncio.gather(*(one(d) for d in todo)) if s is not None]
    targets, _ = choose_targets(statuses, latest=latest)
    return targets


def offers_for(scan: ScanInput, plan: Plan) -> dict[str, tuple[str, ...]]:
    """The versions ``update --interactive`` may offer for each change the plan makes
    because it was asked for (see :mod:`pipfresh.offers`), by canonical name. A change
    made for another package's sake ("needed by ...") is offered only at its planned
    version; so is one whose page cannot be read now (offline, an index error)."""
    from pipfresh.offers import offers

    asked = [c for c in plan.changes if not c.reason]
    if not asked:
        return {}
    policy = _policy(scan)

    async def pages() -> list[ProjectPage | None]:
        async with client_for(scan) as client:
            source = _IndexSource(client, asyncio.get_running_loop(), {})
            if scan.settings.offline:
                source.offline = scan

            async def one(name: str) -> ProjectPage | None:
                try:
                    return await source.page(name)
                except IndexError_:
                    return None

            return await asyncio.gather(*(one(c.canonical_name) for c in asked))

    found: dict[str, tuple[str, ...]] = {}
    for change, page in zip(asked, asyncio.run(pages()), strict=True):
        if page is None:
            continue
        # The scan's analysis: the installed set and pip's constraints, as planned from.
        allowed = [c.specifier for c in scan.requirements.on(change.canonical_name)]
        found[change.canonical_name] = offers(page, policy, change.before, change.after, allowed)
    return found


def _policy(scan: ScanInput) -> Policy:
    # The scan's own rules (--pre, --target, --cooldown) bind the update too.
    return policy_for(scan.target, scan.pre, scan.target_level, scan.not_after)


class _IndexSource:
    """The index as planning sees it: pages and metadata through one client, each
    fetched once per update; :meth:`releases` and :meth:`metadata` serve the
    resolver's thread by running on the event loop that owns the client."""

    def __init__(
        self,
        client: IndexClient,
        loop: asyncio.AbstractEventLoop,
        fetched: dict[str, bytes],
    ) -> None:
        self.client = client
        self.loop = loop
        self.fetched = fetched
        self.known: dict[tuple[str, str], tuple[str, ...]] = {}
        self.pythons: dict[tuple[str, str], str | None] = {}  # Requires-Python read
        self.pages: dict[str, ProjectPage] = {}
        self.listed: dict[str, list[Release]] = {}
        self.fetches = 0
        self.page_fetches = 0
        self.prefetcher: _Prefetcher | None = None
        self.offline: ScanInput | None = None  # --offline: pages from its cache only

    async def page(self, name: str) -> ProjectPage:
        found = self.pages.get(name)
        if found is None:
            if self.offline is not None:
                cached = offline_page(self.offline, name)
                if cached is None:
                    raise NetworkError(f"{name}: {OFFLINE_MISS}", project=name)
                found = cached
            else:
                found, _ = await self.client.fetch(name, conditional=False)
            self.pages[name] = found
        return found

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def releases(self, name: str) -> Sequence[Release]:
        found = self.listed.get(name)
        if found is None:
            if name not in self.pages:
                from pipfresh.resolve import MAX_PAGES, BudgetExceeded

                if self.page_fetches >= MAX_PAGES:
                    raise BudgetExceeded(f"more than {MAX_PAGES} project pages needed")
                self.page_fetches += 1
            try:
                found = list(iter_releases(self._run(self.page(name))))
            except NotFound:
                found = []
            self.listed[name] = found
        return found

    def metadata(self, name: str, version: str, wheel: IndexFile) -> tuple[str, ...]:
        known = self.known.get((name, version))
        if known is not None:
            return known
        from pipfresh.resolve import MAX_FETCHES, BudgetExceeded

        if self.fetches >= MAX_FETCHES:
            raise BudgetExceeded(f"more than {MAX_FETCHES} metadata files needed")
        self.fetches += 1
        try:
            text = self._run(wheel_metadata(self.client, name, wheel, self.fetched))
        except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
            raise _Unreadable(f"cannot read the metadata of {wheel.filename}: {exc}") from exc
        headers = HeaderParser().parsestr(text)
        requires = tuple(headers.get_all("Requires-Dist") or ())
        self.known[(name, version)] = requires
        self.pythons[(name, version)] = headers.get("Requires-Python") or None
        return requires

    def requires_python(self, name: str, version: str) -> str | None:
        """The Requires-Python that ``name`` ``version``'s metadata gave (once read)."""
        return self.pythons.get((name, version))


class _Prefetcher:
    """Downloads of the targets' wheels into the download cache, started while the
    plan is still being made. Fewer at once than the client allows, so that the
    resolver's small requests always find a free connection."""

    def __init__(self, client: IndexClient, downloads: DownloadCache) -> None:
        self.client = client
        self.downloads = downloads
        self.gate = asyncio.Semaphore(max(1, client.limit.ceiling // 2))
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, project: str, wheel: IndexFile) -> None:
        digest = wheel.sha256
        if digest is None or digest in self.tasks or not wheel.url.startswith("http"):
            return
        if self.downloads.present(digest, wheel.filename):
            return
        self.tasks[digest] = asyncio.ensure_future(self._one(project, wheel, digest))

    async def _one(self, project: str, wheel: IndexFile, digest: str) -> None:
        async with self.gate:
            try:
                dest = self.downloads.destination(digest, wheel.filename)
                await self.client.download_to(
                    wheel.url, dest, project=project, sha256=digest, max_bytes=wheel.size
                )
            except (IndexError_, OSError):
                return  # the download stage tries again, and says what went wrong
            self.downloads.trust(dest)

    async def finish(self) -> None:
        """Wait for the downloads still running (the update needs them next)."""
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


class _Unreadable(Exception):
    pass


async def _resolve_dropped(
    scan: ScanInput,
    source: _IndexSource,
    dists: Sequence[InstalledDist],
    plan: Plan,
    candidates: Sequence[Candidate],
) -> Plan:
    """``plan`` with each upgrade dropped for consistency resolved instead, when it can
    be: one resolution per such target, in turn, on top of what is already accepted
    (see :mod:`pipfresh.resolve`). A target that cannot be resolved stays dropped,
    with the conflict as its reason."""
    from pipfresh.resolve import (
        BudgetExceeded,
        Provider,
        ResolutionImpossible,
        describe_conflict,
        resolve,
    )

    policy = _policy(scan)
    by_name = {c.target.canonical_name: c for c in candidates}
    installed: dict[str, InstalledDist] = {}
    for dist in dists:
        installed.setdefault(dist.canonical_name, dist)

    def work() -> Plan:
        from resolvelib.resolvers import ResolutionTooDeep

        pins = {c.canonical_name: c.after for c in plan.changes}
        changes = {c.canonical_name: c for c in plan.changes}
        additions: dict[str, Addition] = {}
        dropped: list[Dropped] = []
        memo: dict[Any, Any] = {}
        wheels = {c.canonical_name: c.wheel for c in plan.changes}
        wheels.update((c.target.canonical_name, c.wheel) for c in candidates if c.wheel)
        todo: list[Dropped] = []
        for drop in plan.dropped:
            if NO_RESOLVER in drop.reason and canonicalize_name(drop.name) in by_name:
                todo.append(drop)
            else:
                dropped.append(drop)

        def attempt(
            trial: dict[str, str], firm: Sequence[str], cause: str
        ) -> tuple[dict[str, Change], dict[str, Addition], list[Dropped]]:
            """The changes and additions with ``trial`` pinned, and the accepted
            targets that the ``firm`` ones hold where they are."""
            # The metadata budget bounds one resolution; what earlier ones read is
            # known and free, so a failed joint attempt does not starve the rest.
            source.fetches = 0
            source.page_fetches = 0
            provider = Provider(
                dists,
                trial,
                source=source,
                policy=policy,
                ranked_tags=scan.target.tags,
                markers=scan.target.markers,
                memo=memo,
                firm=firm,
                pinned_wheels=wheels,
            )
            try:
                mapping = resolve(provider)
            except ResolutionImpossible as exc:
                raise _Conflict(describe_conflict(exc, provider)) from exc
            moved, added = _moves(
                mapping,
                provider,
                installed,
                source,
                policy,
                scan.target.tags,
                cause,
                changes,
                additions,
                by_name,
            )
            held: list[Dropped] = []
            for gone in changes.keys() - moved.keys():
                earlier = changes[gone]
                if gone in by_name:
                    holder = _capped_by(gone, Version(earlier.after), mapping, provider)
                    why = f"held back by {holder}" if holder else f"not with {cause}"
                    held.append(Dropped(earlier.name, earlier.before, earlier.after, why))
            return moved, added, held

        if len(todo) > 1:
            # Usually every one of them can move: one resolution for all is much
            # cheaper than one each, which is what a conflict among them falls back to.
            firm = [str(canonicalize_name(d.name)) for d in todo]
            joint: dict[str, str] = {
                **pins,
                **{n: d.after for n, d in zip(firm, todo, strict=True)},
            }
            try:
                moved, added, held = attempt(joint, firm, "this update")
            except HashMismatch as exc:
                raise UpdateAborted(f"{exc.message}; nothing was changed") from exc
            except (
                _Conflict,
                BudgetExceeded,
                ResolutionTooDeep,
                _Unreadable,
                IndexError_,
            ):
                pass  # each one on its own below, to say which cannot move and why
            else:
                pins, changes, additions = joint, moved, added
                dropped += held
                todo = []
        for drop in todo:
            name = canonicalize_name(drop.name)
            trial = {**pins, name: drop.after}
            try:
                moved, added, held = attempt(trial, [name], f"{drop.name} {drop.after}")
            except _Conflict as exc:
                dropped.append(dataclasses.replace(drop, reason=f"conflict: {exc}"))
                continue
            except (BudgetExceeded, ResolutionTooDeep, _Unreadable) as exc:
                if isinstance(exc, ResolutionTooDeep):
                    why = f"no solution within {exc.round_count} rounds"
                else:
                    why = str(exc)
                reason = drop.reason.replace(NO_RESOLVER, f"resolver gave up: {why}")
                dropped.append(dataclasses.replace(drop, reason=reason))
                continue
            except HashMismatch as exc:
                raise UpdateAborted(f"{exc.message}; nothing was changed") from exc
            except IndexError_ as exc:
                reason = drop.reason.replace(NO_RESOLVER, f"resolver gave up: {exc.message}")
                dropped.append(dataclasses.replace(drop, reason=reason))
                continue
            dropped += held
            pins = trial
            changes, additions = moved, added
        dropped = [d for d in dropped if canonicalize_name(d.name) not in changes]
        return Plan(
            tuple(sorted(changes.values(), key=lambda c: c.canonical_name)),
            tuple(sorted(dropped, key=lambda d: d.name.lower())),
            tuple(sorted(additions.values(), key=lambda a: a.canonical_name)),
        )

    return await asyncio.to_thread(work)


class _Conflict(Exception):
    """No consistent set exists (the message names what conflicts)."""


def _moves(  # noqa: PLR0917 - private, one call site
    mapping: Mapping[str, Any],
    provider: Any,
    installed: Mapping[str, InstalledDist],
    source: _IndexSource,
    policy: Any,
    tags: Sequence[str],
    cause: str,
    previous: Mapping[str, Change],
    previous_added: Mapping[str, Addition],
    targets: Mapping[str, Candidate],
) -> tuple[dict[str, Change], dict[str, Addition]]:
    """The changes and additions of a resolution; the reason of a package that was not
    moving before names ``cause``."""
    changes: dict[str, Change] = {}
    additions: dict[str, Addition] = {}
    for name, chosen in mapping.items():
        dist = installed.get(name)
        if dist is not None and chosen.installed:
            continue
        requires = provider.requires_of(chosen)
        if dist is None:
            old_added = previous_added.get(name)
            if old_added is not None:
                reason = old_added.reason
            else:
                reason = f"new dependency of {_wanted_by(name, None, mapping, provider) or cause}"
            shown = shown_name(name, installed)
            additions[name] = Addition(shown, name, chosen.raw, chosen.wheel, requires, reason)
            continue
        old = previous.get(name)
        target = targets.get(name)
        restore: IndexFile | None
        if target is not None:
            restore = target.restore
            if chosen.raw == target.target.after:
                reason = ""
            elif old is not None and old.after == chosen.raw:
                reason = old.reason
            elif chosen.version < Version(target.target.after):
                after = target.target.after
                needs = source.requires_python(name, after)
                if needs and not requires_python_allows(needs, policy.python_version):
                    reason = f"not {after}: it requires Python {needs}"
                else:
                    holder = _capped_by(name, Version(after), mapping, provider)
                    reason = f"not {after}: {holder or 'no consistent set with it'}"
            else:
                reason = f"needed by {_wanted_by(name, dist.version, mapping, provider) or cause}"
        else:
            restore = None  # the rollback keeps the installed files themselves
            if old is not None and old.reason:
                reason = old.reason
            else:
                reason = f"needed by {_wanted_by(name, dist.version, mapping, provider) or cause}"
        changes[name] = Change(
            dist.name, name, dist.version, chosen.raw, chosen.wheel, restore, requires, reason
        )
    return changes, additions


def _requirements_on(
    name: str, mapping: Mapping[str, Any], provider: Any
) -> Iterator[tuple[str, Any, Any]]:
    """(shown name, chosen candidate, requirement) for every requirement on ``name``
    of the other candidates in a resolution (markers already evaluated by the provider)."""
    for other, chosen in sorted(mapping.items()):
        if other == name:
            continue
        for req in provider.get_dependencies(chosen):
            if req.name == name:
                yield shown_name(other, provider.installed), chosen, req


def _wanted_by(name: str, installed: str | None, mapping: Mapping[str, Any], provider: Any) -> str:
    """Who, in a resolution, makes ``name`` move (its ``installed`` version ruled out)
    or be added (``installed`` None): "kkk 2.0"; empty when no single one does."""
    version = None if installed is None else parse_version(installed)
    for shown, chosen, req in _requirements_on(name, mapping, provider):
        if chosen.installed:
            continue
        if version is None or not req.specifier.contains(version, prereleases=True):
            return f"{shown} {chosen.raw}"
    return ""


def _capped_by(name: str, version: Version, mapping: Mapping[str, Any], provider: Any) -> str:
    """Who, in a resolution, rules ``version`` of ``name`` out: "fff 1.0 requires eee<2"."""
    for shown, chosen, req in _requirements_on(name, mapping, provider):
        if not req.specifier.contains(version, prereleases=True):
            named = renamed(req.text, shown_name(name, provider.installed))
            return f"{shown} {chosen.raw} requires {named}"
    return ""


def client_for(scan: ScanInput) -> IndexClient:
    if scan.preload is not None:
        scan.preload.join()
    from pipfresh.index.client import IndexClient

    return IndexClient(
        scan.index_config,
        concurrency=scan.concurrency,
        user_agent=f"pipfresh/{__version__}",
        offline=scan.settings.offline,
    )


async def _gather(
    scan: ScanInput, source: _IndexSource, targets: Sequence[Target]
) -> list[Candidate]:
    policy = _policy(scan)
    tags = scan.target.tags

    async def one(target: Target) -> Candidate:
        kept = _kept(scan, target)
        if kept is not None:
            after_files, before_files = kept
        else:
            try:
                page = await source.page(target.canonical_name)
            except IndexError_ as exc:
                return Candidate(target, None, None, error=exc.message)
            after_files, before_files = _files(page, target.after), _files(page, target.before)
        wheel = rank_wheels(after_files, policy, tags)
        restore = rank_wheels(before_files, policy, tags, installed=True)
        if wheel is None:
            sdist = _sdist_of(after_files, policy)
            if sdist is None:
                return Candidate(target, wheel, restore)
            try:
                wheel = await _built(scan, source, target, sdist)
            except _BuildFailed as exc:
                return Candidate(target, None, restore, error=str(exc))
        key = (target.canonical_name, target.after)
        known = source.known.get(key)
        if known is not None:  # read by an earlier round's resolver
            return Candidate(target, wheel, restore, known, source.pythons.get(key))
        try:
            metadata = await wheel_metadata(
                source.client, target.canonical_name, wheel, source.fetched
            )
        except HashMismatch:
            raise
        except IndexError_ as exc:
            return Candidate(target, wheel, restore, error=exc.message)
        except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
            reason = f"cannot read the metadata of {wheel.filename}: {exc}"
            return Candidate(target, wheel, restore, error=reason)
        headers = HeaderParser().parsestr(metadata)
        requires = tuple(headers.get_all("Requires-Dist") or ())
        return Candidate(target, wheel, restore, requires, headers.get("Requires-Python") or None)

    results = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
    candidates: list[Candidate] = []
    for result in results:
        if isinstance(result, HashMismatch):
            raise UpdateAborted(f"{result.message}; nothing was changed")
        if isinstance(result, BaseException):
            raise result
        candidates.append(result)
    return candidates


class _BuildFailed(Exception):
    pass


def _sdist_of(files: Sequence[IndexFile], policy: Policy) -> IndexFile | None:
    for file in files:
        if file.filename.endswith((".tar.gz", ".zip")) and file_installable(file, policy):
            return file
    return None


async def _built(
    scan: ScanInput, source: _IndexSource, target: Target, sdist: IndexFile
) -> IndexFile:
    """The wheel built from ``sdist`` for the target, as a local file the rest of the
    update treats as any wheel (its metadata read, its sha256 checked on install)."""
    import atexit
    import hashlib
    import shutil
    import tempfile
    from pathlib import Path

    from pipfresh.install import find_uv, target_has_pip
    from pipfresh.install.build import build_wheel

    folder = Path(tempfile.mkdtemp(prefix="pipfresh-build-"))
    atexit.register(shutil.rmtree, folder, True)
    archive = folder / Path(sdist.filename).name
    try:
        await source.client.download_to(
            sdist.url, archive, project=target.canonical_name, sha256=sdist.sha256
        )
    except IndexError_ as exc:
        raise _BuildFailed(f"only an sdist, which could not be fetched: {exc.message}") from None
    uv = find_uv()
    loop = asyncio.get_running_loop()
    built = await loop.run_in_executor(
        None,
        lambda: build_wheel(
            archive,
            folder / "wheel",
            scan.target.python,
            uv=None if uv is None else uv[0],
            target_has_pip=target_has_pip(scan.target),
        ),
    )
    if built.wheel is None:
        raise _BuildFailed(f"only an sdist, and building it failed: {built.why}")
    data = built.wheel.read_bytes()
    return IndexFile.build(
        built.wheel.name,
        built.wheel.as_uri(),
        hashes={"sha256": hashlib.sha256(data).hexdigest()},
        size=len(data),
    )


def _kept(
    scan: ScanInput, target: Target
) -> tuple[tuple[IndexFile, ...], tuple[IndexFile, ...]] | None:
    """The target and installed versions' files as the scan kept them (no second
    fetch of the page), or None when it did not keep both."""
    kept = (scan.kept_files or {}).get(target.canonical_name)
    after, before = parse_version(target.after), parse_version(target.before)
    if kept is None or after is None or before is None:
        return None
    after_files, before_files = kept.get(str(after)), kept.get(str(before))
    if not after_files or not before_files:
        return None
    return after_files, before_files


def _files(page: ProjectPage, version: str) -> tuple[IndexFile, ...]:
    wanted = parse_version(version)
    for release in iter_releases(page):
        if release.version == wanted:
            return release.files
    return ()


__all__ = [
    "Planned",
    "client_for",
    "plan_update",
]
