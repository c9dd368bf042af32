"""Carrying out an update plan: download (hash-checked) ► keep aside ► one install ►
verify ► put back on failure.

Behind ``pipfresh update`` and :func:`pipfresh.update`. It never prints: progress
and installer output go to the callbacks the caller passes, results come back as
values.

* :func:`execute` downloads every planned wheel (from the download cache when it holds
  it), checks each against the index's sha256 and checks that the environment can take
  them (writable, room on the disk). Then it writes a journal, moves the files of every
  version being replaced into the environment's stash (:mod:`pipfresh.upgrade.stash`),
  runs the installer once, offline, with exactly those wheels, and verifies the result.
  On any failure or interrupt it deletes what the installer wrote and puts the kept
  files back, then checks the whole set of ``.dist-info`` folders against the one before.
* :func:`recover_interrupted`, called by the next run while it holds the lock, finishes
  that restore for an update that was killed outright (SIGKILL, power loss).
* :func:`environment_lock` keeps two updates of one environment apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, Literal, TypeVar

from packaging.utils import canonicalize_name

from pipfresh import __version__
from pipfresh.errors import (
    CorruptJournal,
    IndexError_,
    RollbackFailed,
    RolledBack,
    UpdateAborted,
    UsageError,
)
from pipfresh.install import Installer
from pipfresh.installed import read_installed
from pipfresh.models import IndexFile, InstalledDist, TargetEnv
from pipfresh.plan import Addition, Change, Plan, ProblemKey, problem_key
from pipfresh.planning import Planned, client_for
from pipfresh.requirements import analyse
from pipfresh.scan import ScanInput
from pipfresh.select import parse_version
from pipfresh.upgrade import journal, lock, stash
from pipfresh.upgrade.downloads import DownloadCache


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """One package an update changed: ``before`` is empty for a distribution the
    update added (``status`` "added"), else the version it replaced ("updated")."""

    name: str
    before: str
    after: str
    status: Literal["updated", "added"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A completed update."""

    results: tuple[ChangeResult, ...]
    installer: str
    timings: Mapping[str, float]
    #: With ``execute(..., hold=True)``: the journal left in place, whose stash still
    #: holds the replaced files (see :func:`revert` and :func:`release`).
    held: journal.Journal | None = None


# ----- lock --------------------------------------------------------------------------


@contextlib.contextmanager
def environment_lock(target: TargetEnv) -> Iterator[int]:
    """Hold the lock in the target's state folder for the block (yields its descriptor);
    raise :class:`UsageError` at once when another update holds it.

    The lock belongs to the environment, not to a cache folder: two updates of one
    environment exclude each other whatever their ``--cache-dir``."""
    folder = journal.state_folder(target)
    with contextlib.ExitStack() as stack:
        try:
            journal.make_state_folder(folder)
            fd = stack.enter_context(lock.held(folder / journal.LOCK_NAME, target.prefix))
        except CorruptJournal as exc:
            raise UsageError(f"refusing the update's state folder {exc}") from None
        except OSError as exc:
            # Without a state folder it could not promise to restore the environment.
            raise UpdateAborted(
                f"cannot write in {journal.site_packages(target)}: {exc.strerror or exc}; "
                "nothing was changed"
            ) from None
        yield fd


# ----- execute -----------------------------------------------------------------------


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: For a caller that runs its own long steps between installs (``update --test``).
sigterm_as_interrupt = _sigterm_as_interrupt

_T = TypeVar("_T")


