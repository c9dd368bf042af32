"""The disk cache of index pages: one file per (index, project), read lazily per release.

Layout under the cache root (the folder names carry the format version, so a new
format starts empty beside the old one and needs no migration)::

    simple-v1/<index key>/<project>.entry   one cached page
    simple-v1/<index key>/index-url          the index URL, for ``pipfresh cache info``
    stats-v1.json                            last page size and fetch time per project

The index key is a short hash of the index URL with its credentials removed, so no
password reaches a path or a file. An entry file is::

    MAGIC | u32 header length | header (msgpack) | release blobs (msgpack, one per release)

The header holds the validators, the server's freshness rules and an index of the
release blobs: the raw version string of each, its length and CRC-32. Files are
grouped by the version in their filename when stored, so a warm scan decodes only
the releases selection looks at instead of every file of every page (measured in
``benchmarks/cache_formats.py``: decoding all ~150,000 files of a 120-project venv
takes over 100 ms, the header plus the newest release of each page a few ms).

When the entry was fetched is the file's modification time: a 304 answer marks an
entry fresh again with one ``os.utime``, which is atomic, instead of rewriting
megabytes. Every write goes to a temporary file in the same folder and is moved
into place with ``os.replace``, so a reader sees the old entry or the new one,
never a mix; that is what lets several processes share one cache without a lock.

A broken cache is never fatal: an unreadable entry is a miss (and is deleted), an
unwritable folder makes writes no-ops and sets :attr:`Cache.write_failed`. The one
exception that can come out is :class:`CacheCorrupt`, from reading a release of an
entry whose header was fine; it means "treat as a miss".
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pipfresh.auth import split_auth
from pipfresh.errors import ConfigError, PipfreshError
from pipfresh.index.parse import version_from_filename
from pipfresh.models import IndexFile, ProjectPage

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = [
    "DEFAULT_MAX_AGE",
    "Cache",
    "CacheControl",
    "CacheCorrupt",
    "CacheEntry",
    "CacheInfo",
    "UnsafeCache",
    "default_cache_dir",
    "index_key",
    "parse_cache_control",
]

DEFAULT_MAX_AGE = 600.0
PAGES_DIR = "simple-v1"
STATS_FILE = "stats-v1.json"
ENTRY_SUFFIX = ".entry"
INDEX_URL_FILE = "index-url"
# The trailing digit is the entry format; bump it (and PAGES_DIR) together.
MAGIC = b"pfcache1"
_LENGTH = struct.Struct("<I")
_PREFIX = len(MAGIC) + _LENGTH.size
_VERSIONED_DIR = re.compile(r"simple-v\d+")
_VERSIONED_STATS = re.compile(r"stats-v\d+\.json")
_PROJECT = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SEPARATORS = re.compile(r"[-_.]+")


class UnsafeCache(ConfigError):
    """The cache folder is not safe to use: another user owns it or may write to it,
    or a symlink stands where a folder is expected. A scan goes on without the cache
    (:attr:`Cache.refused` says why, once); ``cache clear`` refuses."""


class CacheCorrupt(PipfreshError):
    """A release blob of an entry failed its checksum or did not decode.

    Raised only by :class:`CacheEntry`'s lazy readers (``lookup`` itself never
    raises); the entry has already been deleted, so the caller treats the project
    as a cache miss and fetches it.
    """

    def __init__(self, message: str, *, project: str) -> None:
        super().__init__(message)
        self.project = project


# --------------------------------------------------------------------------- headers


@dataclass(frozen=True, slots=True)
class CacheControl:
    """The parts of a response's Cache-Control that a private cache acts on."""

    max_age: float | None = None  # None: the server gave no (usable) max-age
    no_cache: bool = False  # store, but revalidate before every use
    no_store: bool = False  # do not store at all


def parse_cache_control(value: str | None) -> CacheControl:
    """Parse a Cache-Control header (RFC 9111, section 5.2).

    Directive names are case-insensitive and values may be quoted. A max-age that is
    not a non-negative integer, or that appears twice with different values, makes
    the response stale at once, as RFC 9111 advises for invalid freshness data.
    ``no-cache`` with a field list (``no-cache="Set-Cookie"``) is treated like plain
    ``no-cache``: revalidating more often than needed is safe, less often is not.
    """
    if not value:
        return CacheControl()
    max_ages: set[float] = set()
    no_cache = no_store = False
    for directive in value.split(","):
        name, _, argument = directive.partition("=")
        name = name.strip().lower()
        argument = argument.strip().strip('"')
        if name == "max-age":
            max_ages.add(float(argument) if argument.isdigit() else 0.0)
        elif name == "no-cache":
            no_cache = True
        elif name == "no-store":
            no_store = True
    max_age = (max_ages.pop() if len(max_ages) == 1 else 0.0) if max_ages else None
    return CacheControl(max_age=max_age, no_cache=no_cache, no_store=no_store)


