"""The outdated scan: inspect the target, query the indexes concurrently, select, stream.

This is the use case behind ``pipfresh outdated`` and :func:`pipfresh.check_outdated`.
It never prints: results are yielded (or returned) and rendered by the caller.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import Version

from pipfresh import __version__
from pipfresh.cache import Cache, CacheCorrupt, CacheEntry, default_cache_dir
from pipfresh.constraints import constraints_dist
from pipfresh.environment import PendingInspection, find_interpreter, inspect_target
from pipfresh.errors import IndexError_, NotOnAnyIndex, PipfreshError, UsageError
from pipfresh.index.sources import (
    UsableSources,
    found,
    is_local,
    merge_pages,
    not_found_reason,
    read_local,
    usable_sources,
)
from pipfresh.installed import read_installed
from pipfresh.models import (
    Holder,
    IndexFile,
    InstalledDist,
    PackageStatus,
    ProjectError,
    ProjectPage,
    Report,
    Summary,
    Target,
    TargetEnv,
)
from pipfresh.pipconfig import CliIndexOptions, IndexConfig, load_index_config
from pipfresh.requirements import Analysis, Constraint, analyse
from pipfresh.select import (
    IncompletePage,
    Policy,
    Release,
    bump_level,
    digest_page,
    files_of_version,
    newest_release,
    parse_version,
    python_release,
    wanted_release,
)
from pipfresh.settings import UpgradeConfig, resolve, resolve_max_age
from pipfresh.suggest import did_you_mean

if TYPE_CHECKING:
    from pipfresh.index.client import SourceAnswer

Result = PackageStatus | ProjectError


@dataclass(slots=True)
class ScanInput:
    """Everything a scan needs, gathered before the first request is sent."""

    target: TargetEnv
    dists: list[InstalledDist]
    index_config: IndexConfig
    concurrency: int
    pre: bool
    timings: dict[str, float] = field(default_factory=dict)
    preload: threading.Thread | None = None
    warnings: list[str] = field(default_factory=list)  # one line each, for the user
    # What the whole installed set requires (not only the dists to check).
    requirements: Analysis = field(default_factory=lambda: Analysis({}, (), {}))
    target_level: Target = "latest"
    not_after: datetime | None = None  # cooldown cut-off: newer uploads are ignored
    settings: UpgradeConfig = field(default_factory=UpgradeConfig)
    excluded: tuple[str, ...] = ()  # canonical names left out by exclude patterns
    cache: Cache | None = None
    sources: UsableSources | None = None
    # Set to {} by an update: the files of the installed, wanted and latest versions
    # of each outdated project, {name: {version: files}}, so planning need not fetch
    # those pages again (see keep_files).
    kept_files: dict[str, dict[str, tuple[IndexFile, ...]]] | None = None
    # pip's constraints on installed projects, as one pseudo-distribution (or None).
    constraints: InstalledDist | None = None
    # Names asked for that are not installed (prepare(report_unknown=True)): reported
    # among the errors while the other names are still checked.
    unknown: tuple[ProjectError, ...] = ()


def _warm_client(config: IndexConfig) -> None:
    client = importlib.import_module("pipfresh.index.client")
    # Errors are ignored here: the same call made for real reports them.
    with contextlib.suppress(PipfreshError):
        client.tls_context(config.cert, config.client_cert)


def preload_client(config: IndexConfig) -> threading.Thread:
    """Import the HTTP client (aiohttp, ~150 ms) and load the TLS certificates in the
    background.

    :func:`prepare` meanwhile mostly waits for the target's inspection subprocess
    and the disk, so this costs little wall time on a cold run.
    """
    thread = threading.Thread(target=_warm_client, args=(config,), daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True, slots=True)
class Setup:
    """What every command that asks the indexes reads first: pipfresh's settings,
    pip's index configuration, the sources to ask and the cache (None: --no-cache)."""

    settings: UpgradeConfig
    index_config: IndexConfig
    sources: UsableSources
    cache: Cache | None

    @property
    def concurrency(self) -> int:
        return self.settings.concurrency or 1  # resolve() always sets it


