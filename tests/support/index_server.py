"""An in-process PEP 503 / PEP 691 package index on 127.0.0.1, with instrumentation
and fault injection, for tests.

The server runs aiohttp.web on its own event loop in a background thread and serves
an in-memory catalogue::

    server = IndexServer().start()          # or the `index_server` pytest fixture
    server.add(build_wheel(tmp, "foo", "1.0"), upload_time="2024-01-02T03:04:05Z")
    pipfresh(..., index_url=server.url)     # http://127.0.0.1:PORT/simple
    assert server.count("foo") == 1 and server.peak_in_flight <= 10
    server.stop()

Endpoints
    ``/simple/``                 project list (HTML or JSON)
    ``/simple/<name>/``          project page; PEP 691 content negotiation on ``Accept``
                                 (q-values honoured; JSON, v1 HTML or text/html; 406 when
                                 nothing acceptable). Non-normalised names and a missing
                                 trailing slash get a 301 to the normalised URL, as PyPI.
    ``/files/<filename>``        the file; ``/files/<filename>.metadata`` its PEP 658
                                 core metadata (wheels). Files honour a single-range
                                 ``Range`` header (``bytes=a-b``, ``a-``, ``-n``) with 206
                                 and ``Content-Range``, or 416 when it is unsatisfiable;
                                 with ``ranges=False`` the header is ignored (200, whole
                                 file), as by a server without range support.

Instrumentation (thread-safe): per-path request counts, a request log with headers and
response status, requests in flight and their peak, distinct client connections.
:meth:`IndexServer.wait_for` blocks the test thread (bounded) until a condition on
the server holds, so tests never sleep to synchronise.

Concurrency proofs: :meth:`IndexServer.hold_until_in_flight` holds page requests until
``n`` requests are in flight at once (then releases them all), or until ``timeout``
passes with no new arrival (then releases them all and records ``timed_out``). For a
client limited to ``k``:

* ``hold_until_in_flight(k + 1, timeout=0.5)`` timing out with ``peak_in_flight == k``
  proves both halves: the client did have ``k`` requests in flight, and while all of
  them were held it opened no ``k + 1``-th within half a second of the last one.
  Costs the timeout once.
* ``hold_until_in_flight(k)`` reaching its barrier with ``peak_in_flight == k`` proves
  the bound is used, at no cost; it cannot prove the bound is never exceeded (the
  server may finish the first ``k`` before extra requests arrive).

Fault injection: rules select requests by *target*: a project name (its page
``/simple/<normalised>/``) or a path pattern starting with ``/`` (``fnmatch``, e.g.
``/files/*``, ``/simple/*``); ``*`` is every request. Each rule applies ``times``
times (``None``: until removed) and the first matching rule wins, so
``fail("foo", 503, times=2)`` is "two failures, then success". See :class:`Status`,
:class:`Respond`, :class:`ContentType`, :class:`Redirect`, :class:`Stall`,
:class:`Reset` and :class:`Truncate`, or the shortcut methods. :meth:`on_request`
registers a hook that can pick a fault per request (throttling, random failures).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fnmatch
import hashlib
import html
import io
import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from typing import Any, Union

from aiohttp import web
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

__all__ = [
    "HTML_TYPE",
    "HTML_V1_TYPE",
    "JSON_TYPE",
    "ContentType",
    "Drip",
    "Fault",
    "Hold",
    "IndexFile",
    "IndexServer",
    "PypiServer",
    "Redirect",
    "RequestRecord",
    "Reset",
    "Respond",
    "Stall",
    "Status",
    "Stream",
    "Truncate",
    "bomb",
    "negotiate",
    "refused_url",
]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_V1_TYPE = "application/vnd.pypi.simple.v1+html"
HTML_TYPE = "text/html"
_LATEST_JSON = "application/vnd.pypi.simple.latest+json"
_LATEST_HTML = "application/vnd.pypi.simple.latest+html"
API_VERSION = "1.1"

#: Bound on how long any handler waits for anything (stall, hold, disconnect).
MAX_WAIT = 30.0


# --------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexFile:
    """One file in the catalogue, with what the index says about it."""

    filename: str
    project: str  # normalised (PEP 503) name
    version: str | None  # None when the filename does not parse
    data: bytes
    sha256: str  # real digest of ``data``
    hashes: Mapping[str, str]  # advertised digests (may be made wrong on purpose)
    yanked: str | bool = False
    upload_time: str | None = None
    requires_python: str | None = None
    metadata: bytes | None = None  # PEP 658 core metadata; None: not advertised

    @property
    def metadata_sha256(self) -> str | None:
        return None if self.metadata is None else hashlib.sha256(self.metadata).hexdigest()


def _version_of(filename: str) -> tuple[str | None, str | None]:
    """(normalised project name, version) from a wheel or sdist filename, or Nones."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None, None
    return str(name), str(version)


#: METADATA larger than this is not served as a PEP 658 file (see _core_metadata_of).
MAX_SERVED_METADATA = 32 << 20