# --------------------------------------------------------------------------- names and paths


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$PIPFRESH_CACHE_DIR``, else the platform's user cache folder for pipfresh."""
    if environ is None:
        environ = os.environ
    configured = environ.get("PIPFRESH_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs  # only when needed: it costs a few ms to import

    return Path(platformdirs.user_cache_dir("pipfresh", appauthor=False))


def _bare_index_url(index_url: str) -> str:
    """The index URL without credentials, with the spellings of one index made equal."""
    bare, _ = split_auth(index_url.strip())
    scheme, sep, rest = bare.partition("://")
    if sep:
        host, slash, path = rest.partition("/")
        bare = f"{scheme.lower()}://{host.lower()}{slash}{path}"
    return bare.rstrip("/")


def index_key(index_url: str) -> str:
    """The folder name for an index: 16 hex digits derived from the credential-free URL.

    CRC-32 and Adler-32 side by side rather than SHA-256: hashlib loads OpenSSL,
    a few ms that a warm run would pay for nothing. The key is no security
    boundary (every index URL comes from the user's own configuration), and each
    entry records its index, so two indexes colliding in 64 bits would only evict
    each other's entries, never answer for each other.

    Users of one index with different credentials share its entries; an index whose
    pages differ per user is expected to send ``no-store`` or validators.
    """
    bare = _bare_index_url(index_url).encode("utf-8")
    return f"{zlib.crc32(bare):08x}{zlib.adler32(bare):08x}"


def _canonical(project: str) -> str | None:
    """The PEP 503 name, or None when it cannot be a safe file name."""
    name = _SEPARATORS.sub("-", project.lower())
    return name if _PROJECT.fullmatch(name) else None


# --------------------------------------------------------------------------- entries


class _Header(msgspec.Struct, array_like=True, frozen=True, gc=False):
    index: str  # the index URL, credentials removed (as in the index-url file)
    project: str
    url: str | None  # the page's final URL, credentials removed
    etag: str | None
    last_modified: str | None
    max_age: float | None  # the server's, already reduced by the response's Age
    no_cache: bool
    versions: tuple[str, ...] | None  # PEP 700 list, as the page gave it
    keys: tuple[str, ...]  # raw version string of each release blob; "" = no version
    sizes: tuple[int, ...]
    crcs: tuple[int, ...]
    # False for a digest: only some releases' files were kept (see select.digest_page).
    complete: bool = True
    # True: the index answered 404, it does not know the project (no files kept). Last,
    # with a default, so that entries written before it still read.
    missing: bool = False


class _StoredFile(msgspec.Struct, frozen=True, gc=False):
    """A file as an entry stores it: :class:`IndexFile`'s fields, all decoded.

    IndexFile keeps its hashes and metadata flags as JSON text, which cannot go into
    msgpack as it is; this type gives them their values (and the same field names
    and order the entry format has always had, so old entries still read).
    """

    filename: str
    url: str
    requires_python: str | None = msgspec.field(default=None, name="requires-python")
    yanked: bool | str | None = False
    upload_time: str | None = msgspec.field(default=None, name="upload-time")
    hashes: dict[str, str] | None = None
    size: int | None = None
    core_metadata: bool | dict[str, str] | None = msgspec.field(default=None, name="core-metadata")
    dist_info_metadata: bool | dict[str, str] | None = msgspec.field(
        default=None, name="data-dist-info-metadata"
    )


def _stored(f: IndexFile) -> _StoredFile:
    return _StoredFile(
        f.filename,
        f.url,
        f.requires_python,
        f.yanked,
        f.upload_time,
        f.hashes,
        f.size,
        f.core_metadata,
        f.dist_info_metadata,
    )


def _loaded(f: _StoredFile) -> IndexFile:
    return IndexFile.build(
        f.filename,
        f.url,
        requires_python=f.requires_python,
        yanked=f.yanked,
        upload_time=f.upload_time,
        hashes=f.hashes,
        size=f.size,
        core_metadata=f.core_metadata,
        dist_info_metadata=f.dist_info_metadata,
    )


_header_encoder = msgspec.msgpack.Encoder()
_header_decoder = msgspec.msgpack.Decoder(_Header)
_files_decoder = msgspec.msgpack.Decoder(tuple[_StoredFile, ...])


class CacheEntry:
    """One cached page: its validators and freshness now, and its files on demand.

    ``releases()`` gives the raw version strings the files were grouped by (page
    order); ``files(key)`` reads and decodes one release; ``page()`` everything.
    :meth:`Cache.lookup` reads only the header; an entry larger than its first read
    keeps its file open until :meth:`close` (or until it is dropped, or the ``with``
    block ends), so releases come from the very file the header came from even if
    another process replaces the entry meanwhile. Hold entries briefly: each
    open one is a file descriptor. The readers raise :class:`CacheCorrupt` (and
    delete the entry) when a release fails its checksum.
    """

    __slots__ = ("_body", "_fd", "_header", "_identity", "_path", "_starts", "fetched_at", "fresh")

    def __init__(
        self,
        header: _Header,
        path: Path,
        identity: tuple[int, int],
        body: int | bytes,
        *,
        fd: int | None,
        fetched_at: float,
        fresh: bool,
    ) -> None:
        self._header = header
        self._path = path
        self._identity = identity  # (st_dev, st_ino) of the file the header came from
        self._body = body  # the release blobs, or their offset in the open file
        self._fd = fd
        self._starts: list[int] | None = None
        self.fetched_at = fetched_at
        self.fresh = fresh

    def close(self) -> None:
        """Release the open file, if any; the files already read stay valid."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> CacheEntry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit os may be gone
            self.close()

    @property
    def project(self) -> str:
        return self._header.project

    @property
    def etag(self) -> str | None:
        return self._header.etag

    @property
    def last_modified(self) -> str | None:
        return self._header.last_modified

    @property
    def url(self) -> str | None:
        return self._header.url

    @property
    def missing(self) -> bool:
        """The index said it does not know the project (see :meth:`Cache.store_missing`)."""
        return self._header.missing

    @property
    def versions(self) -> tuple[str, ...] | None:
        return self._header.versions

    def releases(self) -> tuple[str, ...]:
        """Raw version strings of the stored releases, in page order ("" = unversioned)."""
        return self._header.keys

    def files(self, key: str) -> tuple[IndexFile, ...]:
        """The files whose filename carries version ``key`` (empty if none)."""
        header = self._header
        try:
            i = header.keys.index(key)  # a C-level scan: cheaper than building a dict
        except ValueError:
            return ()
        if self._starts is None:
            self._starts = list(accumulate(header.sizes, initial=0))
        blob = self._read(self._starts[i], header.sizes[i])
        return self._decode(blob, header.crcs[i])

    def page(self) -> ProjectPage:
        """Every stored file, release by release, as a :class:`ProjectPage`."""
        header = self._header
        body = memoryview(self._read(0, sum(header.sizes)))
        files: list[IndexFile] = []
        start = 0
        for size, crc in zip(header.sizes, header.crcs, strict=True):
            files.extend(self._decode(body[start : start + size], crc))
            start += size
        return ProjectPage(
            name=header.project,
            files=tuple(files),
            versions=header.versions,
            complete=header.complete,
        )

    def _read(self, start: int, size: int) -> bytes:
        if isinstance(self._body, bytes):
            return self._body[start : start + size]
        if self._fd is None:
            raise CacheCorrupt(f"cache entry for {self.project} was closed", project=self.project)
        try:
            os.lseek(self._fd, self._body + start, os.SEEK_SET)
            data = os.read(self._fd, size)
        except OSError as exc:
            raise CacheCorrupt(
                f"cannot read the cache entry for {self.project}: {exc.strerror}",
                project=self.project,
            ) from None
        if len(data) != size:  # only if something cut the file in place
            raise CacheCorrupt(f"cache entry for {self.project} was cut", project=self.project)
        return data

    def _decode(self, blob: bytes | memoryview, crc: int) -> tuple[IndexFile, ...]:
        if zlib.crc32(blob) == crc:
            try:
                return tuple(_loaded(f) for f in _files_decoder.decode(blob))
            except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
                pass
        _unlink_if_same(self._path, self._identity)
        raise CacheCorrupt(
            f"cache entry for {self.project} is damaged; it was removed", project=self.project
        )


def _encode_entry(header: _Header, blobs: list[bytes]) -> list[bytes]:
    head = _header_encoder.encode(header)
    return [MAGIC, _LENGTH.pack(len(head)), head, *blobs]


def _group_files(page: ProjectPage) -> tuple[list[str], list[bytes]]:
    """Files grouped by the raw version in their filename ("" when it has none), encoded.

    Wheels take a fast path, as in selection: the name part is checked once per
    distinct spelling and the version is the second dash-separated field. It runs
    on every file of every page fetched, where full parsing took 70 % of a store.
    """
    groups: dict[str, list[IndexFile]] = {}
    name_ok: dict[str, bool] = {}
    project = page.name
    for file in page.files:
        filename = file.filename
        key: str
        if filename.endswith(".whl") and filename.count("-") in (4, 5):
            head, _, rest = filename.partition("-")
            ok = name_ok.get(head)
            if ok is None:
                ok = name_ok[head] = version_from_filename(filename, project) is not None
            key = rest.partition("-")[0] if ok else ""
        else:
            key = version_from_filename(filename, project) or ""
        group = groups.get(key)
        if group is None:
            groups[key] = [file]
        else:
            group.append(file)
    return list(groups), [
        _header_encoder.encode([_stored(f) for f in files]) for files in groups.values()
    ]


def _has_credentials(page: ProjectPage) -> bool:
    return any("@" in f.url and split_auth(f.url)[1] is not None for f in page.files)


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """What ``pipfresh cache info`` shows."""

    root: Path
    entries: int
    bytes: int  # every file pipfresh keeps under root, entries and bookkeeping
    projects_by_index: Mapping[str, int]  # credential-free index URL -> cached projects


# --------------------------------------------------------------------------- the cache


class Cache:
    """A folder of cached index pages. Cheap to create; touches the disk only when used.

    ``max_age`` (seconds) is how long a page stays fresh when its server said nothing
    about freshness; a server's ``max-age`` wins over it, ``no-cache`` makes every
    use a revalidation.
    """

    def __init__(self, root: Path, *, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.root = Path(root)
        self.max_age = max_age
        # Set when a write failed (read-only folder, full disk, ...); the caller may
        # say so once. Reads keep working.
        self.write_failed = False
        self._made: set[Path] = set()
        self._indexes: dict[str, tuple[str, Path]] = {}  # index URL -> (bare URL, folder)
        self._stats: dict[str, tuple[int, float]] | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._checked = False
        self._refused: str | None = None
        self._safe_folders: set[Path] = set()
        self._index_checked: dict[str, bool] = {}

    # ----------------------------------------------------------------- ownership

    @property
    def refused(self) -> str | None:
        """Why the cache is not used (one line), or None when it is.

        Checked once, on first use, as pip checks its cache: the folder (its real
        path: a symlinked cache folder is fine) must be a folder owned by the
        current user that no one else may write to. A refused cache is neither read
        nor written: in a folder another user controls, an entry could be planted
        to answer "up to date" for everything, or a journal to make the next update
        install something else.
        """
        if not self._checked:
            self._checked = True
            self._refused = _unsafe(self.root, follow=True)
            if self._refused is not None:
                self._refused = f"not using the cache {self.root}: {self._refused}"
        return self._refused

    def _index_ok(self, index_url: str) -> bool:
        """:meth:`_folder_ok` for an index's folder, remembered by URL (a warm scan
        asks once per project: a Path's hash costs more than the check saves)."""
        ok = self._index_checked.get(index_url)
        if ok is None:
            ok = self._index_checked[index_url] = self._folder_ok(self._index(index_url)[1])
        return ok

    def _folder_ok(self, folder: Path) -> bool:
        """A folder inside the cache: a real folder (no symlink), ours, not writable by
        others, and so are the folders between it and the root; checked once each."""
        if folder in self._safe_folders:
            return True
        if folder.parent not in (self.root, folder) and not self._folder_ok(folder.parent):
            return False  # e.g. simple-v1 itself a symlink
        if _unsafe(folder, follow=False) is not None:
            return False
        self._safe_folders.add(folder)
        return True

    def _make_folder(self, folder: Path) -> bool:
        """Create ``folder`` inside the cache, and the cache folders above it, 0700 (the
        umask may take more away), checking each that already exists."""
        if self.refused is not None:
            return False
        try:
            inside = folder.relative_to(self.root).parts
        except ValueError:
            return False
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            self.root.mkdir(mode=0o700)
        part = self.root
        for name in inside:
            part = part / name
            with contextlib.suppress(FileExistsError):
                part.mkdir(mode=0o700)
            if not self._folder_ok(part):
                return False
        return True

    # ----------------------------------------------------------------- writing off the loop

    def write_in_background(self) -> None:
        """Write entry files from one background thread until :meth:`flush`.

        Creating and renaming a file costs a few tenths of a millisecond of system
        calls, which on a 1,000-project scan is a fifth of a second the event loop
        would stand still; the calls release the GIL, so a thread takes them off the
        loop. One thread, so writes stay in order. Encoding stays on the caller's
        thread: the queue holds only small finished byte strings.
        """
        if self._writer is None:
            from concurrent.futures import ThreadPoolExecutor  # loaded with asyncio anyway

            self._writer = ThreadPoolExecutor(1, thread_name_prefix="pipfresh-cache")

    def flush(self) -> None:
        """Wait for every queued write, then write inline again."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)

    def _commit(self, path: Path, parts: list[bytes], index_url: str, *, mtime: float) -> bool:
        """Write now, or queue the write (then True means "queued")."""
        if self._writer is None:
            return self._write(path, parts, index_url, mtime=mtime)
        self._writer.submit(self._write, path, parts, index_url, mtime=mtime)
        return True

    def _index(self, index_url: str) -> tuple[str, Path]:
        known = self._indexes.get(index_url)
        if known is None:
            known = (_bare_index_url(index_url), self.root / PAGES_DIR / index_key(index_url))
            self._indexes[index_url] = known
        return known

    def _entry_path(self, index_url: str, project: str) -> Path | None:
        name = _canonical(project)
        if name is None:
            return None
        return self._index(index_url)[1] / (name + ENTRY_SUFFIX)

    # ----------------------------------------------------------------- reading

    def lookup(self, index_url: str, project: str, *, now: float) -> CacheEntry | None:
        """The cached page of ``project`` from ``index_url``, fresh or not; None on a miss.

        A stale entry is still returned: its validators make the next request
        conditional, and ``--offline`` may use it. Never raises.
        """
        path = self._entry_path(index_url, project)
        if path is None or self.refused is not None or not self._index_ok(index_url):
            return None
        try:
            fd, st = _open_own(path)
        except OSError:
            return None
        try:
            header, body = _read_header(fd, st.st_size)
        except OSError:
            os.close(fd)
            return None
        identity = (st.st_dev, st.st_ino)
        if header is None or header.project != path.stem:
            os.close(fd)
            _unlink_if_same(path, identity)
            return None
        if header.index != self._index(index_url)[0]:
            os.close(fd)  # another index whose key collides with this one's: a miss
            return None
        if isinstance(body, bytes):  # the whole entry came with the first read
            os.close(fd)
            held: int | None = None
        else:
            held = fd
        fetched_at = st.st_mtime_ns / 1e9
        return CacheEntry(
            header,
            path,
            identity,
            body,
            fd=held,
            fetched_at=fetched_at,
            fresh=self._is_fresh(header, now - fetched_at),
        )

    def _is_fresh(self, header: _Header, age: float) -> bool:
        if header.no_cache or age < 0:
            # A negative age means the clock went back (or the file was touched into
            # the future): the entry's real age is unknown, so it is checked again.
            return False
        limit = self.max_age if header.max_age is None else header.max_age
        return age < limit

    # ----------------------------------------------------------------- writing

    def store(
        self,
        index_url: str,
        project: str,
        page: ProjectPage,
        *,
        fetched_at: float,
        etag: str | None = None,
        last_modified: str | None = None,
        cache_control: str | None = None,
        age: float = 0.0,
        url: str | None = None,
    ) -> bool:
        """Cache ``page`` as ``index_url``'s answer for ``project``; True if it was written
        (or queued, while :meth:`write_in_background` is on).

        ``age`` is the response's Age header (seconds it spent in caches before it
        reached us), ``url`` the page's final URL. Not stored: ``no-store``
        responses, names that cannot be file names, and pages whose file URLs carry
        credentials (a cache file must never hold a password). A failed write sets
        :attr:`write_failed` (after :meth:`flush`, for a queued one) and returns False.
        """
        control = parse_cache_control(cache_control)
        path = self._entry_path(index_url, project)
        if control.no_store or path is None or _has_credentials(page):
            return False
        if self.refused is not None:
            return False
        max_age = None if control.max_age is None else max(control.max_age - age, 0.0)
        keys, blobs = _group_files(page)
        header = _Header(
            index=self._index(index_url)[0],
            project=path.stem,
            url=None if url is None else split_auth(url)[0],
            etag=etag,
            last_modified=last_modified,
            max_age=max_age,
            no_cache=control.no_cache,
            versions=page.versions,
            keys=tuple(keys),
            sizes=tuple(len(b) for b in blobs),
            crcs=tuple(zlib.crc32(b) for b in blobs),
            complete=page.complete,
        )
        return self._commit(path, _encode_entry(header, blobs), index_url, mtime=fetched_at)

    def store_missing(self, index_url: str, project: str, *, fetched_at: float) -> bool:
        """Cache that ``index_url`` does not know ``project`` (it answered 404), fresh
        for as long as a page would be: a warm scan of an environment holding a project
        of its own, on no index, then asks nobody. True if it was written (or queued)."""
        path = self._entry_path(index_url, project)
        if path is None or self.refused is not None:
            return False
        header = _Header(
            index=self._index(index_url)[0],
            project=path.stem,
            url=None,
            etag=None,
            last_modified=None,
            max_age=None,
            no_cache=False,
            versions=(),
            keys=(),
            sizes=(),
            crcs=(),
            missing=True,
        )
        return self._commit(path, _encode_entry(header, []), index_url, mtime=fetched_at)

    def refresh(
        self, index_url: str, project: str, *, now: float, cache_control: str | None = None
    ) -> bool:
        """After a 304: the entry counts as fetched at ``now``. True if it was updated.

        Only the file's modification time changes, which is atomic and costs one
        system call however large the page. When the 304 carries a Cache-Control
        that changes the freshness rules, the header is rewritten (atomically, with
        the whole file); ``no-store`` drops the entry.
        """
        path = self._entry_path(index_url, project)
        if path is None or self.refused is not None or not self._index_ok(index_url):
            return False
        if cache_control is not None:
            control = parse_cache_control(cache_control)
            if control.no_store:
                _unlink(path)
                return False
            entry = self.lookup(index_url, project, now=now)
            if entry is None:
                return False
            old = entry._header
            if (old.max_age, old.no_cache) != (control.max_age, control.no_cache):
                header = msgspec.structs.replace(
                    old, max_age=control.max_age, no_cache=control.no_cache
                )
                with entry:
                    try:
                        body = entry._read(0, sum(old.sizes))
                    except (CacheCorrupt, OSError):
                        return False
                parts = _encode_entry(header, [body])
                return self._commit(path, parts, index_url, mtime=now)
        try:
            os.utime(path, ns=(_ns(now), _ns(now)))
        except FileNotFoundError:
            return False
        except OSError:
            self.write_failed = True
            return False
        return True

    def _write(self, path: Path, parts: list[bytes], index_url: str, *, mtime: float) -> bool:
        folder = path.parent
        temp = folder / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            if folder not in self._made:
                if not self._make_folder(folder):
                    self.write_failed = True
                    return False
                self._note_index_url(folder, index_url)
                self._made.add(folder)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            try:
                with open(fd, "wb") as f:
                    f.writelines(parts)
                os.utime(temp, ns=(_ns(mtime), _ns(mtime)))
                # No fsync: a crash may leave a short file, which reads as a miss.
                os.replace(temp, path)
            except BaseException:
                _unlink(temp)
                raise
        except OSError:
            self.write_failed = True
            return False
        return True

    def _note_index_url(self, folder: Path, index_url: str) -> None:
        target = folder / INDEX_URL_FILE
        if os.path.lexists(target):
            return
        temp = folder / f".{INDEX_URL_FILE}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        temp.write_text(self._index(index_url)[0] + "\n", encoding="utf-8")
        os.replace(temp, target)

    # ----------------------------------------------------------------- statistics

    def _load_stats(self) -> dict[str, tuple[int, float]]:
        if self._stats is None:
            self._stats = {}
            if self.refused is None:
                try:
                    raw = _read_own(self.root / STATS_FILE, _MAX_STATS_BYTES)
                    self._stats = msgspec.json.decode(raw, type=dict[str, tuple[int, float]])
                except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                    pass
        return self._stats

    def written_within(self, seconds: float, *, now: float) -> bool:
        """Whether a networked run finished less than ``seconds`` ago (its statistics
        file says so): a hint that the next scan is likely answered from the cache."""
        try:
            st = (self.root / STATS_FILE).lstat()
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        return 0 <= now - st.st_mtime < seconds

    def priorities(self, names: Iterable[str]) -> dict[str, float]:
        """Expected cost of fetching each project (higher first), from the last run.

        The score is the last fetch time in seconds plus one second per 100 MB of
        page: time is what the tail is made of, size breaks ties between pages that
        came equally fast. A project never seen gets the median of the known
        scores, so it neither jumps the queue nor waits behind everything.
        """
        stats = self._load_stats()
        scores: dict[str, float] = {}
        unknown: list[str] = []
        for name in names:
            known = stats.get(_canonical(name) or name)
            if known is None:
                unknown.append(name)
            else:
                scores[name] = known[1] + known[0] / 1e8
        if unknown:
            values = sorted(scores.values())
            middle = values[len(values) // 2] if values else 0.0
            scores.update(dict.fromkeys(unknown, middle))
        return scores

    def record_stats(self, stats: Mapping[str, tuple[int, float]]) -> bool:
        """Remember (page bytes, fetch seconds) per project for the next run's order.

        Merged into what is there and written atomically; when two runs write at once
        one of them wins, which only costs a slightly older ordering hint.
        """
        if not stats:
            return True
        # Read again rather than trust what this process loaded: another run may have
        # written since.
        self._stats = None
        current = dict(self._load_stats())
        for name, (size, seconds) in stats.items():
            key = _canonical(name)
            if key is not None:
                current[key] = (int(size), round(float(seconds), 4))
        self._stats = current
        if self.refused is not None:
            return False
        path = self.root / STATS_FILE
        temp = self.root / f".{STATS_FILE}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                self.root.mkdir(mode=0o700)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            with open(fd, "wb") as f:
                f.write(msgspec.json.encode(dict(sorted(current.items()))))
            os.replace(temp, path)
        except OSError:
            _unlink(temp)
            self.write_failed = True
            return False
        return True

    # ----------------------------------------------------------------- maintenance

    def _index_folders(self) -> Iterator[Path]:
        """The index folders, never through a symlink (one planted in place of a folder
        is skipped here; :meth:`clear` removes the link itself)."""
        tops = [p for p in _real_folders(self.root) if _VERSIONED_DIR.fullmatch(p.name)]
        for top in tops:
            yield from _real_folders(top)

    def info(self) -> CacheInfo:
        """How many entries the cache holds, for which indexes, and the bytes it uses."""
        entries = total = 0
        by_index: dict[str, int] = {}
        for folder in self._index_folders():
            count = 0
            for path in _files(folder):
                size = _size(path)
                total += size
                if path.suffix == ENTRY_SUFFIX and folder.parent.name == PAGES_DIR:
                    count += 1
            try:
                label = _read_own(folder / INDEX_URL_FILE, 4096).decode("utf-8").strip()
            except (OSError, UnicodeDecodeError):
                label = folder.name
            if folder.parent.name != PAGES_DIR:
                label = f"{label} ({folder.parent.name}, unused)"
            if count or folder.parent.name != PAGES_DIR:
                by_index[label] = by_index.get(label, 0) + count
            entries += count
        total += sum(_size(p) for p in _files(self.root) if _VERSIONED_STATS.fullmatch(p.name))
        return CacheInfo(self.root, entries, total, by_index)

    def clear(self) -> int:
        """Delete every cached page and the statistics; returns the number of entries removed.

        Only files pipfresh writes are removed (the root may be a folder the user
        chose, holding other things), and with them older format versions. Nothing
        is followed: a symlink where a folder or file of the cache should be is
        removed itself, never what it points to. Raises :class:`UnsafeCache` for a
        cache another user owns or may write to.
        """
        if self.refused is not None:
            raise UnsafeCache(f"cache clear: {self.refused}; nothing was removed")
        removed = 0
        for top in _links(self.root):
            if _VERSIONED_DIR.fullmatch(top.name):
                _unlink(top)  # a symlinked simple-vN: the link goes, its target stays
        for top in _real_folders(self.root):
            if _VERSIONED_DIR.fullmatch(top.name):
                for link in _links(top):
                    _unlink(link)
        for folder in list(self._index_folders()):
            current = folder.parent.name == PAGES_DIR  # older formats are not counted
            for path in _files(folder):
                ours = path.name == INDEX_URL_FILE or path.suffix in (ENTRY_SUFFIX, ".tmp")
                if ours and _unlink(path) and current and path.suffix == ENTRY_SUFFIX:
                    removed += 1
            for empty in (folder, folder.parent):
                with contextlib.suppress(OSError):  # not empty: something else lives there
                    empty.rmdir()
        for path in _files(self.root):
            if _VERSIONED_STATS.fullmatch(path.name) or (
                path.name.startswith(".stats-v") and path.suffix == ".tmp"
            ):
                _unlink(path)
        self._stats = None
        self._made.clear()
        self._safe_folders.clear()
        self._index_checked.clear()
        return removed


# --------------------------------------------------------------------------- helpers


# Enough for the header of all but the largest pages, and all of most small entries.
_FIRST_READ = 65536


def _read_header(fd: int, file_size: int) -> tuple[_Header | None, int | bytes]:
    """The header of an entry file, and its release blobs when the first read got them
    all (else their offset in the file).

    The header is None when the file is not a whole entry of the current format:
    wrong magic, cut short, bytes appended, or a header that does not decode.
    """
    data = os.read(fd, _FIRST_READ)
    if len(data) < _PREFIX or data[: len(MAGIC)] != MAGIC:
        return None, 0
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    body = _PREFIX + length
    if body > file_size:
        return None, 0
    while len(data) < body:
        more = os.read(fd, body - len(data))
        if not more:
            return None, 0
        data += more
    try:
        header = _header_decoder.decode(memoryview(data)[_PREFIX:body])
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None, 0
    if (
        len(header.sizes) != len(header.keys)
        or len(header.crcs) != len(header.keys)
        or body + sum(header.sizes) != file_size
    ):
        return None, 0  # truncated, or bytes appended
    if len(data) == file_size:
        return header, data[body:]
    return header, body


def _unlink_if_same(path: Path, identity: tuple[int, int]) -> None:
    """Delete a bad entry, unless another process has already replaced it with a good one."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if (st.st_dev, st.st_ino) == identity:
        _unlink(path)


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True