def load_setup(config: UpgradeConfig | None, environ: Mapping[str, str], cwd: Path) -> Setup:
    """Settings (CLI > ``PIPFRESH_*`` > ``[tool.pipfresh]`` > user config), pip's index
    configuration and the cache, for :func:`prepare` and ``pipfresh bump``."""
    config = resolve(config or UpgradeConfig(), environ, cwd)
    index_config = load_index_config(
        CliIndexOptions(
            index_url=config.index_url,
            extra_index_urls=tuple(config.extra_index_urls),
            no_index=config.no_index or None,
            find_links=tuple(config.find_links),
            trusted_hosts=tuple(config.trusted_hosts),
            cert=config.cert,
            client_cert=config.client_cert,
            timeout=config.timeout,
            isolated=config.isolated,
            constraints=tuple(config.constraints),
        ),
        environ,
        cwd=cwd,
    )
    sources = usable_sources(index_config)
    if config.offline and config.no_cache:
        raise UsageError("--offline answers from the cache, so it cannot go with --no-cache")
    cache = None
    if not config.no_cache:
        root = Path(config.cache_dir) if config.cache_dir else default_cache_dir(environ)
        cache = Cache(root.expanduser(), max_age=resolve_max_age(config.max_age, environ))
    return Setup(config, index_config, sources, cache)


def prepare(
    python: str | None = None,
    config: UpgradeConfig | None = None,
    *,
    names: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    now: datetime | None = None,
    inspection: PendingInspection | None = None,
    report_unknown: bool = False,
) -> ScanInput:
    """Find and inspect the target, read what is installed, load pip's index settings and
    pipfresh's own (``[tool.pipfresh]``, user config, ``PIPFRESH_*``).

    ``inspection``, from :func:`pipfresh.environment.start_inspection` for the same
    ``python`` (and ``cwd`` and ``environ``), is the target's inspection already
    under way: its result is taken instead of inspecting again. The caller still
    closes it, which matters when this raises before taking it.

    A name in ``names`` that is not installed is a UsageError, or with
    ``report_unknown`` one of the report's errors while the others are checked.
    """
    if inspection is not None and inspection.spec != python:
        raise ValueError(f"the inspection was started for {inspection.spec!r}, not {python!r}")
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    setup = load_setup(config, environ, cwd)
    config, index_config, sources, cache = (
        setup.settings,
        setup.index_config,
        setup.sources,
        setup.cache,
    )
    concurrency = setup.concurrency
    # A run that will likely be answered from the cache must not pay for aiohttp;
    # if the hint is wrong, the client is imported when it is needed.
    likely_warm = cache is not None and cache.written_within(cache.max_age, now=time.time())
    warm = config.offline or (likely_warm and not config.refresh)
    preload = None if warm else preload_client(index_config)
    if inspection is None:
        interpreter = find_interpreter(python, cwd=cwd, environ=environ)
        target = inspect_target(interpreter)
    else:
        # Raised here, after the settings' errors, as the two calls above would.
        target = inspection.result()
    timings["inspect"] = time.perf_counter() - started
    started = time.perf_counter()
    dists = read_installed(target.sys_path)
    timings["read_installed"] = time.perf_counter() - started
    started = time.perf_counter()
    held = constraints_dist(index_config.constraints, (d.canonical_name for d in dists))
    # Every installed dist can hold another back, so this runs before any filtering;
    # so do pip's constraints, as the requirements of one pseudo-distribution.
    requirements = analyse(dists if held is None else [*dists, held], target.markers)
    timings["requirements"] = time.perf_counter() - started
    wanted_names = {canonicalize_name(n) for n in names}
    unknown: list[ProjectError] = []
    if wanted_names:
        present = {d.canonical_name for d in dists}
        missing = sorted(wanted_names - present)
        if missing:
            installed = [d.name for d in dists]
            if not report_unknown:
                hints = "".join(did_you_mean(m, installed) for m in missing)
                raise UsageError(f"not installed in {target.prefix}: {', '.join(missing)}{hints}")
            given = {canonicalize_name(n): n for n in names}
            unknown = [
                ProjectError(
                    given[m], f"not installed in {target.prefix}{did_you_mean(m, installed)}"
                )
                for m in missing
            ]
            wanted_names -= set(missing)
        dists = [d for d in dists if d.canonical_name in wanted_names]
    # A project named on the command line is checked even when a pattern excludes it.
    dists, excluded = split_excluded(dists, config.exclude, keep=wanted_names)
    not_after = None
    if config.cooldown:
        now = now or datetime.now(timezone.utc)
        not_after = now - timedelta(days=config.cooldown)
    scan = ScanInput(
        target,
        dists,
        index_config,
        concurrency,
        bool(config.pre),
        timings,
        preload,
        requirements=requirements,
        target_level=config.target or "latest",
        not_after=not_after,
        settings=config,
        excluded=excluded,
        cache=cache,
        sources=sources,
        constraints=held,
        unknown=tuple(unknown),
    )
    if cache is not None and cache.refused:
        scan.warnings.append(cache.refused)  # it runs without the cache: say why
    return scan


