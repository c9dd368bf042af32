"""A cold scan on every core: forked worker processes share the network work.

A cold scan is CPU-bound on one core (decoding pages, selecting releases), not
network-bound (issue 17: the fetch alone takes half the time), so on a machine with
spare cores the projects are split between this process and ``os.fork()``-ed
workers, after imports and the target's inspection, so nothing of that is paid
twice. Each process runs its own client on its share, with its share of the
concurrency (the budget is split, not multiplied), writes the cache entries of its
share itself (entry writes are atomic renames, safe across processes, and the pages
never cross a pipe), and a worker sends back only the small results, pickled, over
a socket pair as they complete; the parent yields everything in completion order.

One process is used: off Linux (macOS's system frameworks are not fork-safe, and a
proxy lookup goes through them), on a one-core machine, when few projects need the
network (MIN_PROJECTS), when another thread runs (fork would copy its locks held),
and always on a warm run (nothing needs the network, nothing forks).
``PIPFRESH_WORKERS=N`` forces N processes in all (1: never fork), for tests and
debugging.

A worker that dies costs each project of its share not yet answered an error line,
never the run. A worker never outlives the scan: the parent kills and reaps it when
the scan ends early (an error, Ctrl-C, the consumer stopping), and a worker whose
parent is gone sees its socket close and exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import signal
import socket
import struct
import sys
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipfresh.errors import UsageError
from pipfresh.models import IndexFile, PackageStatus, ProjectError

if TYPE_CHECKING:
    from pipfresh.models import InstalledDist
    from pipfresh.scan import ScanInput
    from pipfresh.select import Policy

Result = PackageStatus | ProjectError

WORKERS_ENV = "PIPFRESH_WORKERS"
# Below this many projects to fetch, one process: a worker's start-up (fork, its
# own connections and TLS handshakes) is not repaid. See benchmarks/scan_cores.py.
MIN_PROJECTS = 24
MAX_PROCESSES = 8
# Added to every project's expected cost (seconds) when the shares are dealt: a
# project never fetched before costs a request all the same.
BASE_COST = 0.05
_FRAME = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class Share:
    """The projects one process fetches (in the order it starts them) and the
    requests it may have in flight."""

    dists: tuple[InstalledDist, ...]
    concurrency: int


# ----------------------------------------------------------------------- the plan


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's)."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is not None:
        return len(getter(0))
    return os.cpu_count() or 1


def process_count(
    projects: int,
    concurrency: int,
    *,
    environ: Mapping[str, str] | None = None,
    cores: int | None = None,
    platform: str | None = None,
) -> int:
    """How many processes should fetch ``projects`` pages (1: this one alone)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(WORKERS_ENV, "").strip()
    forced = None
    if raw:
        try:
            forced = int(raw)
        except ValueError:
            forced = 0
        if not 1 <= forced <= 64:
            raise UsageError(f"{WORKERS_ENV}={raw!r} must be a whole number from 1 to 64")
    platform = sys.platform if platform is None else platform
    if forced is None:
        if platform != "linux" or projects < MIN_PROJECTS:
            return 1
        wanted = min(available_cores() if cores is None else cores, MAX_PROCESSES)
    else:
        if not hasattr(os, "fork"):
            return 1
        wanted = forced
    return max(1, min(wanted, projects, concurrency))


def deal(costs: Sequence[float], parts: int) -> list[list[int]]:
    """Pure: positions of ``costs`` (expected seconds, highest first) dealt to
    ``parts`` shares of about equal total, each keeping the given order.

    Greedy, the costliest first to the least loaded share (the classic longest-first
    rule): within 4/3 of the best split, and exact enough when, as here, many small
    projects follow a few large ones.
    """
    shares: list[list[int]] = [[] for _ in range(parts)]
    loads = [0.0] * parts
    for position, cost in enumerate(costs):
        # Ties go to the lowest share, the parent's: it yields from the first moment.
        part = min(range(parts), key=lambda p: (loads[p], p))
        shares[part].append(position)
        loads[part] += max(cost, 0.0) + BASE_COST
    return shares


