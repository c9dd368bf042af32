"""Carrying out an update plan: download (hash-checked) ► one install ► verify ► roll back.

Behind ``pipfresh update`` and :func:`pipfresh.update`. It never prints: progress
and installer output go to the callbacks the caller passes, results come back as
values.

* :func:`execute` downloads every planned wheel *and* the wheel of every installed
  version that will change, checks each against the index's sha256, and only then
  runs the installer once, offline, with exactly those files. It verifies the
  result; on any failure or interrupt it reinstalls the previous wheels and checks
  that every distribution is back at its previous version.
* Before the installer runs, :func:`execute` writes a journal (see
  :mod:`pipfresh.journal`) beside the lock, with the restore wheels, so that an update
  killed outright (SIGKILL, power loss) can be undone: :func:`recover_interrupted`,
  called by the next run while it holds the lock, restores the previous versions.
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
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pipfresh import __version__, journal
from pipfresh.errors import (
    ConfigError,
    CorruptJournal,
    IndexError_,
    RollbackFailed,
    RolledBack,
    UpdateAborted,
    UsageError,
)
from pipfresh.install import Installer, InstallResult
from pipfresh.installed import read_installed
from pipfresh.models import IndexFile, InstalledDist, TargetEnv
from pipfresh.plan import (
    Addition,
    Change,
    Plan,
    ProblemKey,
    problem_key,
)
from pipfresh.planning import Planned, client_for
from pipfresh.requirements import analyse
from pipfresh.scan import ScanInput
from pipfresh.select import parse_version

if TYPE_CHECKING:
    pass


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


# ----- lock --------------------------------------------------------------------------


@contextlib.contextmanager
def environment_lock(cache_root: Path, target: TargetEnv) -> Iterator[Path]:
    """Hold ``<cache_root>/locks/<hash of the target's prefix>.lock`` for the block;
    raise :class:`UsageError` at once when another update holds it."""
    import fcntl

    folder = cache_root / "locks"
    # flock, not a pid file: the kernel releases it when its holder dies, even by
    # SIGKILL, so a lock left behind by a dead process never blocks the next update.
    path = folder / f"{journal.prefix_digest(target.prefix)}.lock"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = open(path, "a+b")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        # An update keeps its lock and journal in the cache folder: without one that can
        # be written it cannot promise to restore the environment, so it does not start.
        raise ConfigError(
            f"cannot write the update's lock in the cache folder {cache_root}: "
            f"{exc.strerror or exc} (choose another with --cache-dir or PIPFRESH_CACHE_DIR)"
        ) from None
    try:
        try:
            fcntl.flock(fd.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another pipfresh update is running on {target.prefix} (lock {path})"
            ) from None
        try:
            yield path
        finally:
            fcntl.flock(fd.fileno(), fcntl.LOCK_UN)
    finally:
        fd.close()


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


_T = TypeVar("_T")


def _run_stoppable(main: Coroutine[Any, Any, _T]) -> _T:
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
    workdir: Path | None = None,
    cache_root: Path | None = None,
) -> Outcome:
    """Carry out ``planned``; see the module docstring.

    With ``cache_root`` (the caller holds :func:`environment_lock` there and has called
    :func:`recover_interrupted`), the files go to the environment's update folder and
    a journal is written before the install; without it, to ``workdir`` or a
    temporary folder, and an update killed outright cannot be recovered.

    Raises :class:`UpdateAborted` when the environment was not touched,
    :class:`RolledBack` when it was and has been restored, :class:`RollbackFailed`
    when it could not be (the journal, if any, is kept for the next run);
    KeyboardInterrupt (:class:`Terminated` for SIGTERM) during the downloads
    propagates: nothing was changed, and the downloaded files are gone.
    """
    plan = planned.plan
    timings: dict[str, float] = {"plan": round(planned.seconds, 3)}
    target = scan.target
    with contextlib.ExitStack() as stack:
        folder: Path | None = None
        if cache_root is not None:
            folder = workdir = _fresh_update_folder(cache_root, target)
        elif workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pipfresh-")))
        # Until the journal is on disk nothing may change, and anything that stops the
        # run takes the downloads with it.
        try:
            with _sigterm_as_interrupt():
                stage(on_stage, "download")
                started = time.perf_counter()
                new_files, old_files = _run_stoppable(
                    _download_all(scan, plan, planned.fetched, workdir)
                )
                timings["download"] = round(time.perf_counter() - started, 3)
                before = _snapshot(read_installed(target.sys_path))
                baseline = _problem_keys(read_installed(target.sys_path), target.markers)
                added = [a.canonical_name for a in plan.additions if a.canonical_name not in before]
                if folder is not None:
                    _write_journal(
                        folder,
                        target,
                        before=before,
                        changes=plan.changes,
                        old_files=old_files,
                        added=added,
                    )
        except BaseException as exc:
            if folder is not None:
                journal.remove(folder)
            if isinstance(exc, OSError):
                raise UpdateAborted(
                    f"cannot write the update's files in {workdir}: {exc.strerror or exc}; "
                    "nothing was changed"
                ) from None
            raise
        output = ""
        failure: str | None = None
        with _sigterm_as_interrupt():
            try:
                stage(on_stage, "install")
                started = time.perf_counter()
                result = installer.run(
                    target.python,
                    new_files,
                    break_system_packages=break_system_packages,
                    on_output=on_output,
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
            except KeyboardInterrupt as exc:
                failure = "terminated" if isinstance(exc, Terminated) else "interrupted"
        if failure is None:
            if folder is not None:
                journal.remove(folder)
            results = tuple(
                ChangeResult(c.name, c.before, c.after, "updated") for c in plan.changes
            ) + tuple(ChangeResult(a.name, "", a.version, "added") for a in plan.additions)
            return Outcome(results, installer.name, timings)
        stage(on_stage, "rollback")
        with _signals_ignored():
            try:
                _rollback(
                    target,
                    installer,
                    old_files,
                    before,
                    added,
                    failure=failure,
                    output=output,
                    break_system_packages=break_system_packages,
                    on_output=on_output,
                )
            except RollbackFailed as exc:
                raise _journal_kept(exc, folder) from None
        if folder is not None:
            journal.remove(folder)
        raise RolledBack(
            f"update failed ({failure}); every package was restored to its previous version",
            output=output,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _fresh_update_folder(cache_root: Path, target: TargetEnv) -> Path:
    folder = journal.update_folder(cache_root, target.prefix)
    if journal.journal_path(folder).exists():
        raise UpdateAborted(
            f"an interrupted update of {target.prefix} has not been restored yet "
            f"(journal {journal.journal_path(folder)}); nothing was changed"
        )
    # What is left without a journal is an update killed during its downloads.
    shutil.rmtree(folder, ignore_errors=True)
    try:
        (folder / journal.NEW_DIR).mkdir(parents=True)
        (folder / journal.RESTORE_DIR).mkdir()
    except OSError as exc:
        raise UpdateAborted(
            f"cannot create {folder}: {exc.strerror or exc}; nothing was changed"
        ) from None
    return folder


def _write_journal(
    folder: Path,
    target: TargetEnv,
    *,
    before: Mapping[str, str],
    changes: Sequence[Change],
    old_files: Sequence[Path],
    added: Sequence[str],
) -> None:
    digests = {c.restore.filename: c.restore.sha256 or "" for c in changes}
    record = journal.Journal(
        prefix=target.prefix,
        python=target.python,
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        pid=os.getpid(),
        before=dict(before),
        restore=tuple(
            journal.RestoreWheel(path.relative_to(folder).as_posix(), digests[path.name])
            for path in old_files
        ),
        added=tuple(added),
        pipfresh_version=__version__,
    )
    journal.write(folder, record)


def _journal_kept(exc: RollbackFailed, folder: Path | None) -> RollbackFailed:
    if folder is None:
        return exc
    return RollbackFailed(
        f"{exc.message}; the next 'pipfresh update' tries again from {folder} "
        "(delete that folder to give up on restoring)",
        output=exc.output,
    )


# ----- recovery ----------------------------------------------------------------------


def recover_interrupted(
    cache_root: Path,
    target: TargetEnv,
    installer: Installer,
    *,
    break_system_packages: bool = False,
    on_output: Callable[[str], None] | None = None,
) -> str | None:
    """Undo an update of ``target`` that was killed before it could finish or roll back.

    Call it while holding :func:`environment_lock` (the journal of an update still
    running looks the same). Returns None when there was nothing to recover, else one
    line saying what was done. Reinstalls the restore wheels the journal names,
    uninstalls what the update added and checks the whole environment against the
    journal's snapshot, as a rollback does; on success the journal and its wheels are
    deleted. Raises :class:`RollbackFailed` (the journal is kept) when the journal
    cannot be used or the environment cannot be brought back.
    """
    folder = journal.update_folder(cache_root, target.prefix)
    try:
        record = journal.read(folder)
        if record is not None and not _same_prefix(record.prefix, target.prefix):
            raise CorruptJournal(
                str(journal.journal_path(folder)), f"it is for {record.prefix}, not {target.prefix}"
            )
    except CorruptJournal as exc:
        raise RollbackFailed(
            f"an interrupted update left a journal that cannot be used ({exc}); "
            f"{target.prefix} may be half-updated: check it, then delete {folder} to go on"
        ) from None
    if record is None:
        # Downloads of an update killed before it wrote its journal: nothing changed.
        shutil.rmtree(folder, ignore_errors=True)
        return None
    started = record.started_local
    now = _snapshot(read_installed(target.sys_path))
    if now == dict(record.before):
        journal.remove(folder)
        return f"an interrupted update (started {started}) had changed nothing; cleaned up after it"
    files = [folder / wheel.file for wheel in record.restore]
    for wheel, path in zip(record.restore, files, strict=True):
        problem = _damaged(path, wheel.sha256)
        if problem is not None:
            raise _journal_kept(
                RollbackFailed(
                    f"an interrupted update (started {started}) cannot be undone: "
                    f"restore wheel {path} {problem}"
                ),
                folder,
            )
    moved = sorted(n for n in set(now) | set(record.before) if now.get(n) != record.before.get(n))
    with _signals_ignored():
        try:
            _rollback(
                target,
                installer,
                files,
                record.before,
                record.added,
                failure=f"interrupted, started {started}",
                output="",
                break_system_packages=break_system_packages,
                on_output=on_output,
            )
        except RollbackFailed as exc:
            raise _journal_kept(exc, folder) from None
    journal.remove(folder)
    count = f"{len(moved)} package{'s' * (len(moved) != 1)}"
    return f"restored {count} left half-updated by an interrupted update (started {started})"


def _same_prefix(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _damaged(path: Path, sha256: str) -> str | None:
    try:
        body = path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if hashlib.sha256(body).hexdigest() != sha256.lower():
        return "does not match its sha256"
    return None


def stage(on_stage: Callable[[str], None] | None, name: str) -> None:
    if on_stage is not None:
        on_stage(name)


async def _download_all(
    scan: ScanInput, plan: Plan, fetched: Mapping[str, bytes], workdir: Path
) -> tuple[list[Path], list[Path]]:
    """Every planned wheel and every restore wheel, hash-checked, written to ``workdir``."""
    new_dir = workdir / journal.NEW_DIR
    old_dir = workdir / journal.RESTORE_DIR
    new_dir.mkdir(parents=True, exist_ok=True)
    old_dir.mkdir(parents=True, exist_ok=True)
    async with client_for(scan) as client:

        async def one(project: str, file: IndexFile, folder: Path) -> Path:
            if file.sha256 is None:
                raise UpdateAborted(
                    f"the index lists no sha256 for {file.filename}: it cannot be checked; "
                    "nothing was changed"
                )
            body = fetched.get(file.url)
            if body is None or hashlib.sha256(body).hexdigest() != file.sha256.lower():
                body = await client.download(file.url, project=project, sha256=file.sha256)
            path = folder / file.filename
            path.write_bytes(body)
            return path

        jobs = [one(c.canonical_name, c.restore, old_dir) for c in plan.changes]
        jobs += [one(c.canonical_name, c.wheel, new_dir) for c in plan.changes]
        jobs += [one(a.canonical_name, a.wheel, new_dir) for a in plan.additions]
        results = await asyncio.gather(*jobs, return_exceptions=True)
    paths: list[Path] = []
    for result in results:
        if isinstance(result, UpdateAborted):
            raise result
        if isinstance(result, IndexError_):
            raise UpdateAborted(f"{result.message}; nothing was changed")
        if isinstance(result, BaseException):
            raise result
        paths.append(result)
    half = len(plan.changes)
    return paths[half:], paths[:half]


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
    """None when every change and addition is installed and no requirement broke; else
    why not."""
    dists = read_installed(target.sys_path)
    installed = _snapshot(dists)
    expected = [(c.canonical_name, c.name, c.after) for c in changes]
    expected += [(a.canonical_name, a.name, a.version) for a in additions]
    for canonical, name, version in expected:
        found = installed.get(canonical)
        if found is None or parse_version(found) != parse_version(version):
            return f"{name} is at {found or 'nothing'} after the install, not {version}"
    for problem in analyse(dists, target.markers).problems:
        if problem_key(problem) not in baseline:
            return f"inconsistent after the install: {problem.message}"
    return None


def _rollback(
    target: TargetEnv,
    installer: Installer,
    old_files: Sequence[Path],
    before: Mapping[str, str],
    added: Sequence[str],
    *,
    failure: str,
    output: str,
    break_system_packages: bool,
    on_output: Callable[[str], None] | None,
) -> None:
    result: InstallResult | None = None
    if old_files:
        result = installer.run(
            target.python,
            old_files,
            reinstall=True,
            break_system_packages=break_system_packages,
            on_output=on_output,
        )
    # What the update added (and only that: a name installed before stays).
    present = _snapshot(read_installed(target.sys_path))
    extra = [name for name in added if name in present and name not in before]
    if extra and (result is None or result.ok):
        result = installer.uninstall(
            target.python,
            extra,
            break_system_packages=break_system_packages,
            on_output=on_output,
        )
    after = _snapshot(read_installed(target.sys_path))
    differ = sorted(
        f"{name} {before.get(name, '(absent)')} -> {after.get(name, '(absent)')}"
        for name in set(before) | set(after)
        if before.get(name) != after.get(name)
    )
    if (result is None or result.ok) and not differ:
        return
    status = "" if result is None else f"{installer.name} exited with status {result.returncode}"
    detail = "; ".join(differ) or status
    raise RollbackFailed(
        f"update failed ({failure}) and the previous versions could not all be restored: {detail}",
        output=output + ("" if result is None else result.output),
    )


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
    "verify",
]