def excluded_by(canonical_name: str, patterns: Sequence[str]) -> bool:
    """Whether a project matches one of the exclude globs; the patterns are normalised
    as names are (``Zope.*`` matches ``zope-interface``)."""
    return any(
        fnmatch.fnmatchcase(canonical_name, canonicalize_name(pattern)) for pattern in patterns
    )


def split_excluded(
    dists: Sequence[InstalledDist], patterns: Sequence[str], *, keep: Iterable[str] = ()
) -> tuple[list[InstalledDist], tuple[str, ...]]:
    """(dists to check, canonical names excluded), the names in ``keep`` never excluded."""
    if not patterns:
        return list(dists), ()
    keep = set(keep)
    kept: list[InstalledDist] = []
    dropped: list[str] = []
    for dist in dists:
        if dist.canonical_name not in keep and excluded_by(dist.canonical_name, patterns):
            dropped.append(dist.canonical_name)
        else:
            kept.append(dist)
    return kept, tuple(dropped)


def policy_for(
    target: TargetEnv,
    pre: bool,
    target_level: Target = "latest",
    not_after: datetime | None = None,
) -> Policy:
    return Policy(
        python_version=python_release(target.python_version),
        supported_tags=target.supported,
        pre=pre,
        target=target_level,
        not_after=not_after,
    )


def status_for(
    dist: InstalledDist,
    page: ProjectPage,
    policy: Policy,
    constraints: Sequence[Constraint] = (),
) -> PackageStatus:
    """Pure: what the index offers for one installed distribution, judged for the target.

    latest is the newest candidate; wanted the newest candidate that ``constraints``
    (the other installed dists' requirements on this project) all allow. bump goes
    from installed to latest, so a package held back entirely still shows as outdated.
    """
    installed = parse_version(dist.version)
    latest = newest_release(page, policy, installed)
    if latest is None:
        return PackageStatus(dist.name, dist.version, None, None, None, None, dist.kind)
    wanted: Release | None = latest
    holders: tuple[Holder, ...] = ()
    # The common case (nothing rules latest out) costs one range test per constraint;
    # only a held-back project pays for walking its older releases.
    excluding = [c for c in constraints if not c.allows(latest.version)]
    if excluding:
        wanted = wanted_release(page, policy, installed, [c.specifier for c in constraints])
        holders = tuple(
            Holder(c.holder, c.holder_version, c.excluding(latest.version)) for c in excluding
        )
    newer = installed is None or latest.version > installed
    return PackageStatus(
        name=dist.name,
        installed=dist.version,
        latest=str(latest.version),
        wanted=None if wanted is None else str(wanted.version),
        bump=bump_level(installed, latest.version) if newer else None,
        released=None if wanted is None else wanted.upload_time,
        kind=dist.kind,
        held_back_by=holders,
        latest_released=latest.upload_time,
    )


def keep_files(page: ProjectPage, status: PackageStatus) -> dict[str, tuple[IndexFile, ...]]:
    """The files of the installed, wanted and latest versions on a whole page, by
    normalised version; only what the PEP 700 versions list lets be found cheaply."""
    kept: dict[str, tuple[IndexFile, ...]] = {}
    for raw in {status.installed, status.wanted, status.latest}:
        version = None if raw is None else parse_version(raw)
        if version is None or page.versions is None:
            continue
        spellings = [v for v in page.versions if parse_version(v) == version]
        files = files_of_version(page, version, spellings)
        if files:
            # Kept until the update downloads them: they must not pin the page's body.
            kept[str(version)] = tuple(f.detached() for f in files)
    return kept


def _unchecked(dist: InstalledDist) -> PackageStatus:
    """Editable and direct-URL installs: reported as such, never looked up on an index."""
    return PackageStatus(dist.name, dist.version, None, None, None, None, dist.kind)