def run_stoppable(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)``, where Ctrl-C and SIGTERM cancel ``main`` and then raise
    KeyboardInterrupt (:class:`Terminated`).

    An exception raised by a signal handler lands anywhere in the event loop, even
    halfway through a client's cleanup (aiohttp then leaves coroutines never awaited
    and says so on stderr); a cancellation lets every ``async with`` finish.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(main)

    async def guarded() -> _T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def stop(signum: int) -> None:
            received.append(signum)
            task.cancel()

        for signum in previous:
            loop.add_signal_handler(signum, stop, signum)
        try:
            return await main
        finally:
            for signum, handler in previous.items():
                loop.remove_signal_handler(signum)
                # remove_signal_handler resets to the default, not to what was there.
                if handler is not None:
                    signal.signal(signum, handler)

    try:
        result = asyncio.run(guarded())
    except asyncio.CancelledError:
        if not received:
            raise
    else:
        # A signal that came as the last download finished still stops the update.
        if not received:
            return result
    raise (Terminated() if received[0] == signal.SIGTERM else KeyboardInterrupt()) from None


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """No interrupt may stop a rollback halfway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def execute(
    scan: ScanInput,
    planned: Planned,
    installer: Installer,
    *,
    break_system_packages: bool = False,
    on_output: Callable[[str], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    downloads: DownloadCache | None = None,
    lock_fd: int | None = None,
    hold: bool = False,
) -> Outcome:
    """Carry out ``planned``; see the module docstring. The caller holds
    :func:`environment_lock` (``lock_fd``, passed on to the installer) and has called
    :func:`recover_interrupted`.

    ``hold``: after a verified install, keep the journal and the stash (the outcome's
    ``held``), so that the caller can still :func:`revert` to the state before, exactly
    and offline, or :func:`release` (commit) it; until then a crash is recovered as an
    interrupted update is.

    Raises :class:`UpdateAborted` when the environment was not touched,
    :class:`RolledBack` when it was and has been restored (verified),
    :class:`RollbackFailed` when it could not be (the journal is kept for the next run);
    KeyboardInterrupt (:class:`Terminated` for SIGTERM) during the downloads
    propagates: nothing was changed.
    """
    plan = planned.plan
    timings: dict[str, float] = {"plan": round(planned.seconds, 3)}
    target = scan.target
    folder = journal.state_folder(target)
    roots = stash.environment_roots(target.prefix, target.paths)
    with contextlib.ExitStack() as stack:
        if downloads is None:
            temporary = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pipfresh-")))
            downloads = DownloadCache(temporary, bounded=False)
        with _sigterm_as_interrupt():
            stage(on_stage, "download")
            started = time.perf_counter()
            new_files = run_stoppable(_download_all(scan, plan, planned.fetched, downloads))
            timings["download"] = round(time.perf_counter() - started, 3)
            started = time.perf_counter()
            dists = read_installed(target.sys_path)
            before = _snapshot(dists)
            baseline = _problem_keys(dists, target.markers)
            metadata_before = metadata_dirs(target.sys_path)
            record = _prepare(target, plan, dists, new_files, installer, roots, metadata_before)
            _preflight(target, new_files)
            record = _with_times(record, before)
            try:
                journal.write(folder, record)
            except OSError as exc:
                raise UpdateAborted(
                    f"cannot write the update's journal in {folder}: {exc.strerror or exc}; "
                    "nothing was changed"
                ) from None
            timings["prepare"] = round(time.perf_counter() - started, 3)
        output = ""
        failure: str | None = None
        with _sigterm_as_interrupt():
            try:
                stage(on_stage, "install")
                started = time.perf_counter()
                stash.keep_aside(record.kept, folder / journal.STASH_DIR, roots=roots)
                timings["keep"] = round(time.perf_counter() - started, 3)
                started = time.perf_counter()
                result = installer.run(
                    target.python,
                    new_files,
                    break_system_packages=break_system_packages,
                    on_output=on_output,
                    pass_fds=() if lock_fd is None else (lock_fd,),
                )
                timings["install"] = round(time.perf_counter() - started, 3)
                output = result.output
                if not result.ok:
                    failure = f"{installer.name} exited with status {result.returncode}"
                else:
                    stage(on_stage, "verify")
                    started = time.perf_counter()
                    failure = verify(target, plan.changes, baseline, plan.additions)
                    timings["verify"] = round(time.perf_counter() - started, 3)
                    if failure is None and not hold:
                        # The commit: an interrupt before it is rolled back (below),
                        # and none may land halfway through it.
                        with _signals_ignored():
                            journal.remove(folder, in_background=True)
            except KeyboardInterrupt as exc:
                failure = "terminated" if isinstance(exc, Terminated) else "interrupted"
            except OSError as exc:
                failure = f"cannot keep the replaced files aside: {exc.strerror or exc}"
        if failure is None:
            if not hold and downloads.bounded:
                with _signals_ignored():
                    downloads.prune()
            results = tuple(
                ChangeResult(c.name, c.before, c.after, "updated") for c in plan.changes
            ) + tuple(ChangeResult(a.name, "", a.version, "added") for a in plan.additions)
            return Outcome(results, installer.name, timings, record if hold else None)
        stage(on_stage, "rollback")
        with _signals_ignored():
            differ = restore(target, record, roots)
        if differ:
            raise RollbackFailed(
                f"update failed ({failure}) and the previous state could not all be "
                f"restored: {'; '.join(differ)}; the next 'pipfresh update' tries again "
                f"(journal {journal.journal_path(folder)})",
                output=output,
            )
        journal.remove(folder)
        raise RolledBack(
            f"update failed ({failure}); every package was restored to its previous "
            "version (checked: the same .dist-info folders as before)",
            output=output,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _prepare(  # noqa: PLR0917 - private, one call site
    target: TargetEnv,
    plan: Plan,
    dists: Sequence[InstalledDist],
    new_files: Sequence[Path],
    installer: Installer,
    roots: Sequence[str],
    metadata_before: Sequence[str],
) -> journal.Journal:
    """The journal of this update: which files are kept aside, which the new versions
    may write. Reads file lists only; raises :class:`UpdateAborted` (nothing changed)."""
    by_name = {d.canonical_name: d for d in dists}
    owned: list[tuple[str, list[str]]] = []
    try:
        for change in plan.changes:
            dist = by_name.get(change.canonical_name)
            if dist is None or not dist.metadata_dir:
                raise stash.StashError(f"{change.name} is no longer installed as it was planned")
            owned.append((change.canonical_name, stash.record_files(dist.metadata_dir)))
        clear: list[str] = []
        names = [c.canonical_name for c in plan.changes] + [
            a.canonical_name for a in plan.additions
        ]
        for name, path in zip(names, new_files, strict=True):
            clear += stash.wheel_files(path, target.paths, name)
        own = installer.own_distribution(target)
        kept = stash.plan_kept(owned, roots, copied=() if own is None else (own,))
    except stash.StashError as exc:
        raise UpdateAborted(f"{exc.message}; nothing was changed") from None
    clear = list(dict.fromkeys(clear))
    # Files of other distributions that a new wheel would overwrite are copied, so that
    # the restore gives them back as they were.
    moved = {k.original for k in kept}
    shared = [
        p
        for p in clear
        if not stash.covered(p, moved) and os.path.lexists(p) and not os.path.isdir(p)
    ]
    kept += [stash.Kept(p, f"shared/{i:06d}", copy=True) for i, p in enumerate(shared)]
    planned = tuple(dict.fromkeys(names))
    return journal.Journal(
        prefix=target.prefix,
        python=target.python,
        started="",
        pid=os.getpid(),
        before={},
        metadata=tuple(metadata_before),
        kept=tuple(kept),
        clear=tuple(clear),
        planned=planned,
        pipfresh_version=__version__,
    )


def _with_times(record: journal.Journal, before: Mapping[str, str]) -> journal.Journal:
    import dataclasses

    return dataclasses.replace(
        record,
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        before=dict(before),
    )


#: Room an update asks for beyond the wheels' own size: unpacked files and bytecode.
UNPACKED_FACTOR = 3


def _preflight(target: TargetEnv, new_files: Sequence[Path]) -> None:
    """Refuse, before anything changes, an environment that cannot take the plan."""
    where = journal.site_packages(target)
    if not os.access(where, os.W_OK):
        raise UpdateAborted(f"{where} is not writable; nothing was changed")
    needed = sum(_size(p) for p in new_files) * UNPACKED_FACTOR
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if free < needed:
        raise UpdateAborted(
            f"not enough room on the disk of {where}: {free / 1e6:.0f} MB free, the update "
            f"needs about {needed / 1e6:.0f} MB; nothing was changed"
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ----- restore -----------------------------------------------------------------------


def metadata_dirs(sys_path: Sequence[str]) -> list[str]:
    """Every ``.dist-info`` / ``.egg-info`` path on ``sys_path``: the exact check of a
    restore (two folders of one project, or a missing one, is a difference)."""
    found: list[str] = []
    for entry in sys_path:
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        found += sorted(
            os.path.join(entry, n) for n in names if n.lower().endswith((".dist-info", ".egg-info"))
        )
    return found


def _project_of(metadata_dir: str) -> str:
    stem = os.path.basename(metadata_dir).rsplit(".", 1)[0]
    return canonicalize_name(stem.split("-", 1)[0])


def restore(target: TargetEnv, record: journal.Journal, roots: Sequence[str]) -> list[str]:
    """Put the environment back as ``record`` found it; returns what still differs
    (empty: the same metadata folders, versions and kept files as before)."""
    folder = journal.state_folder(target)
    problems = stash.put_back(record.kept, folder / journal.STASH_DIR, record.clear, roots)
    planned = set(record.planned)
    known = set(record.metadata)
    real = stash.RealRoots(roots)
    for path in metadata_dirs(target.sys_path):
        # What the new versions' installs left: their metadata folders (pip and uv write
        # some files there that no wheel lists: INSTALLER, RECORD, direct_url.json).
        if (
            path not in known
            and _project_of(path) in planned
            and stash.inside(path, roots)
            and real.holds(path)
        ):
            _delete(path, problems)
    sites = {target.paths.get(k) or "" for k in ("purelib", "platlib")} - {""}
    since = _epoch(record.started) - 2  # ctime and the journal's clock, seconds apart
    leftovers = stash.installer_leftovers(sites, (k.original for k in record.kept), since)
    # pip, stopped while replacing itself (or another folder), leaves "~ip" behind; uv,
    # stopped while writing a script, a ".tmpXXXXXX" beside it.
    scripts = target.paths.get("scripts") or ""
    leftovers += stash.installer_temporaries(
        [*sorted(sites), *([scripts] if scripts else [])], since
    )
    for path in leftovers:
        if stash.inside(path, roots) and real.holds(path):
            _delete(path, problems)
    now = metadata_dirs(target.sys_path)
    differ = [f"{p} is missing" for p in sorted(known - set(now))]
    differ += [f"{p} was not there before" for p in sorted(set(now) - known)]
    after = _snapshot(read_installed(target.sys_path))
    differ += sorted(
        f"{name} {record.before.get(name, '(absent)')} -> {after.get(name, '(absent)')}"
        for name in set(record.before) | set(after)
        if record.before.get(name) != after.get(name)
    )
    return problems + differ


def _delete(path: str, problems: list[str]) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as exc:
        problems.append(f"{path}: {exc.strerror or exc}")


def _epoch(started: str) -> float:
    """The journal's start time in epoch seconds (0 when unreadable: then any
    leftover counts as new, which only ever removes pip's own stash folders)."""
    try:
        return datetime.fromisoformat(started).timestamp()
    except ValueError:
        return 0.0