def split_concurrency(concurrency: int, parts: int) -> list[int]:
    """Pure: ``concurrency`` requests in flight divided between ``parts`` processes
    (the first ones get the remainder), each at least 1."""
    base, extra = divmod(concurrency, parts)
    return [max(1, base + (1 if i < extra else 0)) for i in range(parts)]


def plan(
    todo: Sequence[InstalledDist], costs: Mapping[str, float], concurrency: int
) -> list[Share] | None:
    """The shares of a multi-process scan, the parent's first; None: one process."""
    parts = process_count(len(todo), concurrency)
    if parts < 2:
        return None
    # Forking copies the threads' locks but not the threads: never with another
    # thread running (the caller joined the client's preloading one).
    if threading.active_count() > 1:
        return None
    dealt = deal([costs.get(d.canonical_name, 0.0) for d in todo], parts)
    limits = split_concurrency(concurrency, parts)
    return [
        Share(tuple(todo[i] for i in positions), limit)
        for positions, limit in zip(dealt, limits, strict=True)
        if positions
    ]


# ----------------------------------------------------------------------- the parent


@dataclass
class _Worker:
    pid: int
    sock: socket.socket
    share: Share
    answered: set[int] = field(default_factory=set)
    stats: dict[str, tuple[int, float]] = field(default_factory=dict)
    finished: bool = False  # it sent everything (its "done" message)
    reaped: bool = False
    failure: str | None = None  # what it said when it failed


_END = object()


async def results(
    scan: ScanInput, shares: Sequence[Share], policy: Policy, now: float
) -> AsyncIterator[Result]:
    """Every project of ``shares`` (the first is this process's own), in the order
    the answers complete in any process."""
    from pipfresh.scan import fetch_results

    queue: asyncio.Queue[object] = asyncio.Queue()
    stats: dict[str, tuple[int, float]] = {}
    workers, unstarted = _start(scan, shares[1:], policy, now)
    # What no worker could be started for, this process fetches itself.
    own = Share(
        shares[0].dists + tuple(d for s in unstarted for d in s.dists),
        shares[0].concurrency + sum(s.concurrency for s in unstarted),
    )
    producers: list[asyncio.Task[None]] = []
    try:

        async def run_own() -> None:
            try:
                async for _, result in fetch_results(
                    scan, own.dists, policy, now, concurrency=own.concurrency, stats=stats
                ):
                    queue.put_nowait(result)
            except BaseException as exc:
                queue.put_nowait(exc)
                raise
            finally:
                queue.put_nowait(_END)

        producers.append(asyncio.ensure_future(run_own()))
        producers.extend(asyncio.ensure_future(_listen(w, scan, queue)) for w in workers)
        running = len(producers)
        while running:
            item = await queue.get()
            if item is _END:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item  # type: ignore[misc]  # only results and the two above are queued
    finally:
        for task in producers:
            task.cancel()
        await asyncio.gather(*producers, return_exceptions=True)
        for worker in workers:
            _stop(worker)
            stats.update(worker.stats)
        if scan.cache is not None:
            scan.cache.record_stats(stats)


def _start(
    scan: ScanInput, shares: Sequence[Share], policy: Policy, now: float
) -> tuple[list[_Worker], list[Share]]:
    """(workers started, shares none could be started for: fork failed)."""
    workers: list[_Worker] = []
    unstarted: list[Share] = []
    # Objects alive now are never freed in a child: kept out of the collector, its
    # passes do not touch (and so copy) their memory pages.
    gc.collect()
    gc.freeze()
    try:
        for share in shares:
            ours, theirs = socket.socketpair()
            try:
                pid = os.fork()
            except OSError:
                ours.close()
                theirs.close()
                unstarted.append(share)  # e.g. the process limit reached
                continue
            if pid == 0:  # the child: never returns
                _child(
                    theirs,
                    [ours, *(w.sock for w in workers)],
                    scan,
                    share=share,
                    policy=policy,
                    now=now,
                )
            theirs.close()
            workers.append(_Worker(pid, ours, share))
    finally:
        gc.unfreeze()
    return workers, unstarted


