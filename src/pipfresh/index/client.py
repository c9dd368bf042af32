"""Fetching project pages: one pooled aiohttp session, a bound on requests in flight, retries.

This is the only module that imports aiohttp. aiohttp was chosen by measurement
(benchmarks/http_clients.py, results in benchmarks/RESULTS.md): on this workload
(a few hundred pages, some of several MB, CPU-bound on 2 cores) it was several times
faster than httpx. Its exceptions are translated here into pipfresh errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import os
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass, url2pathname

import aiohttp

from pipfresh.auth import credentials_for, redact_url, split_auth, url_secrets
from pipfresh.cache import CacheCorrupt
from pipfresh.errors import (
    ConfigError,
    HashMismatch,
    HTTPStatusError,
    IndexError_,
    MalformedPage,
    NetworkError,
    NotFound,
    NotOnAnyIndex,
)
from pipfresh.index.lazywheel import Chunk
from pipfresh.index.limiter import AdaptiveLimit, ByteBudget
from pipfresh.index.limits import (
    ACCEPT_ENCODING,
    IN_MEMORY_WHEEL_BYTES,
    MAX_PAGE_BYTES,
    MIN_DOWNLOAD_RATE,
    REQUEST_DEADLINE_FACTOR,
    RUN_DEADLINE,
    BoundedDecoder,
    DecodeFailed,
    Exceeded,
    TooLarge,
    describe_size,
)
from pipfresh.index.parse import parse_project_page
from pipfresh.index.sources import (
    found,
    is_trusted,
    merge_pages,
    not_found_reason,
    open_regular,
    parse_find_links_filter,
    read_file_index,
    read_find_links_path,
    usable_sources,
)
from pipfresh.models import ProjectPage

if TYPE_CHECKING:
    from pipfresh.cache import CacheEntry
    from pipfresh.pipconfig import IndexConfig

# PEP 691 content negotiation: JSON first (it carries upload times and parses
# fastest), HTML accepted from servers that only speak PEP 503.
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
OVERLOAD_STATUSES = frozenset({429, 503})
MAX_ATTEMPTS = 4
MAX_REFUSED_ATTEMPTS = 8  # 429/503: the server paces us; RETRY_BUDGET still bounds it
MAX_RETRY_AFTER = 10.0  # a longer Retry-After is cut to this: the user is waiting
RETRY_BUDGET = 30.0  # seconds one project may spend on retries
# Bytes of index pages read at once (see ByteBudget), chosen by measurement:
# benchmarks/RESULTS.md, "Page byte budget".
PAGE_BYTES = 8 << 20
UNKNOWN_PAGE_BYTES = 1 << 20  # charged for a page sent without Content-Length
# RFC 9110 section 14.4: "bytes first-last/complete-length" (a "*" length is useless here).
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+)\s*", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Response:
    """What the client keeps of one HTTP answer (200 or 304; 206 or 416 to a range)."""

    status: int
    body: bytes
    content_type: str
    url: str  # after redirects; resolves relative links
    etag: str | None
    last_modified: str | None
    cache_control: str | None
    content_range: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class SourceAnswer:
    """One index's answer for one project: its page (None: it does not know the
    project) and the HTTP response it came from (None for a local index)."""

    location: str
    page: ProjectPage | None
    response: Response | None


@dataclass(frozen=True, slots=True)
class FetchStats:
    """Per-project numbers the scheduler may use later (size and time of the answer)."""

    bytes: int
    seconds: float


def _retry_delay(attempt: int, retry_after: str | None, *, refused: bool = False) -> float:
    """Exponential backoff with jitter; a server's Retry-After wins, capped.

    Retry-After may be seconds or an HTTP date (RFC 9110). A refusal without one
    (429/503) waits longer than a transient fault: rate limits work per second.
    """
    if retry_after is not None:
        seconds = _retry_after_seconds(retry_after)
        if seconds is not None:
            return min(max(seconds, 0.0), MAX_RETRY_AFTER)
    if refused:
        wait: float = random.uniform(0.5, 1.0) * 2 ** (attempt - 1)
        return min(wait, MAX_RETRY_AFTER)
    return random.uniform(0.05, 0.1 * (2**attempt))


def _retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() - time.time()


@functools.lru_cache(maxsize=4)
def tls_context(cert: str | None, client_cert: str | None) -> ssl.SSLContext | bool:
    """The TLS settings for a run; loading a CA bundle costs ~20 ms, so it is done once
    (and, for the CLI, in the background while the target is inspected).

    ``True`` means aiohttp's own verifying context (the system's CA certificates),
    which aiohttp builds at import: no second copy is loaded.
    """
    if cert is None and client_cert is None:
        return True
    return make_ssl_context(cert, client_cert)


def make_ssl_context(cert: str | None, client_cert: str | None) -> ssl.SSLContext:
    """TLS verification always on; a custom CA bundle (pip's ``cert``) replaces the default.

    Raises ConfigError naming the setting when a certificate file cannot be used.
    """
    try:
        context = ssl.create_default_context(cafile=cert) if cert else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cert {cert}: {_ssl_reason(exc)}") from exc
    if client_cert:
        try:
            context.load_cert_chain(client_cert)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"client-cert {client_cert}: {_ssl_reason(exc)}") from exc
    return context


def _ssl_reason(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"not a usable PEM certificate ({exc.reason or exc})"
    return exc.strerror or str(exc)


class IndexClient:
    """Answers "what does every configured index offer for project X?".

    Use as an async context manager; one instance per run, so connections are
    pooled and reused across projects.
    """

    def __init__(
        self,
        config: IndexConfig,
        *,
        concurrency: int,
        user_agent: str,
        on_request: Callable[[str], None] | None = None,
        run_deadline: float | None = RUN_DEADLINE,
        max_page_bytes: int | None = MAX_PAGE_BYTES,
        offline: bool = False,
    ) -> None:
        """``run_deadline``: seconds from now after which page and metadata requests
        fail at once (None: no bound); ``max_page_bytes``: decoded bytes a page may
        have. Each request must also finish within REQUEST_DEADLINE_FACTOR times the
        configured timeout (none with timeout 0, pip's "no limit"). ``offline``: every
        request fails with :class:`NetworkError` before a connection is made; local
        files are still read."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._offline = offline
        self._run_deadline = run_deadline
        self._run_end = None if run_deadline is None else time.monotonic() + run_deadline
        self._max_page_bytes = max_page_bytes
        timeout = config.timeout
        self._request_deadline = REQUEST_DEADLINE_FACTOR * timeout if timeout else None
        self._config = config
        self._concurrency = concurrency
        self._user_agent = user_agent
        self.limit = AdaptiveLimit(concurrency)
        self._pages = ByteBudget(PAGE_BYTES, unknown_size=UNKNOWN_PAGE_BYTES)
        self.retries = 0
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool = True
        usable = usable_sources(config)
        self.warnings = list(usable.warnings)
        self._index_urls = usable.index_urls
        self._find_links = usable.find_links
        # Proxies from the environment (HTTPS_PROXY, NO_PROXY, ...), read once: aiohttp's
        # trust_env would re-read them, and ~/.netrc, on every request.
        self._proxies = getproxies()
        self._secrets = tuple(
            secret for url in (*self._index_urls, *self._find_links) for secret in url_secrets(url)
        )
        self._find_links_pages: dict[str, asyncio.Task[ProjectPage | None]] = {}
        self._on_request = on_request
        self._bytes: dict[str, int] = {}
        self.stats: dict[str, FetchStats] = {}

    async def __aenter__(self) -> IndexClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _proxy_for(self, url: str) -> str | None:
        parts = urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        if proxy is None or proxy_bypass(parts.hostname or ""):
            return None
        return proxy

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._ssl = tls_context(self._config.cert, self._config.client_cert)
            connector = aiohttp.TCPConnector(
                limit=self._concurrency, ttl_dns_cache=300, ssl=self._ssl
            )
            # pip's timeout 0 means "no limit".
            limit = self._config.timeout or None
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=limit, sock_read=limit)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                headers={"User-Agent": self._user_agent},
                # Bodies are decoded by limits.BoundedDecoder, within their limit:
                # aiohttp would inflate whatever a chunk holds.
                auto_decompress=False,
                trust_env=False,
            )
        return self._session

    async def fetch_project(self, name: str) -> ProjectPage:
        """Every file that any configured index or find-links location offers for ``name``."""
        page, _ = await self.fetch(name)
        return page

    async def fetch(
        self,
        name: str,
        cached: Mapping[str, CacheEntry] | None = None,
        *,
        conditional: bool = True,
    ) -> tuple[ProjectPage, list[SourceAnswer]]:
        """The merged page for ``name`` and each index's own answer (for the cache).

        Indexes are merged as pip merges them: all files from all sources count. A
        404 from one index is normal; any other failure fails the project, because a
        partial answer could report an older release as the newest. ``cached`` holds
        stale cache entries per index URL: their validators make the requests
        conditional, and a 304 answers with the cached page.
        """
        started = time.perf_counter()
        cached = cached or {}
        jobs = [
            self._fetch_index(url, name, cached.get(url) if conditional else None)
            for url in self._index_urls
        ]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        finds = [self._fetch_find_links(location, name) for location in self._find_links]
        found_links = await asyncio.gather(*finds, return_exceptions=True)
        answers: list[SourceAnswer] = []
        pages: list[ProjectPage] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            answers.append(result)
            if found(result.page):
                pages.append(result.page)
        for link_page in found_links:
            if isinstance(link_page, BaseException):
                raise link_page
            if found(link_page):
                pages.append(link_page)
        if not pages:
            raise NotOnAnyIndex(
                not_found_reason(self._index_urls, self._find_links),
                project=name,
                missing=tuple(a.location for a in answers if a.page is None),
            )
        self.stats[name] = FetchStats(self._bytes.pop(name, 0), time.perf_counter() - started)
        return merge_pages(name, pages), answers

    async def download(
        self, url: str, *, project: str, sha256: str | None, max_bytes: int | None = None
    ) -> bytes:
        """The file at ``url``, in memory, with the same retries and adaptive bound as
        pages; for small files (METADATA). A wheel goes to disk: :meth:`download_to`.

        When ``sha256`` is given the body must hash to it, else :class:`HashMismatch`
        is raised; a 404/410 raises :class:`NotFound`; a body past ``max_bytes``
        (decoded) raises :class:`TooLarge`.
        """
        shown = redact_url(url)
        if url.startswith("file:"):
            body = _read_local(url, max_bytes, project=project, shown=shown)
        else:
            # Without a bound it is a wheel (the update's): a download, paced by its
            # rate rather than cut at the deadline or the run's end.
            response = await self._get(
                url, project, limit=max_bytes, what="file", streaming=max_bytes is None
            )
            if response is None:
                raise NotFound(f"not found: {shown}", project=project, url=shown)
            body = response.body
        _check_sha256(body, sha256, project=project, shown=shown)
        return body

    async def download_to(
        self,
        url: str,
        dest: Path,
        *,
        project: str,
        sha256: str | None,
        max_bytes: int | None = None,
    ) -> int:
        """Stream the file at ``url`` into ``dest``; returns its size in bytes.

        Never held in memory: written to a temporary file beside ``dest`` as it
        arrives, hashed on the way and renamed into place, so ``dest`` is either
        absent or the whole, checked file. Not fsynced: every caller writes into a
        temporary folder, or into the download cache, whose files are hashed again
        before any use in a later process (:meth:`pipfresh.upgrade.downloads.
        DownloadCache.get`): a file a power cut truncated is found and fetched again,
        and 130 fsyncs cost an update about a second. Retries, auth and TLS as for
        :meth:`download`; the request may outlive its deadline while it keeps
        averaging MIN_DOWNLOAD_RATE. Raises :class:`HashMismatch`,
        :class:`NotFound`, :class:`TooLarge` (past ``max_bytes``) or a network error;
        ``dest`` is then untouched.
        """
        shown = redact_url(url)
        dest = Path(dest)
        temp = dest.parent / f".{dest.name}.{os.getpid()}.{os.urandom(4).hex()}.part"
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            sink = _FileSink(fd)
            if url.startswith("file:"):
                _copy_local(url, sink, max_bytes, project=project, shown=shown)
            else:
                response = await self._get(
                    url, project, limit=max_bytes, what="download", sink=sink
                )
                if response is None:
                    raise NotFound(f"not found: {shown}", project=project, url=shown)
            if sha256 is not None:
                _compare_sha256(sink.sha256.hexdigest(), sha256, project=project, shown=shown)
            os.close(fd)
            fd = -1
            os.replace(temp, dest)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return sink.size

    async def fetch_range(
        self,
        url: str,
        start: int,
        end: int | None = None,
        *,
        project: str,
        sha256: str | None = None,
    ) -> Chunk | None:
        """Bytes ``start:end`` of the file at ``url`` with the file's size, fetched with
        the retries, bound, auth and TLS of :meth:`download`.

        Slice semantics: ``fetch_range(url, -n)`` is the last ``n`` bytes, and asks
        for them with a suffix range, which needs no size. A server that ignores
        ``Range`` answers 200 with the whole file, which is what is returned then. A
        part of a file cannot be hash-checked, but an answer that holds the whole file
        is checked against ``sha256`` as :meth:`download` checks it, so that it can
        stand for a download. None when the server cannot answer this range usably
        (416, or a 206 without a complete ``Content-Range``): download the whole file.
        A 404/410 raises :class:`NotFound`.
        """
        if (start < 0) != (end is None) or (end is not None and not 0 <= start < end):
            raise ValueError(f"not a byte range: {start}:{end}")
        shown = redact_url(url)
        if url.startswith("file:"):
            chunk = _read_local_range(url, start, end, project=project, shown=shown)
        else:
            wanted = f"bytes={start}" if end is None else f"bytes={start}-{end - 1}"
            # identity: a range of a compressed representation is no range of the file.
            headers = {"Range": wanted, "Accept-Encoding": "identity"}
            try:
                # A server ignoring Range sends the whole file: small enough, it stands
                # for a download; else the caller streams the file to disk.
                response = await self._get(
                    url, project, headers, ranged=True, limit=IN_MEMORY_WHEEL_BYTES, what="file"
                )
            except TooLarge:
                return None
            if response is None:
                raise NotFound(f"not found: {shown}", project=project, url=shown)
            if response.status == 200:
                chunk = Chunk(0, response.body, len(response.body))
            elif response.status == 206:
                chunk = _partial_chunk(response)
            else:  # 416: the server cannot serve this range (or the file is empty)
                chunk = None
        if chunk is not None and chunk.whole:
            _check_sha256(chunk.data, sha256, project=project, shown=shown)
        return chunk

    async def _fetch_index(
        self, index_url: str, name: str, entry: CacheEntry | None
    ) -> SourceAnswer:
        page_url = index_url.rstrip("/") + "/" + name + "/"
        if page_url.startswith("file:"):
            return SourceAnswer(index_url, read_file_index(page_url, name), None)
        headers: dict[str, str] = {}
        if entry is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified
        response = await self._get(
            page_url, name, headers or None, page=True, limit=self._max_page_bytes, what="page"
        )
        if response is None:
            return SourceAnswer(index_url, None, None)
        if response.status == 304:
            if entry is None:
                shown = redact_url(page_url)
                raise MalformedPage(
                    f"304 Not Modified to an unconditional request ({shown})",
                    project=name,
                    url=shown,
                )
            try:
                return SourceAnswer(index_url, entry.page(), response)
            except CacheCorrupt:
                # The entry the 304 confirmed is damaged (and now removed): ask again.
                response = await self._get(
                    page_url, name, page=True, limit=self._max_page_bytes, what="page"
                )
                if response is None:
                    return SourceAnswer(index_url, None, None)
        self._bytes[name] = self._bytes.get(name, 0) + len(response.body)
        page = self._parse(response, page_url, name)
        # The body (up to several MB) is not needed past parsing: drop it now rather
        # than when the project's whole answer is done, which bounds peak memory.
        return SourceAnswer(index_url, page, dataclasses.replace(response, body=b""))

    async def _fetch_find_links(self, location: str, name: str) -> ProjectPage | None:
        if "://" not in location:
            return read_find_links_path(location, name)
        if location.startswith("file:"):
            return read_find_links_path(url2pathname(urlsplit(location).path), name)
        # One request per find-links page per run, shared by every project.
        task = self._find_links_pages.get(location)
        if task is None:
            task = asyncio.ensure_future(self._fetch_http(location, None))
            self._find_links_pages[location] = task
        page = await asyncio.shield(task)
        if page is None:
            return None
        return parse_find_links_filter(page, name)

    async def _fetch_http(self, url: str, name: str | None) -> ProjectPage | None:
        """GET a find-links page and parse it; None when there is no such page."""
        project = name or "*"
        response = await self._get(url, project, page=True, limit=self._max_page_bytes, what="page")
        return None if response is None else self._parse(response, url, project)

    def _parse(self, response: Response, url: str, project: str) -> ProjectPage:
        try:
            return parse_project_page(response.body, response.content_type, response.url, project)
        except MalformedPage as exc:
            shown = redact_url(url)
            raise MalformedPage(f"{exc.message} ({shown})", project=project, url=shown) from None

    async def _get(
        self,
        url: str,
        project: str,
        headers: Mapping[str, str] | None = None,
        *,
        ranged: bool = False,
        page: bool = False,
        limit: int | None = None,
        what: str = "answer",
        sink: _Sink | None = None,
        streaming: bool = False,
    ) -> Response | None:
        """One logical GET with bounded retries; None for 404/410.

        Transient failures (connection reset, 5xx, 429, timeouts) are retried with
        jittered exponential backoff, at most MAX_ATTEMPTS times and never past
        RETRY_BUDGET seconds; 429, 503 and timeouts also shrink the adaptive bound.
        ``ranged``: the request carries a Range header, so 206 and 416 are answers.
        ``page``: an index or find-links page, whose body is read within the page
        byte budget (wheel downloads are not: they are network-bound, not CPU-bound).
        ``limit``: decoded bytes the body may have (:class:`TooLarge` past it; the
        body is decoded here, within it, never by aiohttp). ``sink``: where the body
        goes (a streamed download); then the answer's ``body`` is empty.
        ``streaming`` (implied by ``sink``): a download of any size, which may outlive
        its deadline while it keeps up :data:`MIN_DOWNLOAD_RATE`, and to which the
        run deadline does not apply. ``what`` names the body in errors ("page").
        """
        streaming = streaming or sink is not None
        accepted = (200, 206, 304, 416) if ranged else (200, 304)
        shown = redact_url(url)
        if self._offline:
            # The one place every request passes: --offline never connects.
            raise NetworkError(f"not fetched, --offline: {shown}", project=project, url=shown)
        bare_url, auth = split_auth(url)
        if auth is None:
            auth = credentials_for(bare_url, self._index_urls)
        basic = aiohttp.BasicAuth(auth[0], auth[1]) if auth else None
        trusted = is_trusted(bare_url, self._config.trusted_hosts)
        session = self._get_session()
        request_headers = {"Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
        deadline = time.monotonic() + RETRY_BUDGET
        attempt = 0
        while True:
            attempt += 1
            retry_after: str | None = None
            refused = False  # 429/503: the server asks everyone to slow down
            failure: IndexError_
            hard = self._hard_limit(streaming, project, shown)
            async with self.limit.slot() as ticket:
                if self._on_request is not None:
                    self._on_request(project)
                started = time.monotonic()
                try:
                    request = self._attempt(
                        functools.partial(
                            session.get,
                            bare_url,
                            headers=request_headers,
                            auth=basic,
                            proxy=self._proxy_for(bare_url),
                            ssl=False if trusted else self._ssl,
                        ),
                        accepted,
                        page=page,
                        limit=limit,
                        sink=sink,
                        streaming=streaming,
                    )
                    answer = await asyncio.wait_for(request, hard)
                    status = answer.status
                    if status in accepted:
                        self.limit.success()
                        return answer
                    if status in (404, 410):
                        self.limit.success()
                        return None
                    failure = _status_error(status, project, shown)
                    if status not in RETRY_STATUSES:
                        raise failure
                    if status in OVERLOAD_STATUSES:
                        self.limit.overloaded(ticket)
                        retry_after = answer.retry_after
                        refused = True
                except IndexError_:
                    raise
                except Exceeded as exc:
                    raise TooLarge(f"{what} {exc} ({shown})", project=project, url=shown) from None
                except DecodeFailed as exc:
                    raise MalformedPage(f"{exc} ({shown})", project=project, url=shown) from None
                except _TooSlow as exc:
                    self.limit.overloaded(ticket)
                    raise NetworkError(
                        f"download slower than {describe_size(MIN_DOWNLOAD_RATE)}/s past its "
                        f"{exc.seconds:g} s deadline ({REQUEST_DEADLINE_FACTOR} x the "
                        f"{self._config.timeout:g} s timeout) ({shown})",
                        project=project,
                        url=shown,
                    ) from None
                except asyncio.TimeoutError:
                    self.limit.overloaded(ticket)
                    if hard is not None and time.monotonic() - started >= hard - 0.05:
                        # The whole request ran out of time (a drip, or the run's end):
                        # trying again would only spend as long again.
                        raise self._deadline_error(hard, project, shown) from None
                    failure = NetworkError(
                        f"timed out after {self._config.timeout:g} s ({shown})",
                        project=project,
                        url=shown,
                    )
                except aiohttp.ClientSSLError as exc:
                    raise NetworkError(
                        f"TLS error talking to {shown}: {_scrub(str(exc), self._secrets)}"
                        " (use --cert or --trusted-host if this index uses its own certificate)",
                        project=project,
                        url=shown,
                    ) from exc
                except (aiohttp.ClientError, OSError) as exc:
                    failure = NetworkError(
                        f"{_describe(exc, self._secrets)} ({shown})", project=project, url=shown
                    )
            delay = _retry_delay(attempt, retry_after, refused=refused)
            # A refusal is the server pacing us, not a fault: it may take more tries,
            # within the same time budget.
            attempts = MAX_REFUSED_ATTEMPTS if refused else MAX_ATTEMPTS
            if attempt >= attempts or time.monotonic() + delay > deadline:
                raise failure
            if refused:
                self.limit.pause(delay)
            self.retries += 1
            await asyncio.sleep(delay)

    def _hard_limit(self, streaming: bool, project: str, shown: str) -> float | None:
        """Seconds the next attempt may take in all (None: no bound but the reads').

        A page or metadata request gets the request deadline, cut to what is left of
        the run's; a streamed download is bounded by its rate instead (see _attempt).
        """
        if streaming:
            return None
        hard = self._request_deadline
        if self._run_end is not None:
            left = self._run_end - time.monotonic()
            if left <= 0:
                raise NetworkError(
                    f"not asked: the run's network deadline ({self._run_deadline:g} s) "
                    f"had passed ({shown})",
                    project=project,
                    url=shown,
                )
            hard = left if hard is None else min(hard, left)
        return hard

    def _deadline_error(self, seconds: float, project: str, shown: str) -> NetworkError:
        if self._request_deadline is not None and seconds >= self._request_deadline - 0.05:
            why = (
                f"no complete answer within {self._request_deadline:g} s "
                f"({REQUEST_DEADLINE_FACTOR} x the {self._config.timeout:g} s timeout)"
            )
        else:
            why = f"stopped at the run's network deadline ({self._run_deadline:g} s)"
        return NetworkError(f"{why} ({shown})", project=project, url=shown)

    async def _attempt(
        self,
        send: Callable[[], Awaitable[aiohttp.ClientResponse]],
        accepted: tuple[int, ...],
        *,
        page: bool,
        limit: int | None,
        sink: _Sink | None,
        streaming: bool,
    ) -> Response:
        """Send one request and read its answer: the body only for an accepted status.

        The request is made here, not by the caller: a task cancelled before it first
        runs would otherwise leave an unawaited coroutine (a RuntimeWarning on exit)."""
        request = send()
        started = time.monotonic()
        soft = self._request_deadline
        if streaming and soft is not None:
            # A download has no overall bound, but its headers must come in time.
            response = await asyncio.wait_for(request, soft)
        else:
            response = await request
        async with response:
            status = response.status
            body = b""
            content_range = response.headers.get("Content-Range")
            if status in accepted and status in (200, 206):
                if status == 206 and _encoded(response.headers):
                    # A range of a compressed body is no range of the file, and
                    # cannot be decompressed alone: unusable, unread.
                    content_range = None
                else:
                    target = sink if sink is not None else _MemorySink()
                    target.reset()
                    reservation = (
                        self._pages.reserve(response.content_length)
                        if page
                        else contextlib.nullcontext()
                    )
                    # Content-Length counts the bytes on the wire: a compressed page
                    # takes more once decoded, so the budget bounds what is received.
                    async with reservation:
                        await _read_body(
                            response,
                            target,
                            limit,
                            started=started,
                            soft=soft if streaming else None,
                        )
                    if isinstance(target, _MemorySink):
                        body = target.value()
            return Response(
                status=status,
                body=body,
                # Whole: an HTML page's charset parameter matters.
                content_type=response.headers.get("Content-Type", ""),
                url=str(response.url),
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
                cache_control=response.headers.get("Cache-Control"),
                content_range=content_range,
                retry_after=response.headers.get("Retry-After"),
            )


class _Sink(Protocol):
    def reset(self) -> None: ...

    def write(self, data: bytes) -> None: ...


class _MemorySink:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def reset(self) -> None:
        self._parts.clear()

    def write(self, data: bytes) -> None:
        if data:
            self._parts.append(data)

    def value(self) -> bytes:
        return b"".join(self._parts)


class _FileSink:
    """Writes a download into an open file, hashing as it goes; ``reset`` starts over
    (a retried attempt)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.sha256 = hashlib.sha256()
        self.size = 0

    def reset(self) -> None:
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.sha256.update(data)
        self.size += len(data)


class _TooSlow(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"slower than the download rate after {seconds:g} s")
        self.seconds = seconds


async def _read_body(
    response: aiohttp.ClientResponse,
    sink: _Sink,
    limit: int | None,
    *,
    started: float,
    soft: float | None,
) -> None:
    """Stream the raw body through a bounded decoder into ``sink``.

    ``soft``: seconds after which the body must keep averaging MIN_DOWNLOAD_RATE
    (checked as bytes arrive; a read that brings nothing is the read timeout's).
    """
    decoder = BoundedDecoder(response.headers.get("Content-Encoding"), limit)
    length = response.content_length
    if limit is not None and length is not None and length > limit:
        raise Exceeded(limit)  # refused before a byte of it is read
    received = 0
    async for chunk in response.content.iter_any():
        received += len(chunk)
        for part in decoder.feed(chunk):
            sink.write(part)
        if soft is not None:
            elapsed = time.monotonic() - started
            if elapsed > soft and received < MIN_DOWNLOAD_RATE * elapsed:
                raise _TooSlow(soft)
    decoder.finish()


def _check_sha256(body: bytes, sha256: str | None, *, project: str, shown: str) -> None:
    if sha256 is None:
        return
    _compare_sha256(hashlib.sha256(body).hexdigest(), sha256, project=project, shown=shown)


def _compare_sha256(actual: str, sha256: str, *, project: str, shown: str) -> None:
    if actual != sha256.lower():
        raise HashMismatch(
            f"hash mismatch for {shown}: the index says sha256 {sha256}, the file has {actual}",
            project=project,
            url=shown,
            expected=sha256,
            actual=actual,
        )


def _encoded(headers: Mapping[str, str]) -> bool:
    return headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")


def _partial_chunk(response: Response) -> Chunk | None:
    """The bytes of a 206 answer, placed by its Content-Range; None when that header is
    missing (e.g. a multipart answer), has no complete length, or disagrees with the
    body: such an answer cannot be placed in the file."""
    match = _CONTENT_RANGE.fullmatch(response.content_range or "")
    if match is None:
        return None
    first, last, size = (int(group) for group in match.groups())
    if not first <= last < size or len(response.body) != last - first + 1:
        return None
    return Chunk(first, response.body, size)


def _local_path(url: str) -> str:
    return url2pathname(urlsplit(url).path)


def _open_local(url: str, *, project: str, shown: str) -> int:
    """An fd on the regular file a ``file:`` URL names; a device, FIFO or folder is
    refused (opened without blocking, so a FIFO cannot hang the run)."""
    try:
        return open_regular(_local_path(url))
    except OSError as exc:
        raise NotFound(f"cannot read {shown}: {exc.strerror or exc}", project=project) from exc


def _read_local(url: str, limit: int | None, *, project: str, shown: str) -> bytes:
    sink = _MemorySink()
    _copy_local(url, sink, limit, project=project, shown=shown)
    return sink.value()


def _copy_local(url: str, sink: _Sink, limit: int | None, *, project: str, shown: str) -> None:
    fd = _open_local(url, project=project, shown=shown)
    try:
        if limit is not None and os.fstat(fd).st_size > limit:
            raise Exceeded(limit)
        total = 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if limit is not None and total > limit:
                raise Exceeded(limit)  # the file grew while it was read
            sink.write(chunk)
    except Exceeded as exc:
        raise TooLarge(f"file {exc} ({shown})", project=project, url=shown) from None
    except OSError as exc:
        raise NotFound(f"cannot read {shown}: {exc.strerror or exc}", project=project) from exc
    finally:
        os.close(fd)


def _read_local_range(
    url: str, start: int, end: int | None, *, project: str, shown: str
) -> Chunk | None:
    """Bytes ``start:end`` of a local file, as a server honouring Range would send them."""
    fd = _open_local(url, project=project, shown=shown)
    try:
        size = os.fstat(fd).st_size
        first = max(size + start, 0) if end is None else start
        last = size if end is None else min(end, size)
        if first >= last:
            return None
        os.lseek(fd, first, os.SEEK_SET)
        data = os.read(fd, last - first)
    except OSError as exc:
        raise NotFound(f"cannot read {shown}: {exc.strerror}", project=project) from exc
    finally:
        os.close(fd)
    return Chunk(first, data, size) if len(data) == last - first else None


def _status_error(status: int, project: str, shown: str) -> HTTPStatusError:
    hint = ""
    if status in (401, 403):
        hint = " (check the credentials in the index URL, .netrc or your pip config)"
    return HTTPStatusError(
        f"HTTP {status} from {shown}{hint}", project=project, url=shown, status=status
    )


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "****")
    return text


def _describe(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """One line for a network failure, without aiohttp's internals or any password."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        text = f"cannot connect: {exc.os_error.strerror or exc.os_error}"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        text = "server closed the connection"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        text = "response body was cut short"
    elif isinstance(exc, aiohttp.TooManyRedirects):
        text = "too many redirects"
    elif isinstance(exc, aiohttp.ClientResponseError):
        text = f"bad response: {exc.message}"
    else:
        text = str(exc) or type(exc).__name__
    return _scrub(text, secrets)
