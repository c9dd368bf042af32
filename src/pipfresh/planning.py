"""Planning an update against the index: targets, metadata, consistency, resolution.

:func:`plan_update` turns a scan's report into a :class:`~pipfresh.plan.Plan`,
fetching each target's page and metadata concurrently (PEP 658 ``.metadata`` when
the index serves it, else the wheel itself, kept for the install), checking the
result for consistency (:func:`pipfresh.plan.make_plan`) and handing what that
must drop to the resolver (:mod:`pipfresh.resolve`). It never prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import HeaderParser
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from pipfresh import __version__
from pipfresh.errors import (
    HashMismatch,
    IndexError_,
    NotFound,
    UpdateAborted,
)
from pipfresh.installed import read_installed
from pipfresh.models import IndexFile, InstalledDist, ProjectPage, Report
from pipfresh.plan import (
    NO_RESOLVER,
    Addition,
    Candidate,
    Change,
    Dropped,
    Plan,
    Target,
    choose_targets,
    make_plan,
    rank_wheels,
)
from pipfresh.scan import ScanInput, policy_for
from pipfresh.select import Release, iter_releases, parse_version

if TYPE_CHECKING:
    from pipfresh.index.client import IndexClient


@dataclass(frozen=True, slots=True)
class Planned:
    """A plan, with the wheel bytes already fetched while planning (reused later)."""

    plan: Plan
    fetched: Mapping[str, bytes] = field(default_factory=dict)  # url -> body (hash-checked)
    seconds: float = 0.0


# ----- plan --------------------------------------------------------------------------


def plan_update(scan: ScanInput, report: Report, *, latest: bool = False) -> Planned:
    """The plan for the outdated packages of ``report`` (the scan of ``scan``)."""
    started = time.perf_counter()
    targets, dropped = choose_targets(report.packages, latest=latest)
    if not targets:
        return Planned(Plan((), tuple(dropped)), {}, time.perf_counter() - started)
    candidates, fetched = asyncio.run(_gather(scan, targets))
    # Everything installed counts for consistency, not only the packages being checked.
    dists = read_installed(scan.target.sys_path)
    plan = make_plan(dists, scan.target.markers, scan.target.python_version, candidates, dropped)
    if any(NO_RESOLVER in d.reason for d in plan.dropped):
        plan = asyncio.run(_resolve_dropped(scan, dists, plan, candidates, fetched))
    return Planned(plan, fetched, time.perf_counter() - started)


class _IndexSource:
    """The resolver's view of the index: pages and metadata through one client, from
    the resolver's thread onto the event loop that owns the client."""

    def __init__(
        self,
        client: IndexClient,
        loop: asyncio.AbstractEventLoop,
        fetched: dict[str, bytes],
        known: Mapping[tuple[str, str], tuple[str, ...]],
    ) -> None:
        self.client = client
        self.loop = loop
        self.fetched = fetched
        self.known = dict(known)
        self.pages: dict[str, list[Release]] = {}
        self.fetches = 0

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def releases(self, name: str) -> Sequence[Release]:
        found = self.pages.get(name)
        if found is None:
            try:
                page, _ = self._run(self.client.fetch(name, conditional=False))
            except NotFound:
                found = []
            else:
                found = list(iter_releases(page))
            self.pages[name] = found
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
            text = self._run(_metadata(self.client, name, wheel, self.fetched))
        except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
            raise _Unreadable(f"cannot read the metadata of {wheel.filename}: {exc}") from exc
        requires = tuple(HeaderParser().parsestr(text).get_all("Requires-Dist") or ())
        self.known[(name, version)] = requires
        return requires


class _Unreadable(Exception):
    pass