def _files(folder: Path) -> list[Path]:
    """Regular files and symlinks in ``folder`` (a symlink is only ever unlinked or
    skipped, never read through)."""
    try:
        with os.scandir(folder) as entries:
            return [
                Path(e.path) for e in entries if e.is_file(follow_symlinks=False) or e.is_symlink()
            ]
    except OSError:
        return []


def _real_folders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _links(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(e.path) for e in entries if e.is_symlink()]
    except OSError:
        return []


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_MAX_STATS_BYTES = 16 << 20


# Read once: a process that changes its user keeps the cache it first chose.
_UID: int | None = os.geteuid() if hasattr(os, "geteuid") else None
_GID: int | None = os.getegid() if hasattr(os, "getegid") else None


def _foreign(st: os.stat_result) -> str | None:
    """Why a file or folder of the cache is not ours to trust, or None."""
    me = _UID
    if me is not None and st.st_uid != me:
        return f"owned by uid {st.st_uid}, not by you (uid {me})"
    writable = st.st_mode & 0o022
    if writable & 0o020 and st.st_gid == _GID:
        # Group-writable is the default (umask 002) where each user has a group of
        # their own, as on Debian and Fedora: that group is no one else.
        writable &= ~0o020
    if writable:
        who = {0o020: "its group", 0o002: "others"}.get(writable, "group and others")
        return f"writable by {who} (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _unsafe(folder: Path, *, follow: bool) -> str | None:
    """Why ``folder`` cannot serve as (part of) the cache, or None: a missing folder is
    fine (it will be made, 0700)."""
    try:
        st = os.stat(folder) if follow else os.lstat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None  # writes will fail, and say so through write_failed
    except OSError as exc:
        return f"cannot inspect it ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return "a symlink stands where a folder is expected"
    if not stat.S_ISDIR(st.st_mode):
        return "not a folder"
    return _foreign(st)


def _open_own(path: Path) -> tuple[int, os.stat_result]:
    """An fd on ``path`` (and its stat) if it is a regular file of ours that others
    cannot write; OSError otherwise. Never follows a symlink, never blocks on a FIFO."""
    flags = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or _foreign(st) is not None:
            raise OSError(f"{path}: not a regular file of the current user")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _read_own(path: Path, limit: int) -> bytes:
    fd, _ = _open_own(path)
    try:
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(f"{path}: larger than {limit} bytes")
    return data


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