def answer_from_cache(
    scan: ScanInput, dist: InstalledDist, policy: Policy, now: float
) -> Result | None:
    """A result from the cache and local sources alone, or None: ask the network.

    Offline, the cache's answer is final: stale entries count, and a project the
    cache cannot answer is reported as such.
    """
    offline = scan.settings.offline
    sources = scan.sources or UsableSources((), (), ())
    pages = cached_pages(scan, dist.canonical_name, now)
    if pages is None:
        return ProjectError(dist.name, OFFLINE_MISS) if offline else None
    if not pages:
        # No source found it, by the network path's own definition (sources.found):
        # a remembered index page counts, as its answer did when it was fetched.
        return ProjectError(dist.name, not_found_reason(sources.index_urls, sources.find_links))
    name = dist.canonical_name
    try:
        return status_for(dist, merge_pages(name, pages), policy, scan.requirements.on(name))
    except IncompletePage:
        return ProjectError(dist.name, OFFLINE_PARTIAL) if offline else None


def cached_pages(scan: ScanInput, name: str, now: float) -> list[ProjectPage] | None:
    """The pages the cache and local sources hold of ``name`` (empty: no source has
    it), or None when they cannot answer: an index without a usable entry (stale
    counts only offline), or a remote find-links location (not cached; skipped
    offline)."""
    sources = scan.sources or UsableSources((), (), ())
    return _cached_pages(scan.settings, sources, scan.cache, name, now)


def page_from_cache(
    settings: UpgradeConfig,
    sources: UsableSources,
    cache: Cache | None,
    name: str,
    now: float,
) -> ProjectPage | str | None:
    """The merged page of canonical ``name`` from the cache and local sources alone
    (for names that are not installed dists, as ``bump`` has them); a string: why it
    cannot be answered (offline, or no source has it); None: ask the network."""
    pages = _cached_pages(settings, sources, cache, name, now)
    if pages is None:
        return OFFLINE_MISS if settings.offline else None
    if not pages:
        return not_found_reason(sources.index_urls, sources.find_links)
    return merge_pages(name, pages)


def _cached_pages(
    settings: UpgradeConfig,
    sources: UsableSources,
    cache: Cache | None,
    name: str,
    now: float,
) -> list[ProjectPage] | None:
    pages: list[ProjectPage] = []
    for url in sources.index_urls:
        if is_local(url):
            local = read_local(url, name, index=True)
            if found(local):
                pages.append(local)
            continue
        entry = None if cache is None else cache.lookup(url, name, now=now)
        if entry is None or not (settings.offline or (entry.fresh and not settings.refresh)):
            if entry is not None:
                entry.close()
            return None
        with entry:
            if entry.missing:
                continue  # this index said it does not know the project: no page
            try:
                pages.append(entry.page())
            except CacheCorrupt:
                return None
    for location in sources.find_links:
        if not is_local(location):
            if settings.offline:
                continue  # find-links pages are not cached
            return None
        local = read_local(location, name, index=False)
        if found(local):
            pages.append(local)
    return pages


def offline_page(scan: ScanInput, name: str) -> ProjectPage | None:
    """``name``'s page as the cache and local sources hold it, for ``--offline``
    planning; None when an offline scan could not answer it either."""
    pages = cached_pages(scan, name, time.time())
    return merge_pages(name, pages) if pages else None


OFFLINE_MISS = "not in the cache (--offline)"
OFFLINE_PARTIAL = "the cache holds too little of this project to answer offline"


def stale_entries(
    cache: Cache | None, sources: UsableSources | None, name: str, now: float
) -> dict[str, CacheEntry]:
    """Cached entries whose validators can make the requests for ``name`` conditional."""
    found: dict[str, CacheEntry] = {}
    if cache is None or sources is None:
        return found
    for url in sources.index_urls:
        if not is_local(url):
            entry = cache.lookup(url, name, now=now)
            if entry is not None and (entry.etag or entry.last_modified):
                found[url] = entry
    return found


def _remember(
    cache: Cache, name: str, answers: Sequence[SourceAnswer], status: PackageStatus, now: float
) -> None:
    """Store what the next scan needs of each index's answer (a digest of its page)."""
    latest = parse_version(status.latest) if status.latest else None
    wanted = parse_version(status.wanted) if status.wanted else None
    remember(cache, name, answers, latest=latest, wanted=wanted, now=now)


