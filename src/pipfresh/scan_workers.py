"""A cold scan on every core: forked worker processes share the network work.

A cold scan is CPU-bound on one core (decoding pages, selecting releases), not
network-bound (issue 17: the fetch alone takes half the time), so on a machine with
spare cores this process ``os.fork()``-s workers after imports and the target's
inspection, so nothing of that is paid twice. Every process runs its own client
with its share of the concurrency (the budget is split, not multiplied) and takes
the next project from one shared pipe of positions (the most expensive first, as
the cache's statistics order them) whenever one of its requests can start: a
process slowed by other work takes fewer, so the shares balance themselves even on
a first run, when no page size is known. (A fixed split dealt in turn left one
process finishing a quarter second after the other: the large pages fall where they
fall.) Each process writes the cache entries of its projects itself (entry writes
are atomic renames, safe across processes), so pages never cross a pipe; a worker
sends back only the small results, pickled, over a socket pair as they complete,
and the parent yields everything in completion order.

One process is used: off Linux (macOS's system frameworks are not fork-safe, and a
proxy lookup goes through them), on a one-core machine, when few projects need the
network (MIN_PROJECTS), when another thread runs (fork would copy the locks it
holds), and always on a warm run (nothing needs the network, nothing forks).
``PIPFRESH_WORKERS=N`` forces N processes in all (1: never fork), for tests and
debugging.

A worker that dies costs each project it had taken and not answered an error line,
never the run: the projects it had not taken yet are fetched by the others. A
worker never outlives the scan: the parent kills and reaps it when the scan ends
early (an error, Ctrl-C, the consumer stopping), and a worker whose parent is gone
sees its socket close and exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import os
import pickle
import signal
import socket
import struct
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
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
_FRAME = struct.Struct("!I")
_TOKEN = struct.Struct("!I")  # a position in the pipe of projects to take


@dataclass(frozen=True, slots=True)
class Split:
    """A multi-process scan about to start: the requests each process may have in
    flight (the parent's first), and the pipe holding every project's position."""

    concurrency: tuple[int, ...]
    positions_fd: int


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


def split_concurrency(concurrency: int, parts: int) -> list[int]:
    """Pure: ``concurrency`` requests in flight divided between ``parts`` processes
    (the first ones get the remainder), each at least 1."""
    base, extra = divmod(concurrency, parts)
    return [max(1, base + (1 if i < extra else 0)) for i in range(parts)]


def plan(projects: int, concurrency: int) -> Split | None:
    """A multi-process scan of ``projects`` (positions 0...), or None: one process."""
    parts = process_count(projects, concurrency)
    # Forking copies the threads' locks but not the threads: never with another
    # thread running (the caller joined the client's preloading one).
    if parts < 2 or threading.active_count() > 1:
        return None
    fd = _positions_pipe(projects)
    if fd is None:
        return None
    return Split(tuple(split_concurrency(concurrency, parts)), fd)


def _positions_pipe(projects: int) -> int | None:
    """The read end of a pipe holding 0 ... projects-1, its write end closed (so an
    empty pipe reads as its end); None if the pipe cannot hold them all."""
    read_end, write_end = os.pipe()
    try:
        size = _TOKEN.size * projects
        setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
        if setsize is not None and size > 65536:
            with contextlib.suppress(OSError):  # above the system's pipe-max-size
                fcntl.fcntl(write_end, setsize, size)
        os.set_blocking(write_end, False)
        data = b"".join(_TOKEN.pack(i) for i in range(projects))
        if os.write(write_end, data) != len(data):
            raise BlockingIOError
    except OSError:
        os.close(read_end)
        return None
    finally:
        os.close(write_end)
    return read_end


class _Claims:
    """The positions this process takes from the shared pipe, one at a time.

    A read of 4 bytes from a pipe holding only whole tokens takes exactly one token,
    atomically, whichever process reads."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.taken: list[int] = []

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        data = os.read(self._fd, _TOKEN.size)
        if len(data) != _TOKEN.size:
            raise StopIteration
        position = int(_TOKEN.unpack(data)[0])
        self.taken.append(position)
        return position


# ----------------------------------------------------------------------- the parent


@dataclass
class _Worker:
    pid: int
    sock: socket.socket
    answered: set[int] = field(default_factory=set)
    stats: dict[str, tuple[int, float]] = field(default_factory=dict)
    finished: bool = False  # it sent everything (its "done" message)
    reaped: bool = False
    failure: str | None = None  # what it said, or how it ended, when it failed


_END = object()


async def results(
    scan: ScanInput,
    todo: Sequence[InstalledDist],
    split: Split,
    policy: Policy,
    now: float,
) -> AsyncIterator[Result]:
    """Every project of ``todo``, fetched by this process and ``split``'s workers, in
    the order the answers complete in any process."""
    from pipfresh.scan import fetch_results

    queue: asyncio.Queue[object] = asyncio.Queue()
    stats: dict[str, tuple[int, float]] = {}
    claims = _Claims(split.positions_fd)
    own, *others = split.concurrency
    workers = _start(scan, todo, split.positions_fd, others, policy=policy, now=now)
    # What no worker could be started for (fork failed), this process takes itself.
    own += sum(others[len(workers) :])
    producers: list[asyncio.Task[None]] = []
    try:

        async def run_own() -> None:
            try:
                async for _, result in fetch_results(
                    scan, todo, policy, now, concurrency=own, stats=stats, positions=claims
                ):
                    queue.put_nowait(result)
            except BaseException as exc:
                queue.put_nowait(exc)
                raise
            finally:
                queue.put_nowait(_END)

        producers.append(asyncio.ensure_future(run_own()))
        producers.extend(asyncio.ensure_future(_listen(w, scan, todo, queue)) for w in workers)
        running = len(producers)
        while running:
            item = await queue.get()
            if item is _END:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item  # type: ignore[misc]  # only results and the two above are queued
        # Every process has stopped and the pipe is empty: a project nobody answered
        # was taken by a worker that ended first.
        failed = [w for w in workers if not w.finished]
        if failed:
            why = "; ".join(dict.fromkeys(w.failure or _reap(w) for w in failed))
            answered = set(claims.taken).union(*(w.answered for w in workers))
            for position, dist in enumerate(todo):
                if position not in answered:
                    yield ProjectError(dist.name, f"not checked: {why}")
    finally:
        os.close(split.positions_fd)
        for task in producers:
            task.cancel()
        await asyncio.gather(*producers, return_exceptions=True)
        for worker in workers:
            _stop(worker)
            stats.update(worker.stats)
        if scan.cache is not None:
            scan.cache.record_stats(stats)


def _start(
    scan: ScanInput,
    todo: Sequence[InstalledDist],
    positions_fd: int,
    limits: Sequence[int],
    *,
    policy: Policy,
    now: float,
) -> list[_Worker]:
    """One worker per limit, as many as could be forked."""
    workers: list[_Worker] = []
    # Objects alive now are never freed in a child: kept out of the collector, its
    # passes do not touch (and so copy) their memory pages. (No collection first: it
    # took 20-45 ms of a 0.9 s scan.)
    gc.freeze()
    try:
        for limit in limits:
            ours, theirs = socket.socketpair()
            try:
                pid = os.fork()
            except OSError:  # e.g. the process limit reached
                ours.close()
                theirs.close()
                break
            if pid == 0:  # the child: never returns
                work = _Work(todo, positions_fd, limit, policy, now)
                _child(theirs, [ours, *(w.sock for w in workers)], scan, work)
            theirs.close()
            workers.append(_Worker(pid, ours))
    finally:
        gc.unfreeze()
    return workers


async def _listen(
    worker: _Worker,
    scan: ScanInput,
    todo: Sequence[InstalledDist],
    queue: asyncio.Queue[object],
) -> None:
    """Queue one worker's results as they arrive, until it finishes or ends."""
    try:
        reader, writer = await asyncio.open_unix_connection(sock=worker.sock)
        try:
            while not worker.finished:
                try:
                    header = await reader.readexactly(_FRAME.size)
                    message = pickle.loads(await reader.readexactly(*_FRAME.unpack(header)))
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                _receive(worker, scan, todo, message, queue)
        finally:
            writer.close()
    finally:
        queue.put_nowait(_END)


def _receive(
    worker: _Worker,
    scan: ScanInput,
    todo: Sequence[InstalledDist],
    message: object,
    queue: asyncio.Queue[object],
) -> None:
    match message:
        case ("result", int(position), PackageStatus() | ProjectError() as result, kept):
            worker.answered.add(position)
            if isinstance(kept, dict) and scan.kept_files is not None:
                scan.kept_files[todo[position].canonical_name] = kept
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


@dataclass(frozen=True, slots=True)
class _Work:
    """What a worker fetches: projects of ``todo`` taken from the pipe, with
    ``concurrency`` requests in flight."""

    todo: Sequence[InstalledDist]
    positions_fd: int
    concurrency: int
    policy: Policy
    now: float


def _child(
    sock: socket.socket, inherited: Sequence[socket.socket], scan: ScanInput, work: _Work
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
        asyncio.run(_child_scan(sock, scan, work))
        code = 0
    except BaseException as exc:  # reported to the parent, never printed
        with contextlib.suppress(BaseException):
            _send(sock, ("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        os._exit(code)


async def _child_scan(sock: socket.socket, scan: ScanInput, work: _Work) -> None:
    from pipfresh.scan import fetch_results

    loop = asyncio.get_running_loop()
    # The parent never writes: readable means it closed its end or died.
    loop.add_reader(sock.fileno(), os._exit, 1)
    scan.warnings.clear()
    stats: dict[str, tuple[int, float]] = {}
    async for position, result in fetch_results(
        scan,
        work.todo,
        work.policy,
        work.now,
        concurrency=work.concurrency,
        stats=stats,
        positions=_Claims(work.positions_fd),
    ):
        kept: dict[str, tuple[IndexFile, ...]] | None = None
        if scan.kept_files is not None:
            kept = scan.kept_files.pop(work.todo[position].canonical_name, None)
        _send(sock, ("result", position, result, kept))
    failed = scan.cache is not None and scan.cache.write_failed
    _send(sock, ("done", stats, failed))
    loop.remove_reader(sock.fileno())


def _send(sock: socket.socket, message: object) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_FRAME.pack(len(body)) + body)