def recover_interrupted(target: TargetEnv) -> str | None:
    """Undo an update of ``target`` that was killed before it could finish or roll back.

    Call it while holding :func:`environment_lock` (the journal of an update still
    running looks the same; its installer holds the lock too). Returns None when there
    was nothing to recover, else one line saying what was done. Raises
    :class:`RollbackFailed` (the journal is kept) when the journal cannot be used or
    the environment cannot be brought back.
    """
    folder = journal.state_folder(target)
    roots = stash.environment_roots(target.prefix, target.paths)
    try:
        record = journal.read(folder, roots)
        if record is not None and not _same_prefix(record.prefix, target.prefix):
            raise CorruptJournal(
                str(journal.journal_path(folder)), f"it is for {record.prefix}, not {target.prefix}"
            )
    except CorruptJournal as exc:
        # Refused before anything is touched: this run changed nothing (exit 3), but
        # the run that left the journal may have; only the user can tell.
        raise UpdateAborted(
            f"refusing the journal an interrupted update left ({exc}); nothing was "
            f"changed, but {target.prefix} may be half-updated: check it, then delete "
            f"{journal.journal_path(folder)} to go on"
        ) from None
    if record is None:
        # A stash without a journal: an update that finished, killed while cleaning up.
        stash.remove_stash(folder / journal.STASH_DIR)
        journal.remove_leftovers(folder)
        return None
    now = _snapshot(read_installed(target.sys_path))
    moved = sorted(n for n in set(now) | set(record.before) if now.get(n) != record.before.get(n))
    aside = folder / journal.STASH_DIR
    pending = sum(stash.count_files(aside / k.slot) for k in record.kept if not k.copy)
    with _signals_ignored():
        differ = restore(target, record, roots)
    started = record.started_local
    if differ:
        raise RollbackFailed(
            f"an interrupted update (started {started}) could not be undone: "
            f"{'; '.join(differ)}; the journal {journal.journal_path(folder)} is kept"
        )
    journal.remove(folder)
    if not moved and pending:
        return (
            f"put back {pending} file{'s' * (pending != 1)} that an interrupted update "
            f"(started {started}) had kept aside"
        )
    if not moved:
        return f"an interrupted update (started {started}) had changed nothing; cleaned up after it"
    count = f"{len(moved)} package{'s' * (len(moved) != 1)}"
    return f"restored {count} left half-updated by an interrupted update (started {started})"


