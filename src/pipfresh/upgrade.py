"""Carrying out an update plan: download (hash-checked) ► one install ► verify ► roll back.

Behind ``pipfresh update`` and :func:`pipfresh.update`. It never prints: progress
and installer output go to the callbacks the caller passes, results come back as
values.

* :func:`execute` downloads every planned wheel *and* the wheel of every installed
  version that will change, checks each against the index's sha256, and only then
  runs the installer once, offline, with exactly those files. It verifies the
  result; on any failure or interrupt it reinstalls the previous wheels and checks
  that every distribution is back at its previous version.
* :func:`environment_lock` keeps two updates of one environment apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pipfresh.errors import (
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
    name: str
    before: str
    after: str
    status: str  # "updated"


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
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(str(Path(target.prefix).resolve()).encode()).hexdigest()[:24]
    path = folder / f"{digest}.lock"
    fd = open(path, "a+b")  # noqa: SIM115 - held for the whole block
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


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
) -> Outcome:
    """Carry out ``planned``; see the module docstring.

    Raises :class:`UpdateAborted` when the environment was not touched,
    :class:`RolledBack` when it was and has been restored, :class:`RollbackFailed`
    when it could not be; KeyboardInterrupt during the downloads propagates (nothing
    was changed).
    """
    plan = planned.plan
    timings: dict[str, float] = {"plan": round(planned.seconds, 3)}
    target = scan.target
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pipfresh-")))
        stage(on_stage, "download")
        started = time.perf_counter()
        new_files, old_files = asyncio.run(_download_all(scan, plan, planned.fetched, workdir))
        timings["download"] = round(time.perf_counter() - started, 3)
        before = _snapshot(read_installed(target.sys_path))
        baseline = _problem_keys(read_installed(target.sys_path), target.markers)
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
                failure = "terminated" if isinstance(exc, _Terminated) else "interrupted"
        if failure is None:
            results = tuple(
                ChangeResult(c.name, c.before, c.after, "updated") for c in plan.changes
            ) + tuple(ChangeResult(a.name, "", a.version, "added") for a in plan.additions)
            return Outcome(results, installer.name, timings)
        stage(on_stage, "rollback")
        with _signals_ignored():
            _rollback(
                target,
                installer,
                old_files,
                before,
                [a.canonical_name for a in plan.additions],
                failure=failure,
                output=output,
                break_system_packages=break_system_packages,
                on_output=on_output,
            )
        raise RolledBack(
            f"update failed ({failure}); every package was restored to its previous version",
            output=output,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def stage(on_stage: Callable[[str], None] | None, name: str) -> None:
    if on_stage is not None:
        on_stage(name)


async def _download_all(
    scan: ScanInput, plan: Plan, fetched: Mapping[str, bytes], workdir: Path
) -> tuple[list[Path], list[Path]]:
    """Every planned wheel and every restore wheel, hash-checked, written to ``workdir``."""
    new_dir = workdir / "new"
    old_dir = workdir / "old"
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
    "environment_lock",
    "execute",
    "outcome_document",
    "verify",
]