async def _resolve_dropped(
    scan: ScanInput,
    dists: Sequence[InstalledDist],
    plan: Plan,
    candidates: Sequence[Candidate],
    fetched: dict[str, bytes],
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

    policy = policy_for(scan.target, scan.pre)
    by_name = {c.target.canonical_name: c for c in candidates}
    known = {(c.target.canonical_name, c.target.after): c.requires for c in candidates}
    installed = {d.canonical_name: d for d in dists}
    async with client_for(scan) as client:
        source = _IndexSource(client, asyncio.get_running_loop(), fetched, known)

        def work() -> Plan:
            from resolvelib.resolvers import ResolutionTooDeep

            pins = {c.canonical_name: c.after for c in plan.changes}
            changes = {c.canonical_name: c for c in plan.changes}
            additions: dict[str, Addition] = {}
            dropped: list[Dropped] = []
            memo: dict[Any, Any] = {}
            for drop in plan.dropped:
                name = canonicalize_name(drop.name)
                cand = by_name.get(name)
                if NO_RESOLVER not in drop.reason or cand is None:
                    dropped.append(drop)
                    continue
                trial = {**pins, name: drop.after}
                provider = Provider(
                    dists,
                    trial,
                    source=source,
                    policy=policy,
                    ranked_tags=scan.target.tags,
                    markers=scan.target.markers,
                    memo=memo,
                )
                try:
                    mapping = resolve(provider)
                    moved, added = _moves(
                        mapping,
                        provider,
                        installed,
                        source,
                        policy,
                        scan.target.tags,
                        f"{drop.name} {drop.after}",
                        changes,
                        additions,
                        by_name,
                    )
                except ResolutionImpossible as exc:
                    conflict = describe_conflict(exc, provider)
                    dropped.append(dataclasses.replace(drop, reason=f"conflict: {conflict}"))
                    continue
                except (BudgetExceeded, ResolutionTooDeep, _Unreadable, _NoRestore) as exc:
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
                pins = trial
                changes, additions = moved, added
            dropped = [d for d in dropped if canonicalize_name(d.name) not in changes]
            return Plan(
                tuple(sorted(changes.values(), key=lambda c: c.canonical_name)),
                tuple(sorted(dropped, key=lambda d: d.name.lower())),
                tuple(sorted(additions.values(), key=lambda a: a.canonical_name)),
            )

        return await asyncio.to_thread(work)


class _NoRestore(Exception):
    pass


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
            reason = old_added.reason if old_added is not None else f"new dependency of {cause}"
            additions[name] = Addition(name, name, chosen.raw, chosen.wheel, requires, reason)
            continue
        old = previous.get(name)
        target = targets.get(name)
        if target is not None and target.target.after == chosen.raw and target.restore is not None:
            restore: IndexFile | None = target.restore
            reason = ""
        else:
            files = _files_of(source.releases(name), dist.version)
            restore = rank_wheels(files, policy, tags, installed=True)
            reason = old.reason if old is not None and old.reason else f"needed by {cause}"
        if restore is None:
            raise _NoRestore(f"cannot restore {dist.name} {dist.version}: not on the index")
        changes[name] = Change(
            dist.name, name, dist.version, chosen.raw, chosen.wheel, restore, requires, reason
        )
    return changes, additions


def _files_of(releases: Sequence[Release], version: str) -> tuple[IndexFile, ...]:
    wanted = parse_version(version)
    for release in releases:
        if release.version == wanted:
            return release.files
    return ()


def client_for(scan: ScanInput) -> IndexClient:
    if scan.preload is not None:
        scan.preload.join()
    from pipfresh.index.client import IndexClient

    return IndexClient(
        scan.index_config,
        concurrency=scan.concurrency,
        user_agent=f"pipfresh/{__version__}",
    )


async def _gather(
    scan: ScanInput, targets: Sequence[Target]
) -> tuple[list[Candidate], dict[str, bytes]]:
    policy = policy_for(scan.target, scan.pre)
    fetched: dict[str, bytes] = {}
    async with client_for(scan) as client:

        async def one(target: Target) -> Candidate:
            try:
                page, _ = await client.fetch(target.canonical_name, conditional=False)
            except IndexError_ as exc:
                return Candidate(target, None, None, error=exc.message)
            wheel = rank_wheels(_files(page, target.after), policy, scan.target.tags)
            restore = rank_wheels(
                _files(page, target.before), policy, scan.target.tags, installed=True
            )
            if wheel is None or restore is None:
                return Candidate(target, wheel, restore)
            try:
                metadata = await _metadata(client, target.canonical_name, wheel, fetched)
            except HashMismatch:
                raise
            except IndexError_ as exc:
                return Candidate(target, wheel, restore, error=exc.message)
            except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
                reason = f"cannot read the metadata of {wheel.filename}: {exc}"
                return Candidate(target, wheel, restore, error=reason)
            headers = HeaderParser().parsestr(metadata)
            requires = tuple(headers.get_all("Requires-Dist") or ())
            return Candidate(
                target, wheel, restore, requires, headers.get("Requires-Python") or None
            )

        results = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
    candidates: list[Candidate] = []
    for result in results:
        if isinstance(result, HashMismatch):
            raise UpdateAborted(f"{result.message}; nothing was changed")
        if isinstance(result, BaseException):
            raise result
        candidates.append(result)
    return candidates, fetched


def _files(page: ProjectPage, version: str) -> tuple[IndexFile, ...]:
    wanted = parse_version(version)
    for release in iter_releases(page):
        if release.version == wanted:
            return release.files
    return ()


async def _metadata(
    client: IndexClient, project: str, wheel: IndexFile, fetched: dict[str, bytes]
) -> str:
    """The target wheel's METADATA: PEP 658 when served, else read from the wheel."""
    if wheel.has_metadata:
        declared = wheel.core_metadata or wheel.dist_info_metadata
        digest = declared.get("sha256") if isinstance(declared, dict) else None
        with contextlib.suppress(IndexError_):
            body = await client.download(wheel.url + ".metadata", project=project, sha256=digest)
            return body.decode("utf-8")
    body = await client.download(wheel.url, project=project, sha256=wheel.sha256)
    fetched[wheel.url] = body
    return metadata_from_wheel(body)


def metadata_from_wheel(body: bytes) -> str:
    """The ``*.dist-info/METADATA`` of a wheel (raises KeyError when there is none)."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = [
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if len(names) != 1:
            raise KeyError("no single .dist-info/METADATA")
        return archive.read(names[0]).decode("utf-8")


__all__ = [
    "Planned",
    "client_for",
    "metadata_from_wheel",
    "plan_update",
]
