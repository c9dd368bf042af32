"""A wheel's METADATA read out of a remote file with a few HTTP range requests.

Planning an update needs the Requires-Dist of candidate wheels. Without PEP 658
``.metadata`` files that meant downloading whole wheels (150 wheels, 270 MB for a
122-package venv), though METADATA is a few KB. A ZIP file is read from its end:
the end-of-central-directory record points to the central directory, which points
to each member. So:

1. Ask for the last :data:`SUFFIX` bytes. A suffix range needs no HEAD to learn the
   size, a small wheel arrives whole, and as ``.dist-info`` is usually written last
   the central directory and METADATA are often both inside.
2. :mod:`zipfile` parses a :class:`SparseFile` holding only the bytes received so
   far; a read of anything else raises :class:`MissingRange`, which names the bytes
   to ask for next (the whole central directory plus :data:`LEAD` bytes before it,
   where METADATA usually sits; then METADATA's exact extent, up to the next member).
3. Fetch them, try again: at most :data:`MAX_FETCHES` requests.

:func:`fetch_metadata` does no I/O itself: it is handed the function that fetches
a range. Anything unexpected (a damaged archive, a server that changes the file
between requests, too many requests) raises :class:`LazyWheelError`, after which
the caller downloads the whole wheel, whose reader reports what is wrong with it.
"""

from __future__ import annotations

import bisect
import os
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: Size of the first (suffix) request, chosen on 128 real PyPI wheels
#: (benchmarks/lazy_metadata.py, RESULTS.md): 117 needed one request, 125 at most
#: two. 64 KiB saved ~25% of the bytes for 8 more wheels needing a second round
#: trip; 256 KiB saved 7 requests for 40% more bytes. A wheel no larger than this
#: arrives whole, and is kept for the install.
SUFFIX = 128 * 1024
#: Bytes fetched before a central directory that was not in the first answer:
#: METADATA sits there, before the rest of .dist-info (RECORD grows with the central
#: directory); it saved a third request for 2 of the 11 wheels that needed a second.
LEAD = 128 * 1024
#: Suffix, central directory, METADATA, and one spare for an odd local header.
MAX_FETCHES = 4
#: Decoded bytes of a METADATA member (limits.MAX_METADATA_BYTES; kept in step by a
#: test, as this module imports nothing of pipfresh's).
MAX_METADATA = 16 << 20

#: ``fetch(start, end)`` returns bytes ``start:end`` of the remote file (slice
#: semantics: ``fetch(-n, None)`` is its last ``n`` bytes), or None when the server
#: cannot answer ranges.
Fetch = Callable[[int, "int | None"], Awaitable["Chunk | None"]]


class LazyWheelError(Exception):
    """The metadata cannot be read by ranges; the whole wheel must be downloaded."""


class MetadataTooLarge(Exception):
    """A wheel's METADATA inflates past the limit: the project errors (no download
    of the whole wheel would read it either)."""

    def __init__(self, member: str, limit: int) -> None:
        super().__init__(f"{member} larger than {limit >> 20} MB decoded")
        self.limit = limit


class MissingRange(Exception):
    """Bytes ``start:end`` are needed and were not fetched yet.

    Not an OSError on purpose: :mod:`zipfile` turns OSErrors from the file into
    "not a zip file", and this must reach the caller unchanged.
    """

    def __init__(self, start: int, end: int) -> None:
        super().__init__(f"bytes {start}:{end} not fetched")
        self.start = start
        self.end = end


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes ``start:start + len(data)`` of a file of ``size`` bytes."""

    start: int
    data: bytes
    size: int

    @property
    def whole(self) -> bool:
        return self.start == 0 and len(self.data) == self.size


@dataclass(frozen=True, slots=True)
class Found:
    """The METADATA text; the whole file when one answer held all of it (the server
    ignored Range, or the wheel is smaller than the suffix asked); the cost."""

    text: str
    whole: bytes | None
    fetches: int
    received: int  # bytes of all answers


class SparseFile:
    """A read-only, seekable file of known size of which only some ranges are known.

    Reading known bytes works as on any file; reading unknown ones raises
    :class:`MissingRange` naming the smallest range that covers every unknown byte
    of that read.
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self.size = size
        self._spans: list[tuple[int, bytes]] = []  # sorted, disjoint, never touching
        self._pos = 0

    def add(self, start: int, data: bytes) -> None:
        """Learn bytes ``start:start + len(data)`` (merged with what is known)."""
        end = start + len(data)
        if start < 0 or end > self.size:
            raise ValueError(f"bytes {start}:{end} lie outside a file of {self.size} bytes")
        if not data:
            return
        low, high = start, end
        merged: list[tuple[int, bytes]] = []
        kept: list[tuple[int, bytes]] = []
        for s, d in self._spans:
            if s + len(d) < low or s > high:
                kept.append((s, d))
            else:
                merged.append((s, d))
                low, high = min(low, s), max(high, s + len(d))
        buffer = bytearray(high - low)
        for s, d in [*merged, (start, data)]:  # the new bytes last: they win
            buffer[s - low : s - low + len(d)] = d
        bisect.insort(kept, (low, bytes(buffer)))
        self._spans = kept

    def missing(self, start: int, end: int) -> tuple[int, int] | None:
        """The smallest range covering every unknown byte of ``start:end`` (clipped to
        the file), or None when all of them are known."""
        end = min(end, self.size)
        first: int | None = None
        last = start
        pos = start
        for s, d in self._spans:
            if pos >= end or s >= end:
                break
            if s + len(d) <= pos:
                continue
            if s > pos:
                first = pos if first is None else first
                last = s
            pos = s + len(d)
        if pos < end:
            first = pos if first is None else first
            last = end
        return None if first is None else (first, last)

    # The file protocol zipfile uses.

    def read(self, n: int = -1, /) -> bytes:
        end = self.size if n < 0 else min(self._pos + n, self.size)
        if self._pos >= end:
            return b""
        gap = self.missing(self._pos, end)
        if gap is not None:
            raise MissingRange(*gap)
        s, d = next((s, d) for s, d in self._spans if s <= self._pos < s + len(d))
        data = d[self._pos - s : end - s]
        self._pos = end
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if pos < 0:
            # As a real file does: zipfile expects OSError for a seek before the start.
            raise OSError(22, "Invalid argument")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