def remember(
    cache: Cache,
    name: str,
    answers: Sequence[SourceAnswer],
    *,
    latest: Version | None,
    wanted: Version | None,
    now: float,
) -> None:
    """Store each index's answer as a digest keeping ``latest``, every listed release
    above it and ``wanted`` (the whole page when ``latest`` is None)."""
    for answer in answers:
        response = answer.response
        if response is None:
            if answer.page is None and not is_local(answer.location):
                # This index does not know the project (404): remembered too, or a
                # warm scan with a private extra index would ask again every time.
                cache.store_missing(answer.location, name, fetched_at=now)
            continue
        if answer.page is None:
            continue
        if response.status == 304:
            cache.refresh(answer.location, name, now=now, cache_control=response.cache_control)
            continue
        if latest is None:
            # Nothing installable: the next scan needs every release to say so again.
            page = answer.page
        else:
            # latest and every listed release above it (not installable here, maybe
            # elsewhere), and wanted; versions are listed from the lower of the two.
            listed = answer.page.versions or ()
            keep = {v for raw in listed if (v := parse_version(raw)) is not None and v >= latest}
            if wanted is not None:
                keep.add(wanted)
            low = latest if wanted is None else min(latest, wanted)
            page = digest_page(answer.page, keep, listed_from=low)
        cache.store(
            answer.location,
            name,
            page,
            fetched_at=now,
            etag=response.etag,
            last_modified=response.last_modified,
            cache_control=response.cache_control,
            url=response.url,
        )


def answer_locally(
    scan: ScanInput, policy: Policy, now: float
) -> tuple[list[Result], list[InstalledDist]]:
    """(results the cache and local sources give, distributions left for the network).

    Editable and direct-URL installs are answered here too: never from an index.
    """
    results: list[Result] = []
    todo: list[InstalledDist] = []
    for dist in scan.dists:
        if dist.kind != "index":
            results.append(_unchecked(dist))
            continue
        answer = answer_from_cache(scan, dist, policy, now)
        if answer is None:
            todo.append(dist)
        else:
            results.append(answer)
    return results, todo


async def iter_results(
    scan: ScanInput, *, on_request: Callable[[str], None] | None = None
) -> AsyncIterator[Result]:
    """Yield one result per installed distribution: first those the cache and local
    sources answer, then the others as the indexes answer them."""
    policy = policy_for(scan.target, scan.pre, scan.target_level, scan.not_after)
    now = time.time()
    local, todo = answer_locally(scan, policy, now)
    for result in local:
        yield result
    if todo:
        async for result in _network_results(scan, todo, policy, now, on_request):
            yield result


async def _network_results(
    scan: ScanInput,
    todo: list[InstalledDist],
    policy: Policy,
    now: float,
    on_request: Callable[[str], None] | None,
) -> AsyncIterator[Result]:
    if scan.preload is not None:
        scan.preload.join()
    cache = scan.cache
    if cache is not None:
        # The slowest pages last time go first, so the longest request starts earliest.
        priority = cache.priorities(d.canonical_name for d in todo)
        todo = sorted(todo, key=lambda d: priority.get(d.canonical_name, 0.0), reverse=True)
    if on_request is None:
        from pipfresh import scan_workers  # a cold scan on every core (Linux)

        split = scan_workers.plan(len(todo), scan.concurrency)
        if split is not None:
            async for result in scan_workers.results(scan, todo, split, policy, now):
                yield result
            return
    stats: dict[str, tuple[int, float]] = {}
    try:
        async for _, result in fetch_results(
            scan,
            todo,
            policy,
            now,
            concurrency=scan.concurrency,
            stats=stats,
            on_request=on_request,
        ):
            yield result
    finally:
        if cache is not None:
            cache.record_stats(stats)