def revert(target: TargetEnv, record: journal.Journal) -> None:
    """Undo a held install (``execute(..., hold=True)``): the environment as
    ``record`` found it, checked as a rollback is, then the journal removed.

    Raises :class:`RollbackFailed` (the journal is kept for the next run) when what
    differs cannot be put right."""
    folder = journal.state_folder(target)
    roots = stash.environment_roots(target.prefix, target.paths)
    with _signals_ignored():
        differ = restore(target, record, roots)
        if not differ:
            journal.remove(folder)
    if differ:
        raise RollbackFailed(
            f"the previous state could not all be restored: {'; '.join(differ)}; the next "
            f"'pipfresh update' tries again (journal {journal.journal_path(folder)})"
        )


def release(target: TargetEnv) -> None:
    """Commit a held install: drop its journal and stash (what ``execute`` does at the
    end of an update that is not held)."""
    with _signals_ignored():
        journal.remove(journal.state_folder(target))


def _same_prefix(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def stage(on_stage: Callable[[str], None] | None, name: str) -> None:
    if on_stage is not None:
        on_stage(name)


async def _download_all(
    scan: ScanInput, plan: Plan, fetched: Mapping[str, bytes], downloads: DownloadCache
) -> list[Path]:
    """Every planned wheel, hash-checked, from the download cache or the index."""
    async with client_for(scan) as client:

        async def one(project: str, file: IndexFile) -> Path:
            if file.sha256 is None:
                raise UpdateAborted(
                    f"the index lists no sha256 for {file.filename}: it cannot be checked; "
                    "nothing was changed"
                )
            found = downloads.get(file.sha256, file.filename)
            if found is not None:
                return found
            body = fetched.get(file.url)  # read whole while planning (a small wheel)
            if body is not None and hashlib.sha256(body).hexdigest() == file.sha256.lower():
                return downloads.put(file.sha256, file.filename, body)
            dest = downloads.destination(file.sha256, file.filename)
            # Streamed to disk, hashed on the way: a wheel is never held in memory.
            await client.download_to(
                file.url, dest, project=project, sha256=file.sha256, max_bytes=file.size
            )
            return dest

        jobs = [one(c.canonical_name, c.wheel) for c in plan.changes]
        jobs += [one(a.canonical_name, a.wheel) for a in plan.additions]
        results = await asyncio.gather(*jobs, return_exceptions=True)
    paths: list[Path] = []
    for result in results:
        if isinstance(result, UpdateAborted):
            raise result
        if isinstance(result, IndexError_):
            raise UpdateAborted(f"{result.message}; nothing was changed")
        if isinstance(result, OSError):
            raise UpdateAborted(
                f"cannot write the downloads in {downloads.root}: {result.strerror or result}; "
                "nothing was changed"
            )
        if isinstance(result, BaseException):
            raise result
        paths.append(result)
    return paths


def _snapshot(dists: Sequence[InstalledDist]) -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in dists:
        found.setdefault(dist.canonical_name, dist.version)
    return found


def _problem_keys(dists: Sequence[InstalledDist], markers: Mapping[str, str]) -> set[ProblemKey]:
    return {problem_key(p) for p in analyse(dists, markers).problems}


def verify(
    target: TargetEnv,
    changes: Sequence[Change],
    baseline: set[ProblemKey],
    additions: Sequence[Addition] = (),
) -> str | None:
    """None when every change and addition is installed once and no requirement broke;
    else why not."""
    dists = read_installed(target.sys_path)
    installed = _snapshot(dists)
    expected = [(c.canonical_name, c.name, c.after) for c in changes]
    expected += [(a.canonical_name, a.name, a.version) for a in additions]
    counts: dict[str, int] = {}
    for path in metadata_dirs(target.sys_path):
        if os.path.dirname(path) == journal.site_packages(target):
            counts[_project_of(path)] = counts.get(_project_of(path), 0) + 1
    for canonical, name, version in expected:
        found = installed.get(canonical)
        if found is None or parse_version(found) != parse_version(version):
            return f"{name} is at {found or 'nothing'} after the install, not {version}"
        if counts.get(canonical, 0) > 1:
            return f"{name} has {counts[canonical]} metadata folders after the install"
    for problem in analyse(dists, target.markers).problems:
        if problem_key(problem) not in baseline:
            return f"inconsistent after the install: {problem.message}"
    return None


def outcome_document(outcome: Outcome) -> dict[str, Any]:
    return {
        "installer": outcome.installer,
        "results": [
            {"name": r.name, "before": r.before, "after": r.after, "status": r.status}
            for r in outcome.results
        ],
        "timings": dict(outcome.timings),
    }


__all__ = [
    "ChangeResult",
    "Outcome",
    "Terminated",
    "environment_lock",
    "execute",
    "outcome_document",
    "recover_interrupted",
    "release",
    "revert",
    "verify",
]