async def _listen(worker: _Worker, scan: ScanInput, queue: asyncio.Queue[object]) -> None:
    """Queue one worker's results as they arrive; when it ends without finishing,
    one error per project it did not answer."""
    try:
        reader, writer = await asyncio.open_unix_connection(sock=worker.sock)
        try:
            while not worker.finished:
                try:
                    header = await reader.readexactly(_FRAME.size)
                    message = pickle.loads(await reader.readexactly(*_FRAME.unpack(header)))
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                _receive(worker, scan, message, queue)
        finally:
            writer.close()
        if not worker.finished:
            why = worker.failure or _reap(worker)
            for position, dist in enumerate(worker.share.dists):
                if position not in worker.answered:
                    queue.put_nowait(ProjectError(dist.name, f"not checked: {why}"))
    finally:
        queue.put_nowait(_END)


def _receive(
    worker: _Worker, scan: ScanInput, message: object, queue: asyncio.Queue[object]
) -> None:
    match message:
        case ("result", int(position), PackageStatus() | ProjectError() as result, kept):
            worker.answered.add(position)
            if isinstance(kept, dict) and scan.kept_files is not None:
                scan.kept_files[worker.share.dists[position].canonical_name] = kept
            queue.put_nowait(result)
        case ("done", dict(stats), bool(write_failed)):
            worker.stats = stats
            worker.finished = True
            if write_failed and scan.cache is not None:
                scan.cache.write_failed = True
        case ("failed", str(reason)):
            worker.failure = f"its worker process failed: {reason}"
        case _:
            worker.failure = "its worker process sent a message not understood"


def _reap(worker: _Worker) -> str:
    """Wait for a worker that closed its end (it is exiting); how it ended, in words."""
    if worker.reaped:
        return "its worker process ended early"
    try:
        _, status = os.waitpid(worker.pid, 0)
    except ChildProcessError:
        return "its worker process ended early"
    worker.reaped = True
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        with contextlib.suppress(ValueError):
            return f"its worker process was killed by {signal.Signals(number).name}"
        return f"its worker process was killed by signal {number}"
    return f"its worker process ended early (exit status {os.WEXITSTATUS(status)})"


def _stop(worker: _Worker) -> None:
    """Kill (unless it finished) and reap one worker: no zombie, nothing left behind."""
    worker.sock.close()
    if worker.reaped:
        return
    if not worker.finished:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(worker.pid, 0)
    worker.reaped = True


# ----------------------------------------------------------------------- the child


def _child(
    sock: socket.socket,
    inherited: Sequence[socket.socket],
    scan: ScanInput,
    *,
    share: Share,
    policy: Policy,
    now: float,
) -> None:
    """A worker's whole life, in the forked process; ends with os._exit, so nothing
    of the parent's (atexit handlers, buffered output, the event loop) runs twice."""
    code = 1
    try:
        # Other workers' sockets would keep their lifelines open after the parent died.
        for other in inherited:
            other.close()
        # Ctrl-C reaches the whole process group: a worker just ends, silently (the
        # parent reports). SIGTERM's default, too; no wake-up through the parent's loop.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        asyncio.run(_child_scan(sock, scan, share, policy, now))
        code = 0
    except BaseException as exc:  # reported to the parent, never printed
        with contextlib.suppress(BaseException):
            _send(sock, ("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        os._exit(code)


async def _child_scan(
    sock: socket.socket, scan: ScanInput, share: Share, policy: Policy, now: float
) -> None:
    from pipfresh.scan import fetch_results

    loop = asyncio.get_running_loop()
    # The parent never writes: readable means it closed its end or died.
    loop.add_reader(sock.fileno(), os._exit, 1)
    scan.warnings.clear()
    stats: dict[str, tuple[int, float]] = {}
    async for position, result in fetch_results(
        scan, share.dists, policy, now, concurrency=share.concurrency, stats=stats
    ):
        kept: dict[str, tuple[IndexFile, ...]] | None = None
        if scan.kept_files is not None:
            kept = scan.kept_files.pop(share.dists[position].canonical_name, None)
        _send(sock, ("result", position, result, kept))
    failed = scan.cache is not None and scan.cache.write_failed
    _send(sock, ("done", stats, failed))
    loop.remove_reader(sock.fileno())


def _send(sock: socket.socket, message: object) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_FRAME.pack(len(body)) + body)
