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
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from packaging.utils import canonicalize_name

from pipfresh import __version__
from pipfresh.environment import find_interpreter, inspect_target, read_installed
from pipfresh.errors import IndexError_, PipfreshError, UsageError
from pipfresh.models import (
    Holder,
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
    Policy,
    Release,
    bump_level,
    newest_release,
    parse_version,
    python_release,
    wanted_release,
)
from pipfresh.settings import UpgradeConfig, resolve

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


def prepare(
    python: str | None = None,
    config: UpgradeConfig | None = None,
    *,
    names: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    now: datetime | None = None,
) -> ScanInput:
    """Find and inspect the target, read what is installed, load pip's index settings and
    pipfresh's own (``[tool.pipfresh]``, user config, ``PIPFRESH_*``)."""
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    config = resolve(config or UpgradeConfig(), environ, cwd)
    concurrency = config.concurrency or 1  # resolve() always sets it
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
        ),
        environ,
        cwd=cwd,
    )
    preload = preload_client(index_config)
    interpreter = find_interpreter(python, cwd=cwd, environ=environ)
    target = inspect_target(interpreter)
    timings["inspect"] = time.perf_counter() - started
    started = time.perf_counter()
    dists = read_installed(target.sys_path)
    timings["read_installed"] = time.perf_counter() - started
    started = time.perf_counter()
    # Every installed dist can hold another back, so this runs before any filtering.
    requirements = analyse(dists, target.markers)
    timings["requirements"] = time.perf_counter() - started
    wanted_names = {canonicalize_name(n) for n in names}
    if wanted_names:
        present = {d.canonical_name for d in dists}
        missing = sorted(wanted_names - present)
        if missing:
            raise UsageError(f"not installed in {target.prefix}: {', '.join(missing)}")
        dists = [d for d in dists if d.canonical_name in wanted_names]
    # A project named on the command line is checked even when a pattern excludes it.
    dists, excluded = split_excluded(dists, config.exclude, keep=wanted_names)
    not_after = None
    if config.cooldown:
        now = now or datetime.now(timezone.utc)
        not_after = now - timedelta(days=config.cooldown)
    return ScanInput(
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
    )


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
    )


def _unchecked(dist: InstalledDist) -> PackageStatus:
    """Editable and direct-URL installs: reported as such, never looked up on an index."""
    return PackageStatus(dist.name, dist.version, None, None, None, None, dist.kind)


async def iter_results(
    scan: ScanInput, *, on_request: Callable[[str], None] | None = None
) -> AsyncIterator[Result]:
    """Yield one result per installed distribution, in the order answers arrive."""
    import asyncio

    if scan.preload is not None:
        scan.preload.join()
    from pipfresh.index.client import IndexClient  # keeps aiohttp off the import path of --help

    policy = policy_for(scan.target, scan.pre, scan.target_level, scan.not_after)
    for dist in scan.dists:
        if dist.kind != "index":
            yield _unchecked(dist)
    lookups = [d for d in scan.dists if d.kind == "index"]
    if not lookups:
        return
    async with IndexClient(
        scan.index_config,
        concurrency=scan.concurrency,
        user_agent=f"pipfresh/{__version__}",
        on_request=on_request,
    ) as client:
        scan.warnings.extend(client.warnings)

        async def one(dist: InstalledDist) -> Result:
            try:
                page = await client.fetch_project(dist.canonical_name)
            except IndexError_ as exc:
                return ProjectError(dist.name, exc.message)
            return status_for(dist, page, policy, scan.requirements.on(dist.canonical_name))

        tasks = [asyncio.ensure_future(one(d)) for d in lookups]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def build_report(scan: ScanInput, results: Iterable[Result], seconds: float) -> Report:
    statuses = sorted(
        (r for r in results if isinstance(r, PackageStatus)), key=lambda p: p.name.lower()
    )
    errors = sorted(
        (r for r in results if isinstance(r, ProjectError)), key=lambda e: e.name.lower()
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
        problems=scan.requirements.problems,
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