def read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, *, limit: int) -> bytes:
    """The bytes of ``member``, inflating no more than ``limit`` bytes of it: a zip
    bomb (a METADATA of a few KB that inflates to gigabytes) raises
    :class:`MetadataTooLarge` without taking the memory. The declared size is
    checked first; a member that lies about it is still cut at ``limit``, as
    zipfile's reads are incremental."""
    if member.file_size > limit:
        raise MetadataTooLarge(member.filename, limit)
    with archive.open(member) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise MetadataTooLarge(member.filename, limit)
    return data


def read_metadata(file: SparseFile, *, lead: int = LEAD, limit: int = MAX_METADATA) -> str:
    """The ``<name>.dist-info/METADATA`` of the wheel in ``file`` (exactly one, at
    depth 1, as :func:`pipfresh.planning.metadata_from_wheel` requires).

    Raises :class:`MissingRange` naming the bytes to fetch next, :class:`LazyWheelError`
    when the known bytes are no usable wheel.
    """
    try:
        archive = zipfile.ZipFile(file)
    except MissingRange as gap:
        # zipfile reads the central directory in one read: fetch it whole, with the
        # ``lead`` bytes before it, where METADATA usually is.
        raise MissingRange(max(gap.start - lead, 0), gap.end) from None
    except Exception as exc:
        # zipfile raises a dozen types on damaged input (BadZipFile, struct.error,
        # EOFError, ValueError, ...); the whole download will name the problem.
        raise LazyWheelError(f"not a readable wheel: {exc}") from exc
    with archive:
        try:
            member = _only_metadata(archive)
            absent = file.missing(*_extent(archive, member, file.size))
            if absent is not None:
                raise MissingRange(*absent)
            return read_member(archive, member, limit=limit).decode("utf-8")
        except (MissingRange, LazyWheelError, MetadataTooLarge):
            raise
        except Exception as exc:
            raise LazyWheelError(f"cannot read the metadata: {exc}") from exc


def _only_metadata(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    found = [
        info
        for info in archive.infolist()
        if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
    ]
    if len(found) != 1:
        raise LazyWheelError(f"{len(found)} .dist-info/METADATA files, not one")
    return found[0]


def _extent(archive: zipfile.ZipFile, member: zipfile.ZipInfo, size: int) -> tuple[int, int]:
    """Where ``member`` lies: its local header, name and extra field (whose lengths the
    central directory does not tell), data and data descriptor run up to the next
    member or the central directory."""
    start = member.header_offset
    after = [i.header_offset for i in archive.infolist() if i.header_offset > start]
    return start, min([*after, archive.start_dir, size])


async def fetch_metadata(
    fetch: Fetch,
    *,
    suffix: int = SUFFIX,
    lead: int = LEAD,
    max_fetches: int = MAX_FETCHES,
) -> Found | None:
    """METADATA of the remote wheel that ``fetch`` reads, or None when the server
    cannot answer ranges. Raises :class:`LazyWheelError` as :func:`read_metadata`
    does, when the file changes size between answers, and after ``max_fetches``
    requests; :class:`MetadataTooLarge` for a METADATA that inflates past the
    limit; errors raised by ``fetch`` pass through.
    """
    chunk = await fetch(-suffix, None)
    if chunk is None:
        return None
    file = SparseFile(chunk.size)
    whole: bytes | None = None
    fetches = received = 0
    while True:
        fetches += 1
        received += len(chunk.data)
        if chunk.size != file.size:
            raise LazyWheelError(
                f"the file changed between requests ({file.size} bytes, then {chunk.size})"
            )
        try:
            file.add(chunk.start, chunk.data)
        except ValueError as exc:
            raise LazyWheelError(str(exc)) from None
        if chunk.whole:
            whole = chunk.data
        try:
            return Found(read_metadata(file, lead=lead), whole, fetches, received)
        except MissingRange as gap:
            if fetches >= max_fetches:
                raise LazyWheelError(
                    f"bytes {gap.start}:{gap.end} still missing after {fetches} range requests"
                ) from None
            next_chunk = await fetch(gap.start, gap.end)
            if next_chunk is None:
                return None
            chunk = next_chunk


__all__ = [
    "LEAD",
    "MAX_FETCHES",
    "MAX_METADATA",
    "SUFFIX",
    "Chunk",
    "Fetch",
    "Found",
    "LazyWheelError",
    "MetadataTooLarge",
    "MissingRange",
    "SparseFile",
    "fetch_metadata",
    "read_member",
    "read_metadata",
]