def _core_metadata_of(filename: str, data: bytes) -> bytes | None:
    """METADATA of a wheel or PKG-INFO of an sdist, or None."""
    try:
        if filename.endswith(".whl"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.namelist():
                    parts = member.split("/")
                    if (
                        len(parts) == 2
                        and parts[0].endswith(".dist-info")
                        and parts[1] == "METADATA"
                    ):
                        # A zip-bomb METADATA (a hostile wheel under test) is not
                        # inflated here: such a wheel is served without PEP 658.
                        with archive.open(member) as handle:
                            text = handle.read(MAX_SERVED_METADATA + 1)
                        return text if len(text) <= MAX_SERVED_METADATA else None
        elif filename.endswith((".tar.gz", ".tgz")):
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                for tar_member in archive.getmembers():
                    parts = tar_member.name.split("/")
                    if len(parts) == 2 and parts[1] == "PKG-INFO":
                        extracted = archive.extractfile(tar_member)
                        return extracted.read() if extracted else None
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError):
        return None
    return None


def _sort_key(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


# --------------------------------------------------------------------------------------
# Content negotiation (PEP 691)
# --------------------------------------------------------------------------------------


def _parse_accept(header: str) -> list[tuple[str, float, int]]:
    ranges: list[tuple[str, float, int]] = []
    for position, item in enumerate(header.split(",")):
        parts = [part.strip() for part in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        quality = 1.0
        for parameter in parts[1:]:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        ranges.append((media, quality, position))
    return ranges


def _media_matches(media_range: str, offered: str) -> bool:
    if media_range in {"*/*", "*"}:
        return True
    if media_range.endswith("/*"):
        return offered.split("/", maxsplit=1)[0] == media_range[:-2]
    if media_range == _LATEST_JSON:
        return offered == JSON_TYPE
    if media_range == _LATEST_HTML:
        return offered == HTML_V1_TYPE
    return media_range == offered


def negotiate(accept: str | None) -> str | None:
    """The media type to answer an ``Accept`` header with; None means 406.

    No header (or an empty one) gets ``text/html``, as PyPI does. Among the offered
    types the one with the highest q-value wins (the most specific matching range
    gives an offer its q-value). Ties go to the explicitly named type the client
    listed first, then JSON over v1 HTML over text/html; types matched only through a
    wildcard (``*/*``, ``application/*``) prefer the server default: text/html, v1
    HTML, JSON.
    """
    if not accept or not accept.strip():
        return HTML_TYPE
    ranges = _parse_accept(accept)
    explicit_order = (JSON_TYPE, HTML_V1_TYPE, HTML_TYPE)
    wildcard_order = (HTML_TYPE, HTML_V1_TYPE, JSON_TYPE)
    best: tuple[float, int, int, int] | None = None
    chosen: str | None = None
    for offered in explicit_order:
        matches = [
            (0 if "*" in media else 1, quality, position)
            for media, quality, position in ranges
            if _media_matches(media, offered)
        ]
        if not matches:
            continue
        specificity, quality, position = max(matches, key=lambda m: (m[0], -m[2]))
        if quality <= 0:
            continue
        if specificity:
            key = (quality, 1, -position, -explicit_order.index(offered))
        else:
            key = (quality, 0, 0, -wildcard_order.index(offered))
        if best is None or key > best:
            best, chosen = key, offered
    return chosen


# --------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """Answer with ``status``, ``headers`` and ``body`` (e.g. 404, 500, 503 + Retry-After)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Respond:
    """Answer with an arbitrary body: invalid JSON, non-UTF-8 bytes, HTML that is no index."""

    body: bytes
    content_type: str = JSON_TYPE
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContentType:
    """The normal answer, with its Content-Type replaced."""

    content_type: str


@dataclass(frozen=True)
class Redirect:
    """Redirect to ``location`` (absolute URL or path): loops, other hosts."""

    location: str
    status: int = 302


@dataclass(frozen=True)
class Reset:
    """Reset the connection (TCP RST), before answering or after ``after_bytes`` of body."""

    after_bytes: int | None = None


@dataclass(frozen=True)
class Truncate:
    """Send the headers of the normal answer, then only ``keep`` bytes of the body
    (default: half) and close the connection."""

    keep: int | None = None


class Stall:
    """Hold matching requests until :meth:`release` (or until the client disconnects).

    With ``after_bytes`` the headers and that many body bytes are sent first (a stall
    mid-body); otherwise nothing is sent. Stalled requests count as in flight. After
    :meth:`release` the stall no longer holds anything.
    """

    def __init__(self, after_bytes: int | None = None) -> None:
        self.after_bytes = after_bytes
        self._released = threading.Event()
        self._started = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.stalled = 0  # requests that entered the stall
        self.disconnected = 0  # of those, how many the client abandoned

    def release(self) -> None:
        """Let every stalled request (and later ones) proceed."""
        self._released.set()
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(event.set)

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def wait_started(self, timeout: float = 5.0) -> bool:
        """Block the test thread until a request is stalled; False on timeout."""
        return self._started.wait(timeout)

    async def _hold(self) -> None:
        if self._released.is_set():
            return
        event = asyncio.Event()
        with self._lock:
            self._waiters.append((asyncio.get_running_loop(), event))
            self.stalled += 1
        self._started.set()
        if self._released.is_set():
            return
        try:
            await asyncio.wait_for(event.wait(), MAX_WAIT)
        except asyncio.CancelledError:
            with self._lock:
                self.disconnected += 1
            raise

    def __repr__(self) -> str:
        return f"Stall(after_bytes={self.after_bytes!r}, released={self.released})"


@dataclass(frozen=True)
class Drip:
    """A hostile slow server: the headers at once, then the body (``body``, default the
    normal answer) ``chunk`` bytes every ``interval`` seconds, for at most ``MAX_WAIT``.

    The pause is the server's pacing, the fault itself, not synchronisation.
    """

    interval: float = 1.0
    chunk: int = 1
    body: bytes | None = None
    content_type: str = JSON_TYPE


@dataclass(frozen=True)
class Stream:
    """A huge body generated as it is sent (never held): ``size`` bytes of ``fill``
    repeated, with a Content-Length unless ``chunked``; ``prefix`` comes first.
    Sending stops early when the client goes away."""

    size: int
    prefix: bytes = b""
    fill: bytes = b" "
    chunked: bool = False
    content_type: str = JSON_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)


Fault = Union[Status, Respond, ContentType, Redirect, Reset, Truncate, Stall, Drip, Stream]  # noqa: UP007


@dataclass
class _Rule:
    pattern: str
    fault: Fault
    remaining: int | None


@dataclass
class RequestRecord:
    """One request the server received (``status`` is filled in when answered)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    peer: str
    status: int | None = None

    @property
    def accept(self) -> str | None:
        return self.headers.get("accept")

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


# --------------------------------------------------------------------------------------
# Hold (concurrency barrier)
# --------------------------------------------------------------------------------------


class Hold:
    """A one-shot barrier: matching requests wait until ``n`` requests are in flight.

    If no new request arrives at the barrier for ``timeout`` seconds (the client has
    stopped at its own bound), every held request is released and :attr:`timed_out`
    is set. Measuring the timeout from the last arrival, not the first, keeps a slow
    (loaded) client from timing out the barrier while it is still sending requests.
    """

    def __init__(self, n: int, timeout: float, pattern: str) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.timeout = timeout
        self.pattern = pattern
        self.reached = False
        self.timed_out = False
        self.held = 0  # requests that waited at the barrier
        self._timer: asyncio.TimerHandle | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @property
    def released(self) -> bool:
        return self._done.is_set()

    def release(self) -> None:
        """Release every held request now (and stop holding)."""
        self._done.set()
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(event.set)

    def wait(self, timeout: float = 5.0) -> bool:
        """Block the test thread until the barrier opened (reached or timed out)."""
        return self._done.wait(timeout)

    def _expire(self) -> None:
        if not self._done.is_set():
            self.timed_out = True
            self.release()

    async def _arrive(self, in_flight: int) -> None:
        if self._done.is_set():
            return
        if in_flight >= self.n:
            self.reached = True
            self.release()
            return
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        with self._lock:
            self._waiters.append((loop, event))
            self.held += 1
        if self._timer is not None:  # only touched on the server's loop
            self._timer.cancel()
        self._timer = loop.call_later(self.timeout, self._expire)
        if self._done.is_set():
            return
        await asyncio.wait_for(event.wait(), MAX_WAIT)

    def __repr__(self) -> str:
        return (
            f"Hold(n={self.n}, reached={self.reached}, timed_out={self.timed_out}, "
            f"held={self.held})"
        )


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class IndexServer:
    """A PEP 503/691 index on 127.0.0.1 (random free port) serving an in-memory catalogue.

    ``relative_urls=True`` links files with relative URLs (``../../files/x.whl``)
    instead of absolute ones; ``pep658=False`` stops advertising core metadata;
    ``ranges=False`` ignores ``Range`` headers (both may also be changed while running).
    """

    def __init__(
        self, *, relative_urls: bool = False, pep658: bool = True, ranges: bool = True
    ) -> None:
        self.relative_urls = relative_urls
        self.pep658 = pep658
        self.ranges = ranges
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._files: dict[str, IndexFile] = {}
        self._projects: dict[str, str] = {}  # normalised name -> display name
        self._rules: list[_Rule] = []
        self._hooks: list[Callable[[RequestRecord], Fault | None]] = []
        self._headers: list[tuple[str, dict[str, str]]] = []
        self._etag_patterns: list[str] = []
        self._auth: tuple[str, str] | None = None
        self._hold: Hold | None = None
        self._counts: dict[str, int] = {}
        self._log: list[RequestRecord] = []
        self._connections: set[str] = set()
        self._records: dict[int, RequestRecord] = {}  # id(request) -> record, while in flight
        self._in_flight = 0
        self._peak = 0
        self._stalls: list[Stall] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ----- lifecycle -------------------------------------------------------------------

    def start(self) -> IndexServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(sock))
            except BaseException as error:  # pragma: no cover - reported to start()
                errors.append(error)
                if self._runner is not None:
                    loop.run_until_complete(self._runner.cleanup())
                sock.close()
                loop.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"index-server-{self._port}", daemon=True)
        self._thread.start()
        if not ready.wait(10.0) or errors:
            raise RuntimeError(f"index server failed to start: {errors!r}")
        return self

    async def _serve(self, sock: socket.socket) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.SockSite(self._runner, sock)
        await site.start()

    def stop(self) -> None:
        """Release every hold and stall, close all connections, join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with self._lock:
            hold, stalls = self._hold, list(self._stalls)
        if hold is not None:
            hold.release()
        for stall in stalls:
            stall.release()
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            with contextlib.suppress(Exception):
                future.result(10.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> IndexServer:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----- addresses -------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``"""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The index URL: ``http://127.0.0.1:PORT/simple``"""
        return f"{self.root_url}/simple"

    def url_with_auth(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}/simple"

    def project_url(self, name: str) -> str:
        return f"{self.url}/{canonicalize_name(name)}/"

    def file_url(self, filename: str) -> str:
        return f"{self.root_url}/files/{filename}"

    # ----- catalogue -------------------------------------------------------------------

    def add(
        self,
        path: Path | str,
        *,
        yanked: str | bool = False,
        upload_time: str | None = None,
        requires_python: str | None = None,
        hashes: Mapping[str, str] | None = None,
    ) -> IndexFile:
        """Serve the wheel or sdist at ``path``.

        ``requires_python`` defaults to the file's own ``Requires-Python`` metadata (as
        PyPI does); ``yanked`` is True or a reason; ``upload_time`` is PEP 700's
        ``upload-time`` (e.g. ``"2024-01-02T03:04:05.000000Z"``); ``hashes`` replaces
        the advertised digests (e.g. a wrong sha256 for hash-mismatch tests).
        """
        path = Path(path)
        return self.add_bytes(
            path.name,
            path.read_bytes(),
            yanked=yanked,
            upload_time=upload_time,
            requires_python=requires_python,
            hashes=hashes,
        )

    def add_bytes(
        self,
        filename: str,
        data: bytes,
        *,
        project: str | None = None,
        yanked: str | bool = False,
        upload_time: str | None = None,
        requires_python: str | None = None,
        hashes: Mapping[str, str] | None = None,
    ) -> IndexFile:
        """Serve ``data`` as ``filename``; ``project`` is needed when the name does not parse."""
        parsed_name, version = _version_of(filename)
        name = project or parsed_name
        if name is None:
            raise ValueError(f"cannot tell the project of {filename!r}; pass project=")
        metadata = _core_metadata_of(filename, data)
        if requires_python is None and metadata is not None:
            requires_python = (
                HeaderParser().parsestr(metadata.decode("utf-8", "replace")).get("Requires-Python")
            )
        sha256 = hashlib.sha256(data).hexdigest()
        entry = IndexFile(
            filename=filename,
            project=canonicalize_name(name),
            version=version,
            data=data,
            sha256=sha256,
            hashes=dict(hashes) if hashes is not None else {"sha256": sha256},
            yanked=yanked,
            upload_time=upload_time,
            requires_python=requires_python,
            metadata=metadata if filename.endswith(".whl") else None,
        )
        with self._lock:
            self._files[filename] = entry
            self._projects.setdefault(entry.project, name)
        return entry

    def add_project(self, name: str) -> None:
        """Make a project exist with no files (its page lists nothing)."""
        with self._lock:
            self._projects.setdefault(canonicalize_name(name), name)

    def remove(self, filename: str) -> None:
        with self._lock:
            self._files.pop(filename, None)

    def files(self, project: str | None = None) -> list[IndexFile]:
        with self._lock:
            entries = list(self._files.values())
        if project is not None:
            entries = [e for e in entries if e.project == canonicalize_name(project)]
        return entries

    @property
    def projects(self) -> list[str]:
        with self._lock:
            return sorted(self._projects)

    # ----- instrumentation -------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Requests being handled now. A request leaves just after its last byte was
        written, so right after a client got its answer use ``wait_for``."""
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        with self._lock:
            return self._peak

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests per path (as requested, before any redirect)."""
        with self._lock:
            return dict(self._counts)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    @property
    def connection_count(self) -> int:
        """Distinct client connections (keep-alive reuse keeps this low)."""
        with self._lock:
            return len(self._connections)

    @property
    def total_requests(self) -> int:
        with self._lock:
            return len(self._log)

    def count(self, target: str) -> int:
        """Requests matching a target (a project name = its page, or a path pattern)."""
        pattern = self._pattern(target)
        with self._lock:
            return sum(n for path, n in self._counts.items() if fnmatch.fnmatchcase(path, pattern))

    def reset_stats(self) -> None:
        with self._lock:
            self._counts.clear()
            self._log.clear()
            self._connections.clear()
            self._peak = self._in_flight

    def wait_for(self, predicate: Callable[[IndexServer], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(server)`` holds (checked on every request start and
        end); False when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    # ----- holds, auth, headers --------------------------------------------------------

    def hold_until_in_flight(
        self, n: int, timeout: float = 5.0, *, target: str = "/simple/?*/"
    ) -> Hold:
        """Hold requests matching ``target`` (default: project pages) until ``n``
        requests (of any kind) are in flight at once, or until no new request arrived
        at the barrier for ``timeout`` seconds. Replaces any earlier hold."""
        hold = Hold(n, timeout, self._pattern(target))
        with self._lock:
            previous, self._hold = self._hold, hold
        if previous is not None:
            previous.release()
        return hold

    @property
    def hold_timed_out(self) -> bool:
        with self._lock:
            return self._hold is not None and self._hold.timed_out

    def release_hold(self) -> None:
        with self._lock:
            hold, self._hold = self._hold, None
        if hold is not None:
            hold.release()

    def require_auth(self, user: str | None, password: str = "") -> None:
        """Answer 401 (``WWW-Authenticate: Basic``) to any request without these
        credentials; ``None`` turns the requirement off."""
        with self._lock:
            self._auth = None if user is None else (user, password)

    def set_headers(self, target: str, headers: Mapping[str, str]) -> None:
        """Add ``headers`` to every normal answer matching ``target`` (e.g. ETag,
        Cache-Control, Last-Modified). A matching ``If-None-Match`` / ``If-Modified-Since``
        gets 304."""
        with self._lock:
            self._headers.append((self._pattern(target), dict(headers)))

    def enable_etags(self, target: str = "*") -> None:
        """Send an ETag derived from the body (so it changes with the catalogue)."""
        with self._lock:
            self._etag_patterns.append(self._pattern(target))

    # ----- faults ----------------------------------------------------------------------

    def inject(self, target: str, fault: Fault, *, times: int | None = None) -> Fault:
        """Apply ``fault`` to the next ``times`` requests matching ``target`` (None: all)."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._rules.append(_Rule(self._pattern(target), fault, times))
            if isinstance(fault, Stall):
                self._stalls.append(fault)
        return fault

    def on_request(self, hook: Callable[[RequestRecord], Fault | None]) -> None:
        """Call ``hook`` (on the server thread) for every request before the rules; a
        returned fault is applied. Keep it fast and thread-safe."""
        with self._lock:
            self._hooks.append(hook)

    def clear_faults(self, target: str | None = None) -> None:
        """Remove fault rules (all, or those for ``target``) and hooks (all only)."""
        with self._lock:
            if target is None:
                self._rules.clear()
                self._hooks.clear()
            else:
                pattern = self._pattern(target)
                self._rules = [rule for rule in self._rules if rule.pattern != pattern]

    def fail(
        self,
        target: str,
        status: int,
        *,
        times: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        """Answer ``status`` (``times`` times, then normally). E.g.
        ``fail("foo", 503, times=2, headers={"Retry-After": "0"})``."""
        self.inject(target, Status(status, dict(headers or {}), body), times=times)

    def stall(
        self, target: str, *, after_bytes: int | None = None, times: int | None = None
    ) -> Stall:
        """Hold answers until the returned :class:`Stall` is released or the client leaves."""
        stall = Stall(after_bytes)
        self.inject(target, stall, times=times)
        return stall

    def reset(
        self, target: str, *, after_bytes: int | None = None, times: int | None = None
    ) -> None:
        self.inject(target, Reset(after_bytes), times=times)

    def truncate(self, target: str, *, keep: int | None = None, times: int | None = None) -> None:
        self.inject(target, Truncate(keep), times=times)

    def respond(
        self,
        target: str,
        body: bytes,
        *,
        content_type: str = JSON_TYPE,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        self.inject(target, Respond(body, content_type, status, dict(headers or {})), times=times)

    def invalid_json(self, target: str, *, times: int | None = None) -> None:
        self.respond(target, b'{"meta": {"api-version": "1.0"}, "name": ', times=times)

    def wrong_content_type(
        self, target: str, content_type: str = "text/plain", *, times: int | None = None
    ) -> None:
        self.inject(target, ContentType(content_type), times=times)

    def drip(
        self,
        target: str,
        *,
        interval: float = 1.0,
        chunk: int = 1,
        body: bytes | None = None,
        times: int | None = None,
    ) -> None:
        """Send the answer ``chunk`` bytes every ``interval`` seconds (see :class:`Drip`)."""
        self.inject(target, Drip(interval, chunk, body), times=times)

    def stream(
        self,
        target: str,
        size: int,
        *,
        prefix: bytes = b"",
        chunked: bool = False,
        content_type: str = JSON_TYPE,
        headers: Mapping[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer with a generated body of ``size`` bytes (see :class:`Stream`)."""
        fault = Stream(size, prefix, b" ", chunked, content_type, dict(headers or {}))
        self.inject(target, fault, times=times)

    def redirect(
        self, target: str, location: str, *, status: int = 302, times: int | None = None
    ) -> None:
        self.inject(target, Redirect(location, status), times=times)

    # ----- internals: request handling --------------------------------------------------

    @staticmethod
    def _pattern(target: str) -> str:
        if target == "*":
            return "*"
        if target.startswith("/"):
            return target
        return f"/simple/{canonicalize_name(target)}/"

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers={key.lower(): value for key, value in request.headers.items()},
            peer=f"{peer[0]}:{peer[1]}" if peer else "?",
        )
        with self._changed:
            self._log.append(record)
            self._counts[record.path] = self._counts.get(record.path, 0) + 1
            self._connections.add(record.peer)
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            in_flight = self._in_flight
            hold = self._hold
            self._changed.notify_all()
        self._records[id(request)] = record
        try:
            if hold is not None and fnmatch.fnmatchcase(record.path, hold.pattern):
                await hold._arrive(in_flight)
            response: web.StreamResponse = await handler(request)
            record.status = response.status
            if not response.prepared:
                await response.prepare(request)
            await response.write_eof()
            return response
        finally:
            self._records.pop(id(request), None)
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def _authorized(self, request: web.Request) -> bool:
        with self._lock:
            auth = self._auth
        if auth is None:
            return True
        expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        return request.headers.get("Authorization", "") == expected

    def _take_fault(self, record: RequestRecord) -> Fault | None:
        with self._lock:
            hooks = list(self._hooks)
        for hook in hooks:
            fault = hook(record)
            if fault is not None:
                return fault
        with self._lock:
            for rule in self._rules:
                if fnmatch.fnmatchcase(record.path, rule.pattern):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining == 0:
                            self._rules.remove(rule)
                    return rule.fault
        return None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        record = self._records[id(request)]
        if not self._authorized(request):
            return _response(
                _Reply(
                    401,
                    b"authentication required\n",
                    {
                        "Content-Type": "text/plain",
                        "WWW-Authenticate": 'Basic realm="pipfresh-test"',
                    },
                )
            )
        fault = self._take_fault(record)
        if fault is None:
            return _response(self._answer(request))
        return await self._apply(request, fault)

    async def _apply(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if isinstance(fault, Status):
            headers = {"Content-Type": "text/plain", **fault.headers}
            return _response(_Reply(fault.status, fault.body, headers))
        if isinstance(fault, Respond):
            headers = {"Content-Type": fault.content_type, **fault.headers}
            return _response(_Reply(fault.status, fault.body, headers))
        if isinstance(fault, Redirect):
            return _response(_Reply(fault.status, b"", {"Location": fault.location}))
        reply = self._answer(request)
        if isinstance(fault, ContentType):
            reply.headers["Content-Type"] = fault.content_type
            return _response(reply)
        if isinstance(fault, Stall):
            if fault.after_bytes is None:
                await fault._hold()
                return _response(reply)
            stream = await _start_stream(request, reply, fault.after_bytes)
            await fault._hold()
            await stream.write(reply.body[fault.after_bytes :])
            return stream
        if isinstance(fault, Reset):
            if fault.after_bytes is not None:
                await _start_stream(request, reply, fault.after_bytes)
            return await _abort(request, reset=True)
        if isinstance(fault, Drip):
            return await _drip(request, fault, reply)
        if isinstance(fault, Stream):
            return await _stream(request, fault)
        if isinstance(fault, Truncate):
            keep = len(reply.body) // 2 if fault.keep is None else fault.keep
            await _start_stream(request, reply, min(keep, max(len(reply.body) - 1, 0)))
            return await _abort(request, reset=False)
        raise TypeError(f"unknown fault {fault!r}")  # pragma: no cover

    # ----- internals: normal answers ---------------------------------------------------

    def _answer(self, request: web.Request) -> _Reply:
        path = request.path
        if path in {"/simple", "/simple/"}:
            if path == "/simple":
                return _redirect("/simple/", request.query_string)
            reply = self._root_page(request)
        elif path.startswith("/simple/"):
            name = path[len("/simple/") :].rstrip("/")
            if "/" in name or not name:
                reply = _not_found()
            else:
                normal = canonicalize_name(name)
                if name != normal or not path.endswith("/"):
                    return _redirect(f"/simple/{normal}/", request.query_string)
                reply = self._project_page(request, normal)
        elif path.startswith("/files/"):
            reply = self._file(path[len("/files/") :])
        else:
            reply = _not_found()
        if reply.status == 200:
            self._decorate(request, reply)
        if reply.status == 200 and path.startswith("/files/") and self.ranges:
            reply = _ranged(reply, request.headers.get("Range"))
        return reply

    def _decorate(self, request: web.Request, reply: _Reply) -> None:
        with self._lock:
            extra = [h for p, h in self._headers if fnmatch.fnmatchcase(request.path, p)]
            etag = any(fnmatch.fnmatchcase(request.path, p) for p in self._etag_patterns)
        for headers in extra:
            reply.headers.update(headers)
        if etag and "ETag" not in reply.headers:
            digest = hashlib.sha256(reply.body + reply.headers["Content-Type"].encode())
            reply.headers["ETag"] = f'"{digest.hexdigest()[:32]}"'
        if _not_modified(request, reply.headers):
            reply.status, reply.body = 304, b""

    def _root_page(self, request: web.Request) -> _Reply:
        media = negotiate(request.headers.get("Accept"))
        if media is None:
            return _not_acceptable()
        names = self.projects
        if media == JSON_TYPE:
            document = {
                "meta": {"api-version": API_VERSION},
                "projects": [{"name": n} for n in names],
            }
            return _Reply(200, json.dumps(document).encode(), _typed(media))
        links = "\n".join(f'<a href="/simple/{n}/">{html.escape(n)}</a><br />' for n in names)
        return _Reply(200, _html_document("Simple index", links), _typed(media))

    def _project_page(self, request: web.Request, name: str) -> _Reply:
        with self._lock:
            known = name in self._projects
            entries = sorted(
                (e for e in self._files.values() if e.project == name),
                key=lambda e: (_sort_key(e.version or ""), e.filename),
            )
        if not known:
            return _not_found()
        media = negotiate(request.headers.get("Accept"))
        if media is None:
            return _not_acceptable()
        if media == JSON_TYPE:
            return _Reply(200, self._json_page(name, entries), _typed(media))
        return _Reply(200, self._html_page(name, entries), _typed(media))

    def _href(self, filename: str) -> str:
        if self.relative_urls:
            return f"../../files/{filename}"
        return self.file_url(filename)

    def _json_page(self, name: str, entries: Iterable[IndexFile]) -> bytes:
        files: list[dict[str, object]] = []
        versions: set[str] = set()
        for entry in entries:
            if entry.version is not None:
                versions.add(entry.version)
            item: dict[str, object] = {
                "filename": entry.filename,
                "url": self._href(entry.filename),
                "hashes": dict(entry.hashes),
            }
            if entry.requires_python is not None:
                item["requires-python"] = entry.requires_python
            item["yanked"] = entry.yanked
            if self.pep658 and entry.metadata is not None:
                item["core-metadata"] = {"sha256": entry.metadata_sha256}
                item["dist-info-metadata"] = {"sha256": entry.metadata_sha256}
            item["size"] = len(entry.data)
            if entry.upload_time is not None:
                item["upload-time"] = entry.upload_time
            files.append(item)
        document = {
            "meta": {"api-version": API_VERSION},
            "name": name,
            "versions": sorted(versions, key=_sort_key),
            "files": files,
        }
        return json.dumps(document).encode()

    def _html_page(self, name: str, entries: Iterable[IndexFile]) -> bytes:
        anchors: list[str] = []
        for entry in entries:
            href = self._href(entry.filename)
            algorithm = "sha256" if "sha256" in entry.hashes else next(iter(entry.hashes), None)
            if algorithm is not None:
                href += f"#{algorithm}={entry.hashes[algorithm]}"
            attributes = [f'href="{html.escape(href)}"']
            if entry.requires_python is not None:
                attributes.append(f'data-requires-python="{html.escape(entry.requires_python)}"')
            if entry.yanked is not False:
                reason = "" if entry.yanked is True else str(entry.yanked)
                attributes.append(f'data-yanked="{html.escape(reason)}"')
            if self.pep658 and entry.metadata is not None:
                value = html.escape(f"sha256={entry.metadata_sha256}")
                attributes.append(f'data-core-metadata="{value}"')
                attributes.append(f'data-dist-info-metadata="{value}"')
            anchors.append(f"<a {' '.join(attributes)}>{html.escape(entry.filename)}</a><br />")
        return _html_document(f"Links for {name}", "\n".join(anchors))

    def _file(self, filename: str) -> _Reply:
        with self._lock:
            entry = self._files.get(filename)
            if entry is None and filename.endswith(".metadata"):
                owner = self._files.get(filename[: -len(".metadata")])
                if owner is not None and owner.metadata is not None and self.pep658:
                    return _Reply(200, owner.metadata, {"Content-Type": "application/octet-stream"})
        if entry is None:
            return _not_found()
        return _Reply(200, entry.data, {"Content-Type": "application/octet-stream"})


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _typed(media: str) -> dict[str, str]:
    content_type = f"{media}; charset=utf-8" if media == HTML_TYPE else media
    return {"Content-Type": content_type, "Vary": "Accept"}


def _html_document(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{body}\n  </body>\n</html>\n"
    ).encode()


def _not_found() -> _Reply:
    return _Reply(404, b"404 Not Found\n", {"Content-Type": "text/plain"})


def _not_acceptable() -> _Reply:
    return _Reply(406, b"406 Not Acceptable\n", {"Content-Type": "text/plain"})


def _redirect(location: str, query: str) -> _Reply:
    if query:
        location = f"{location}?{query}"
    return _Reply(301, b"", {"Location": location})


def _not_modified(request: web.Request, headers: Mapping[str, str]) -> bool:
    etag = headers.get("ETag")
    if etag is not None and "If-None-Match" in request.headers:
        wanted = [tag.strip() for tag in request.headers["If-None-Match"].split(",")]
        return "*" in wanted or etag in wanted or f"W/{etag}" in wanted
    last_modified = headers.get("Last-Modified")
    since = request.headers.get("If-Modified-Since")
    return last_modified is not None and since is not None and since == last_modified


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _ranged(reply: _Reply, header: str | None) -> _Reply:
    """The part of ``reply`` that a single-range ``Range`` header asks for (RFC 9110
    section 14): 206 with Content-Range, or 416 when no byte of it exists. Several
    ranges or a malformed header are ignored (200, the whole body), as the RFC allows."""
    reply.headers["Accept-Ranges"] = "bytes"
    match = _RANGE.fullmatch((header or "").strip())
    if match is None or match.group(1) == match.group(2) == "":
        return reply
    size = len(reply.body)
    first_text, last_text = match.groups()
    if first_text:
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
        if last_text and int(last_text) < first:
            return reply  # invalid: ignored
    else:
        first, last = max(size - int(last_text), 0), size - 1
    if first >= size or first > last:
        headers = {"Content-Type": "text/plain", "Content-Range": f"bytes */{size}"}
        return _Reply(416, b"416 Range Not Satisfiable\n", headers)
    headers = {**reply.headers, "Content-Range": f"bytes {first}-{last}/{size}"}
    return _Reply(206, reply.body[first : last + 1], headers)


def _response(reply: _Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


async def _start_stream(request: web.Request, reply: _Reply, first: int) -> web.StreamResponse:
    stream = web.StreamResponse(status=reply.status, headers=reply.headers)
    stream.content_length = len(reply.body)
    await stream.prepare(request)
    if first:
        await stream.write(reply.body[:first])
    return stream


async def _abort(request: web.Request, *, reset: bool) -> web.StreamResponse:
    """Close the connection (RST when ``reset``) and wait for aiohttp to cancel us."""
    transport = request.transport
    if transport is not None:
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()
    # handler_cancellation=True: losing the connection cancels this handler.
    await asyncio.wait_for(asyncio.Event().wait(), MAX_WAIT)
    raise AssertionError("connection was not closed")  # pragma: no cover


# --------------------------------------------------------------------------------------
# pypiserver: a real third-party index (PEP 503 HTML only), run as a subprocess
# --------------------------------------------------------------------------------------


class PypiServer:
    """pypiserver serving the files in ``root`` on 127.0.0.1.

    pypiserver cannot report the port it got for ``-p 0``, so a free port is picked
    and, should the server exit (the port was taken meanwhile), another is tried.
    Readiness is found by polling ``/health`` a bounded number of times.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("pypiserver not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple"

    def add(self, path: Path) -> Path:
        """Copy a distribution into the served folder (visible to the next request)."""
        return Path(shutil.copy2(path, self.root / path.name))

    def start(self, env: Mapping[str, str] | None = None) -> PypiServer:
        for _attempt in range(3):
            port = _free_port()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pypiserver",
                    "run",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--authenticate",
                    ".",
                    "--passwords",
                    ".",
                    "--disable-fallback",
                    "--backend",
                    "simple-dir",
                    "--log-stream",
                    "none",
                    str(self.root),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
            )
            for _poll in range(200):  # at most about 10 s
                if _answers(f"http://127.0.0.1:{port}/health"):
                    self._process, self._port = process, port
                    return self
                try:
                    process.wait(timeout=0.05)  # returns at once if the server died
                except subprocess.TimeoutExpired:
                    continue
                break
            _stop_process(process)
        raise RuntimeError("pypiserver did not start")

    def stop(self) -> None:
        if self._process is not None:
            _stop_process(self._process)
            self._process = None

    def __enter__(self) -> PypiServer:
        return self if self._process is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:  # URLError is an OSError
        return False


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def _drip(request: web.Request, fault: Drip, reply: _Reply) -> web.StreamResponse:
    body = reply.body if fault.body is None else fault.body
    headers = dict(reply.headers) if fault.body is None else {"Content-Type": fault.content_type}
    stream = web.StreamResponse(status=200, headers=headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    deadline = time.monotonic() + MAX_WAIT
    for start in range(0, len(body), fault.chunk):
        if time.monotonic() > deadline:
            break
        await stream.write(body[start : start + fault.chunk])
        await asyncio.sleep(fault.interval)  # the drip itself
    return stream


async def _stream(request: web.Request, fault: Stream) -> web.StreamResponse:
    stream = web.StreamResponse(
        status=200, headers={"Content-Type": fault.content_type, **fault.headers}
    )
    if fault.chunked:
        stream.enable_chunked_encoding()
    else:
        stream.content_length = len(fault.prefix) + fault.size
    await stream.prepare(request)
    await stream.write(fault.prefix)
    block = (fault.fill * (65536 // len(fault.fill) + 1))[:65536]
    sent = 0
    while sent < fault.size:  # a client that leaves makes write() raise
        part = block[: fault.size - sent]
        await stream.write(part)
        sent += len(part)
    return stream


def bomb(encoding: str, decoded_size: int) -> bytes:
    """A compression bomb: ``decoded_size`` zero bytes (a multiple of 1 MiB) as a
    ``gzip``, ``deflate`` (zlib format) or ``deflate-raw`` body, about 1/1000 of that
    size, built in well under a second per GiB (one compressed MiB, repeated: a full
    flush makes the blocks independent of what came before)."""
    import zlib

    mib = bytes(1 << 20)
    count, rest = divmod(decoded_size, 1 << 20)
    if rest:
        raise ValueError("decoded_size must be a multiple of 1 MiB")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = block * count + compressor.flush(zlib.Z_FINISH)
    if encoding == "deflate-raw":
        return blocks
    crc, adler = 0, 1
    for _ in range(count):
        if encoding == "gzip":
            crc = zlib.crc32(mib, crc)
        else:
            adler = zlib.adler32(mib, adler)
    if encoding == "gzip":
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        return header + blocks + struct.pack("<II", crc, decoded_size & 0xFFFFFFFF)
    if encoding == "deflate":
        return b"\x78\xda" + blocks + struct.pack(">I", adler)
    raise ValueError(f"unknown encoding {encoding!r}")


def refused_url() -> str:
    """An index URL on 127.0.0.1 where nothing listens (connection refused).

    The port was free a moment ago; another process could take it meanwhile, which is
    unlikely within one test but not impossible.
    """
    return f"http://127.0.0.1:{_free_port()}/simple"