async def fetch_results(
    scan: ScanInput,
    todo: Sequence[InstalledDist],
    policy: Policy,
    now: float,
    *,
    concurrency: int,
    stats: dict[str, tuple[int, float]],
    on_request: Callable[[str], None] | None = None,
    positions: Iterator[int] | None = None,
) -> AsyncIterator[tuple[int, Result]]:
    """(position in ``todo``, result) for each project, as the indexes answer, with
    one client of ``concurrency`` requests in flight; answers are cached as they
    come, and each page's (bytes, seconds) is put in ``stats`` when it ends (the
    caller records them: one process writes the statistics file).

    ``positions``: which projects of ``todo`` to fetch, taken one at a time as a
    request can start (default: all, in order)."""
    import asyncio

    from pipfresh.index.client import IndexClient  # keeps aiohttp off the import path of --help

    cache = scan.cache
    async with IndexClient(
        scan.index_config,
        concurrency=concurrency,
        user_agent=f"pipfresh/{__version__}",
        on_request=on_request,
        offline=scan.settings.offline,
    ) as client:
        scan.warnings.extend(client.warnings)

        async def one(position: int, dist: InstalledDist) -> tuple[int, Result]:
            name = dist.canonical_name
            constraints = scan.requirements.on(name)
            stale = stale_entries(scan.cache, scan.sources, name, now)
            try:
                page, answers = await client.fetch(name, stale)
                try:
                    status = status_for(dist, page, policy, constraints)
                except IncompletePage:
                    # The cached digest a 304 confirmed does not hold this answer.
                    page, answers = await client.fetch(name, conditional=False)
                    status = status_for(dist, page, policy, constraints)
            except IndexError_ as exc:
                if isinstance(exc, NotOnAnyIndex) and cache is not None:
                    # Remembered as pages are: a project of the user's own, on no
                    # index, would otherwise cost every warm scan a round trip (and
                    # the start of an HTTP client) to be told so again.
                    for location in exc.missing:
                        if not is_local(location):
                            cache.store_missing(location, name, fetched_at=now)
                return position, ProjectError(dist.name, exc.message)
            finally:
                for entry in stale.values():
                    entry.close()
            if cache is not None:
                _remember(cache, name, answers, status, now)
            if scan.kept_files is not None and status.outdated and page.complete:
                scan.kept_files[name] = keep_files(page, status)
            return position, status

        # As many pullers as requests may be in flight, each taking the next project
        # when it is free: with ``positions`` shared between processes, a process
        # busy elsewhere takes fewer, so the shares balance themselves.
        order = iter(range(len(todo))) if positions is None else positions
        done: asyncio.Queue[tuple[int, Result] | Exception | None] = asyncio.Queue()

        async def pull() -> None:
            try:
                for position in order:
                    done.put_nowait(await one(position, todo[position]))
            except Exception as exc:
                done.put_nowait(exc)  # a bug: raised at once, not after the others
                raise
            finally:
                done.put_nowait(None)

        if cache is not None:
            cache.write_in_background()  # flushed in the finally below
        tasks = [asyncio.ensure_future(pull()) for _ in range(min(concurrency, len(todo)))]
        try:
            running = len(tasks)
            while running:
                item = await done.get()
                if item is None:
                    running -= 1
                elif isinstance(item, Exception):
                    raise item
                else:
                    yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if cache is not None:
                cache.flush()
            stats.update({n: (st.bytes, st.seconds) for n, st in client.stats.items()})


def build_report(scan: ScanInput, results: Iterable[Result], seconds: float) -> Report:
    statuses = sorted(
        (r for r in results if isinstance(r, PackageStatus)), key=lambda p: p.name.lower()
    )
    from pipfresh.doctor.memory import mark_broken

    statuses = mark_broken(scan.target, statuses)
    errors = sorted(
        (*scan.unknown, *(r for r in results if isinstance(r, ProjectError))),
        key=lambda e: e.name.lower(),
    )
    outdated = sum(1 for s in statuses if s.outdated)
    return Report(
        environment=scan.target,
        packages=tuple(statuses),
        errors=tuple(errors),
        summary=Summary(
            checked=len(statuses) + len(errors),
            outdated=outdated,
            errors=len(errors),
            seconds=round(seconds, 3),
        ),
        timings={k: round(v, 3) for k, v in scan.timings.items()},
        # A constraint the installed set breaks is pip's business, not an inconsistency.
        problems=tuple(
            p
            for p in scan.requirements.problems
            if scan.constraints is None or p.name != scan.constraints.name
        ),
    )


async def collect(scan: ScanInput, on_result: Callable[[Result], None] | None = None) -> Report:
    """Run the scan to the end, handing each result to ``on_result`` as it arrives."""
    started = time.perf_counter()
    results: list[Result] = []
    async for result in iter_results(scan):
        results.append(result)
        if on_result is not None:
            on_result(result)
    scan.timings["scan"] = time.perf_counter() - started
    return build_report(scan, results, sum(scan.timings.values()))


def run(scan: ScanInput, on_result: Callable[[Result], None] | None = None) -> Report:
    """:func:`collect`, without an event loop (nor asyncio, nor aiohttp) when the cache
    and local sources answer every project."""
    started = time.perf_counter()
    results: list[Result] = []

    def emit(result: Result) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    policy = policy_for(scan.target, scan.pre, scan.target_level, scan.not_after)
    now = time.time()
    local, todo = answer_locally(scan, policy, now)
    for result in local:
        emit(result)
    if todo:
        import asyncio

        async def drain() -> None:
            async for result in _network_results(scan, todo, policy, now, None):
                emit(result)

        asyncio.run(drain())
    scan.timings["scan"] = time.perf_counter() - started
    return build_report(scan, results, sum(scan.timings.values()))
