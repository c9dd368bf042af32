"""The public Python API: blocking and streaming scans, updates, and raising the pins
of dependency files (:func:`bump`, :func:`apply`).

:func:`run_update` is the update use case itself, shared by :func:`update` and
``pipfresh update``: the CLI renders and confirms through its hooks, the API
passes none (calling :func:`update` is the confirmation).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from pipfresh.environment import PendingInspection
from pipfresh.errors import UsageError
from pipfresh.install import INSTALLERS, Installer, InstallerName
from pipfresh.models import PackageStatus, ProjectError, Report, TargetEnv
from pipfresh.plan import Plan
from pipfresh.scan import ScanInput, iter_results, prepare, run
from pipfresh.settings import UpgradeConfig
from pipfresh.upgrade import ChangeResult

if TYPE_CHECKING:
    from pipfresh._bump.report import BumpReport
    from pipfresh.doctor.session import DoctorOutcome, TestEvent
    from pipfresh.planning import Planned


def check_outdated(
    python: str | None = None,
    config: UpgradeConfig | None = None,
    *,
    names: Iterable[str] = (),
) -> Report:
    """Scan an environment and return the full report (blocking).

    Args:
        python: an interpreter path, a virtual environment folder, or a version
            such as ``"3.12"``. ``None`` finds the environment as the CLI does:
            ``$VIRTUAL_ENV``, ``$CONDA_PREFIX``, a ``.venv`` here or in a parent,
            then ``python3`` on PATH.
        config: index, cache and selection settings; whatever is left unset comes
            from ``PIPFRESH_*`` variables, ``[tool.pipfresh]`` in the nearest
            pyproject.toml, the user config file, and pip's own configuration for
            the indexes.
        names: only check these installed projects.

    Raises:
        PipfreshError: the target cannot be used or a setting is invalid. Projects
            that cannot be checked do not raise: they are listed in ``Report.errors``.

    Must not be called from a running event loop; use :func:`stream_outdated` there.
    """
    scan = prepare(python, config, names=_names(names))
    return run(scan)


async def stream_outdated(
    python: str | None = None,
    config: UpgradeConfig | None = None,
    *,
    names: Iterable[str] = (),
) -> AsyncIterator[PackageStatus | ProjectError]:
    """Yield one result per installed project as soon as its index answer arrives.

    A :class:`PackageStatus` (check ``.outdated``) or a :class:`ProjectError`.
    Arguments are those of :func:`check_outdated`.
    """
    scan = prepare(python, config, names=_names(names))
    async for result in iter_results(scan):
        yield result


# ----- update ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What an update planned, and what it changed.

    Attributes:
        plan: every change and addition planned, and every outdated package left
            alone with its reason (``plan.dropped``).
        results: one :class:`ChangeResult` per package moved (``status`` is
            ``"updated"``) or newly installed (``"added"``); empty after a dry run
            or when there was nothing to do.
        installer: the installer that ran, or would have run: ``"uv"`` or ``"pip"``.
        timings: seconds per step: ``scan`` and ``plan``, then ``download``,
            ``install`` and ``verify`` when the plan was carried out.
        report: the scan the plan was made from; projects that could not be
            checked (``report.errors``) were not updated.
        dry_run: only the plan was made; nothing was locked or changed.
        warnings: one line each, about the run rather than a package (an index
            that was ignored, an interrupted earlier update that a dry run found, ...).
        recovered: an earlier update of this environment had been killed
            mid-install, and its previous versions were restored before this one
            began: what was done, in one line. None otherwise.
        tested: with ``test=``: the test runs, the culprits reverted and the flaky
            units left out (:class:`pipfresh.doctor.session.DoctorOutcome`); None
            otherwise.
        skipped: packages left alone because that same version broke the tests of
            an earlier ``--test`` run (``retry_broken`` tries them again).
    """

    plan: Plan
    results: tuple[ChangeResult, ...]
    installer: str
    timings: Mapping[str, float]
    report: Report
    dry_run: bool = False
    warnings: tuple[str, ...] = ()
    recovered: str | None = None
    tested: DoctorOutcome | None = None
    skipped: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether this update changed the environment (never after a dry run or an
        empty plan; a recovery alone does not count)."""
        return bool(self.results)

    @property
    def environment(self) -> TargetEnv:
        """The environment that was updated (or planned for)."""
        return self.report.environment


def update(
    python: str | None = None,
    config: UpgradeConfig | None = None,
    *,
    names: Iterable[str] = (),
    latest: bool = False,
    dry_run: bool = False,
    installer: InstallerName = "auto",
    break_system_packages: bool = False,
    on_output: Callable[[str], None] | None = None,
    test: str | None = None,
    test_timeout: float | None = None,
    test_retries: int = 0,
    retry_broken: bool = False,
    on_test: Callable[[TestEvent], None] | None = None,
) -> UpdateResult:
    """Upgrade the outdated packages of an environment, as ``pipfresh update -y`` does.

    Scans, plans a consistent set of upgrades, downloads every file (sha256-checked)
    before anything changes, installs them in one step, verifies the result, and
    restores the previous versions on any failure or interrupt. Calling this is the
    confirmation: nothing is asked, and nothing is printed.

    Args:
        python: the target, as for :func:`check_outdated`.
        config: index, cache and selection settings, as for :func:`check_outdated`;
            the environment's lock lives in its cache folder.
        names: only update these installed projects (and what must move with them).
        latest: move to the latest versions rather than the wanted ones (those the
            other installed packages allow); what would conflict is dropped from the
            plan with its reason.
        dry_run: only make the plan: no lock is taken, and nothing is downloaded
            for the install or changed.
        installer: ``"auto"`` (uv when it can be found, else pip), ``"uv"`` or ``"pip"``.
        break_system_packages: allow changing an externally managed (PEP 668)
            environment.
        on_output: called with each line the installer writes (rollback included).
        test: a shell command (run in the current folder, the target's scripts
            folder first on PATH, ``VIRTUAL_ENV`` set) that must pass before and
            after: the upgrades it fails with are found by bisection and reverted,
            the rest kept (``result.tested``). It must pass before anything changes,
            else :class:`pipfresh.doctor.session.TestsFailedBefore` is raised.
        test_timeout: seconds one run of ``test`` may take (a longer one fails).
        test_retries: reruns of a failing ``test`` before it counts as failing.
        retry_broken: try again the versions that broke the tests of an earlier run.
        on_test: called after each run of ``test`` with a
            :class:`pipfresh.doctor.session.TestEvent`.

    Returns:
        The plan, and one result per package changed. Projects that could not be
        checked do not raise: they are in ``result.report.errors`` and not updated.

    Raises:
        UsageError: ``installer`` is unknown or cannot be found; the target is
            externally managed and ``break_system_packages`` is not set; another
            update holds the environment's lock; a name is not installed.
        TargetError, ConfigError: the target or a setting cannot be used.
        UpdateAborted: the update stopped before the environment was touched (a
            download failed, a hash did not match); nothing was changed.
        RolledBack: the install or its verification failed, or was interrupted;
            every package was restored to its previous version.
        RollbackFailed: the update failed and the previous versions could not all
            be restored; the message names the packages that differ.

    All of these derive from :class:`PipfreshError`. A KeyboardInterrupt during the
    downloads propagates as it is: nothing was changed. Must not be called from a
    running event loop.
    """
    if installer not in INSTALLERS:
        raise UsageError(f"installer must be one of {', '.join(INSTALLERS)}, got {installer!r}")
    return run_update(
        python,
        config,
        names=names,
        installer=installer,
        latest=latest,
        dry_run=dry_run,
        break_system_packages=break_system_packages,
        on_output=on_output,
        test=test,
        test_timeout=test_timeout,
        test_retries=test_retries,
        retry_broken=retry_broken,
        on_test=on_test,
    )


def run_update(
    python: str | None = None,
    config: UpgradeConfig | None = None,
    *,
    names: Iterable[str] = (),
    installer: InstallerName = "auto",
    latest: bool = False,
    dry_run: bool = False,
    break_system_packages: bool = False,
    on_recovered: Callable[[str], None] | None = None,
    on_report: Callable[[Report, Sequence[str]], None] | None = None,
    on_plan: Callable[[UpdateResult], bool] | None = None,
    on_output: Callable[[str], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    choose: Callable[[Plan, Mapping[str, tuple[str, ...]]], Iterable[str] | None] | None = None,
    inspection: PendingInspection | None = None,
    prefetch: bool | None = None,
    test: str | None = None,
    test_timeout: float | None = None,
    test_retries: int = 0,
    retry_broken: bool = False,
    on_test: Callable[[TestEvent], None] | None = None,
) -> UpdateResult:
    """The update use case behind :func:`update` and ``pipfresh update``: prepare,
    PEP 668 refusal, lock, recovery of a killed update, scan, plan, then (unless
    ``dry_run``) carry the plan out. It never prints; the caller follows each step
    through its hooks:

    * ``on_recovered(line)`` when an earlier, killed update was restored first;
    * ``on_report(report, warnings)`` once the scan is done, before planning;
    * ``choose(plan, offers)`` (not in a dry run) picks the packages to update among
      the plan's changes: the names it returns are planned again on their own (what
      they need moves with them); None keeps the whole plan. ``offers`` holds, by
      canonical name, the versions each change may stop at instead (oldest first,
      ending with the planned one; see :mod:`pipfresh.offers`); a Mapping returned
      from name to one of them (or None: as planned) caps that package there;
    * ``on_plan(pending)`` once the plan is made, before anything changes (dry runs
      and empty plans included), with the result so far (no ``results`` yet).
      Returning False stops there and ``pending`` is returned: nothing changed;
    * ``on_output(line)`` and ``on_stage(name)`` while the plan is carried out
      (see :func:`pipfresh.upgrade.execute`); a KeyboardInterrupt that escapes
      after ``on_stage("download")`` came during the downloads.

    ``prefetch``: start downloading the targets' wheels while the plan is made (the
    update will not stop to ask); default: when neither ``on_plan`` nor ``choose`` is
    given. Never in a dry run, nor without a download cache.

    ``inspection`` is the target's inspection already started for ``python``
    (see :func:`pipfresh.scan.prepare`); the caller closes it.

    Raises what :func:`update` documents.
    """
    from pipfresh.install import choose_installer
    from pipfresh.planning import plan_update
    from pipfresh.upgrade import environment_lock, execute, journal, recover_interrupted
    from pipfresh.upgrade.downloads import download_cache

    names = _names(names)  # read twice when a recovery changed the environment
    scan = prepare(python, config, names=names, inspection=inspection)
    target = scan.target
    # A dry run changes nothing, so it may show the plan of a system environment.
    if target.externally_managed and not break_system_packages and not dry_run:
        raise UsageError(
            f"{target.prefix} is externally managed (PEP 668): use a virtual environment, "
            "or pass --break-system-packages"
        )
    backend = choose_installer(installer, target, cache=not scan.settings.no_cache)
    warnings: list[str] = []
    recovered: str | None = None
    lock_fd: int | None = None
    with contextlib.ExitStack() as stack:
        if dry_run:
            # Read-only, without the lock: only say that the next update restores first.
            pending_journal = journal.pending_warning(target)
            if pending_journal is not None:
                warnings.append(pending_journal)
        else:
            # Held from the scan on: a plan made while another update runs is stale.
            lock_fd = stack.enter_context(environment_lock(target))
            recovered = recover_interrupted(target)
            if recovered is not None:
                if on_recovered is not None:
                    on_recovered(recovered)
                # The scan input was read from the environment as the killed update left it.
                scan = prepare(python, config, names=names)
        scan.kept_files = {}  # planning reuses the target versions' files
        report = run(scan)
        warnings += scan.warnings
        if on_report is not None:
            on_report(report, tuple(warnings))
        settings = scan.settings
        if prefetch is None:
            prefetch = on_plan is None and choose is None
        early = None
        if prefetch and not dry_run and choose is None and not settings.no_cache:
            early = download_cache(_cache_root(settings))
        planned = plan_update(scan, report, latest=latest, prefetch=early)
        skipped: tuple[str, ...] = ()
        if not retry_broken and not planned.plan.empty:
            report, planned, skipped = _skip_broken(scan, report, planned, latest=latest)
            warnings += [
                f"left {s} alone: that version broke the tests (--retry-broken tries it again)"
                for s in skipped
            ]
        if choose is not None and not dry_run and not planned.plan.empty:
            from pipfresh.planning import offers_for

            picked = choose(planned.plan, offers_for(scan, planned.plan))
            if picked is not None:
                subset = _picked(report.packages, picked)
                planned = plan_update(
                    scan, dataclasses.replace(report, packages=subset), latest=latest
                )
        pending = UpdateResult(
            plan=planned.plan,
            results=(),
            installer=backend.name,
            timings={"scan": report.summary.seconds, "plan": round(planned.seconds, 3)},
            report=report,
            dry_run=dry_run,
            warnings=tuple(warnings),
            recovered=recovered,
            skipped=skipped,
        )
        proceed = True if on_plan is None else on_plan(pending)
        if dry_run or planned.plan.empty or not proceed:
            return pending
        if test is not None:
            tested = _run_tested(
                scan,
                planned,
                backend,
                test,
                settings=settings,
                lock_fd=lock_fd,
                timeout=test_timeout,
                retries=test_retries,
                break_system_packages=break_system_packages,
                on_test=on_test,
                on_output=on_output,
                on_stage=on_stage,
            )
            done = tested.outcome
            return dataclasses.replace(
                pending,
                results=() if done is None else done.results,
                timings={
                    "scan": report.summary.seconds,
                    **({} if done is None else done.timings),
                    "tests": tested.test_seconds,
                },
                tested=tested,
            )
        outcome = execute(
            scan,
            planned,
            backend,
            break_system_packages=break_system_packages,
            on_output=on_output,
            on_stage=on_stage,
            downloads=None if settings.no_cache else download_cache(_cache_root(settings)),
            lock_fd=lock_fd,
        )
    return dataclasses.replace(
        pending,
        results=outcome.results,
        installer=outcome.installer,
        timings={"scan": report.summary.seconds, **outcome.timings},
    )


def _picked(statuses: Sequence[PackageStatus], picked: Iterable[str]) -> tuple[PackageStatus, ...]:
    """Pure: the statuses of the packages picked; a version picked for one (``picked``
    a Mapping; None there: as planned) caps it there, as a narrower ``--target``
    would have: both wanted and latest, so that the rounds after the first do not
    move it further either."""
    caps: dict[str, str | None] = (
        {canonicalize_name(n): v for n, v in picked.items()}
        if isinstance(picked, Mapping)
        else dict.fromkeys(map(canonicalize_name, picked))
    )
    chosen: list[PackageStatus] = []
    for status in statuses:
        name = canonicalize_name(status.name)
        if name not in caps:
            continue
        cap = caps[name]
        capped = dataclasses.replace(status, wanted=cap, latest=cap) if cap else status
        chosen.append(capped)
    return tuple(chosen)


def _skip_broken(
    scan: ScanInput, report: Report, planned: Planned, *, latest: bool
) -> tuple[Report, Planned, tuple[str, ...]]:
    """The plan again without the packages whose planned version broke the tests of an
    earlier ``--test`` run (a newer version is tried); "name version" of each."""
    from pipfresh.doctor import memory
    from pipfresh.planning import plan_update
    from pipfresh.upgrade import journal

    broken = memory.load(journal.state_folder(scan.target))
    if not broken:
        return report, planned, ()
    moves = {c.canonical_name: c.after for c in planned.plan.changes}
    skip = memory.skipped(broken, moves)
    if not skip:
        return report, planned, ()
    names = {canonicalize_name(b.name) for b in skip}
    subset = tuple(p for p in report.packages if canonicalize_name(p.name) not in names)
    report = dataclasses.replace(report, packages=subset)
    return (
        report,
        plan_update(scan, report, latest=latest),
        tuple(f"{b.name} {b.version}" for b in skip),
    )


def _run_tested(
    scan: ScanInput,
    planned: Planned,
    backend: Installer,
    command: str,
    *,
    settings: UpgradeConfig,
    lock_fd: int | None,
    timeout: float | None,
    retries: int,
    break_system_packages: bool,
    on_test: Callable[[TestEvent], None] | None,
    on_output: Callable[[str], None] | None,
    on_stage: Callable[[str], None] | None,
) -> DoctorOutcome:
    """``update --test``: the session, with one download cache for all its steps (a
    temporary one with ``no_cache``), then the culprits remembered."""
    import tempfile
    from datetime import datetime, timezone

    from pipfresh.doctor import memory
    from pipfresh.doctor.session import run_doctor
    from pipfresh.upgrade import journal
    from pipfresh.upgrade.downloads import DownloadCache, download_cache

    with contextlib.ExitStack() as stack:
        if settings.no_cache:
            temporary = stack.enter_context(tempfile.TemporaryDirectory(prefix="pipfresh-"))
            downloads = DownloadCache(Path(temporary), bounded=False)
        else:
            downloads = download_cache(_cache_root(settings))
        tested = run_doctor(
            scan,
            planned,
            backend,
            command,
            downloads=downloads,
            lock_fd=lock_fd,
            cwd=Path.cwd(),
            timeout=timeout,
            retries=retries,
            break_system_packages=break_system_packages,
            on_test=on_test,
            on_output=on_output,
            on_stage=on_stage,
        )
        if downloads.bounded:
            downloads.prune()
    today = datetime.now(timezone.utc).date().isoformat()
    found: list[memory.Broken] = []
    for culprit in tested.culprits:
        main = canonicalize_name(culprit.unit.name)
        for change in culprit.unit.changes:
            if change.canonical_name == main:
                first = culprit.failures[0] if culprit.failures else ""
                found.append(memory.Broken(change.name, change.after, change.before, today, first))
    cleared = [c.name for u in tested.kept for c in u.changes]
    with contextlib.suppress(OSError):  # a hint only: never fail a finished update
        memory.remember(journal.state_folder(scan.target), found, cleared=cleared)
    return tested


# ----- bump --------------------------------------------------------------------------


def bump(
    paths: Iterable[str | os.PathLike[str]] = (),
    config: UpgradeConfig | None = None,
    *,
    python: str | None = None,
    python_version: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    consistent: bool = False,
) -> BumpReport:
    """Find the pins of dependency files that leave out the newest eligible release,
    as ``pipfresh bump`` does, and propose new specifiers. Nothing is written: pass
    the report to :func:`apply` for that.

    Args:
        paths: requirements/constraints files, ``pyproject.toml`` files or folders
            (relative ones against ``cwd``). Empty: ``cwd``'s ``pyproject.toml`` and
            every ``requirements*.txt`` / ``constraints*.txt`` in it. ``-r`` / ``-c``
            includes are followed, relative to the including file.
        config: index, cache and selection settings (``pre``, ``target``,
            ``cooldown``, ``exclude``, the indexes), as for :func:`check_outdated`.
        python: the interpreter whose Python requirements files (and a pyproject.toml
            without ``requires-python``) must be supported: a path, a virtual
            environment folder or a version such as ``"3.12"``, found as
            :func:`check_outdated` finds its target when None.
        python_version: that Python given as a version (``"3.9"``) instead; no
            interpreter is looked for.
        cwd: the folder searched when ``paths`` is empty, and the one the report's
            ``file:line`` places are relative to (default: the current folder).
        consistent: as ``--consistent``: a file's ``==`` pins move only as far as they
            stay consistent with each other, and a pin held below its newest release
            names its holders (``PinResult.held_back_by``).

    Returns:
        A :class:`~pipfresh._bump.report.BumpReport`: one
        :class:`~pipfresh._bump.report.PinResult` per pin of every file read, in file
        order (``report.changes``: the ones to rewrite), and the projects no index
        could answer (``report.errors``), which do not raise.

    Raises:
        BumpInputError: a file is missing or does not parse (broken TOML, a line pip
            would reject), or its includes form a cycle; the message names the file
            and line.
        UsageError, TargetError, ConfigError: a setting, ``python`` or
            ``python_version`` cannot be used.

    All of these derive from :class:`PipfreshError`. Must not be called from a
    running event loop.
    """
    from pipfresh._bump.engine import bump as run_bump

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]  # one path, not the characters of one
    return run_bump(
        list(paths),
        config,
        python=python,
        python_version=python_version,
        cwd=None if cwd is None else Path(cwd).resolve(),
        consistent=consistent,
    )


def apply(report: BumpReport) -> tuple[Path, ...]:
    """Write what ``report`` proposes (``report.changes``), as ``pipfresh bump -w`` does.

    Only the version text inside each specifier changes (and a hashed line's
    ``--hash`` options); every other byte of each file stays as it was. Every file is
    checked before the first is written, and each is replaced atomically (a temporary
    file renamed over it), so a file is never left half-written.

    Returns:
        The files written, in the report's order (empty when nothing changes).

    Raises:
        BumpInputError: a file changed on disk since :func:`bump` read it, or cannot
            be replaced (not a regular file, not writable, its folder not writable);
            nothing was written.
    """
    from pipfresh._bump.engine import apply as run_apply

    return run_apply(report)


def _names(names: Iterable[str]) -> tuple[str, ...]:
    # A bare string is one name, not its letters: names="requests" is an easy slip.
    return (names,) if isinstance(names, str) else tuple(names)


def _cache_root(settings: UpgradeConfig) -> Path:
    """The cache folder (its ``wheels/`` is the update's download cache)."""
    from pipfresh.cache import default_cache_dir

    configured = settings.cache_dir
    return Path(configured).expanduser() if configured else default_cache_dir(os.environ)


__all__ = [
    "UpdateResult",
    "apply",
    "bump",
    "check_outdated",
    "run_update",
    "stream_outdated",
    "update",
]
