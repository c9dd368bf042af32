"""Reading a wheel's METADATA by byte ranges (``pipfresh.index.lazywheel``).

Wheels are built in memory with zipfile, in the shapes real ones take: small (the
first range is the whole file), large with ``.dist-info`` written last (METADATA
just before the central directory), large with ``.dist-info`` written first, and a
central directory larger than the first range. A fake server answers the ranges and
counts them. The contract: the text is what :func:`metadata_from_wheel` reads from
the whole file, in as few requests as the shape allows; anything else is a
LazyWheelError (after which the caller downloads the whole wheel).
"""

from __future__ import annotations

import asyncio
import io
import random
import zipfile
from collections.abc import Iterable
from typing import Any

import pytest

from pipfresh.index.lazywheel import (
    LEAD,
    MAX_FETCHES,
    SUFFIX,
    Chunk,
    Found,
    LazyWheelError,
    MissingRange,
    SparseFile,
    fetch_metadata,
    read_metadata,
)
from pipfresh.index.metadata import metadata_from_wheel

METADATA = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: idna>=3\n\n"
DIST_INFO = "demo-1.0.dist-info"
STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED


def wheel(
    *,
    payload: int = 0,
    files: int = 1,
    dist_info_first: bool = False,
    metadata: str | bytes | None = METADATA,
    compression: int = DEFLATED,
    extra: Iterable[tuple[str, bytes]] = (),
    comment: bytes = b"",
    zip64: bool = False,
) -> bytes:
    """A wheel: ``files`` modules (long names, so that the central directory grows
    about 150 bytes each), one carrying ``payload`` incompressible bytes, and a
    dist-info with METADATA, WHEEL and RECORD, written last unless ``dist_info_first``."""
    noise = random.Random(payload).randbytes(payload)
    modules = [(f"demo/{'sub' * 30}/module_{i:05}.py", b"x = 1\n") for i in range(files)]
    modules[0] = (modules[0][0], noise)
    dist_info = [(f"{DIST_INFO}/METADATA", metadata)] if metadata is not None else []
    dist_info += [(f"{DIST_INFO}/WHEEL", b"Wheel-Version: 1.0\n")]
    members = [*extra, *(dist_info if dist_info_first else modules)]
    members += modules if dist_info_first else dist_info
    members.append((f"{DIST_INFO}/RECORD", b""))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            raw = data.encode() if isinstance(data, str) else data
            with archive.open(info, "w", force_zip64=zip64) as member:
                member.write(raw)
        archive.comment = comment
    return buffer.getvalue()


class Server:
    """Answers ``fetch(start, end)`` from ``data`` as an HTTP server honouring Range
    does (slice semantics), or ignoring it; records every request."""

    def __init__(self, data: bytes, *, ranges: bool = True) -> None:
        self.data = data
        self.ranges = ranges
        self.asked: list[tuple[int, int | None]] = []

    async def fetch(self, start: int, end: int | None) -> Chunk | None:
        self.asked.append((start, end))
        if not self.ranges:
            return Chunk(0, self.data, len(self.data))
        first = max(len(self.data) + start, 0) if end is None else start
        return Chunk(first, self.data[first:end], len(self.data))

    @property
    def received(self) -> int:
        size = len(self.data)
        return sum(len(self.data[max(size + s, 0) if e is None else s : e]) for s, e in self.asked)


def read(data: bytes, **kwargs: int) -> tuple[Found | None, Server]:
    server = Server(data)
    return asyncio.run(fetch_metadata(server.fetch, **kwargs)), server


# --------------------------------------------------------------------------------------
# SparseFile
# --------------------------------------------------------------------------------------


def sparse(size: int, *spans: tuple[int, bytes]) -> SparseFile:
    file = SparseFile(size)
    for start, data in spans:
        file.add(start, data)
    return file


@pytest.mark.parametrize(
    ("spans", "query", "missing"),
    [
        ((), (0, 10), (0, 10)),
        (((0, b"abcd"),), (0, 4), None),
        (((0, b"abcd"),), (2, 8), (4, 8)),
        (((4, b"efgh"),), (0, 8), (0, 4)),
        (((2, b"cd"), (6, b"gh")), (0, 10), (0, 10)),  # covers both gaps and what is between
        (((2, b"cd"), (6, b"gh")), (2, 8), (4, 6)),
        (((0, b"ab"), (2, b"cd")), (0, 4), None),  # adjacent spans merge
        (((0, b"abcd"), (2, b"CDEF")), (0, 6), None),  # overlapping spans merge
        (((8, b"ij"),), (5, 50), (5, 8)),  # clipped to the file
        ((), (10, 20), None),  # past the end: nothing to fetch
    ],
)
def test_missing_is_the_smallest_range_covering_every_gap(
    spans: tuple[tuple[int, bytes], ...], query: tuple[int, int], missing: tuple[int, int] | None
) -> None:
    assert sparse(10, *spans).missing(*query) == missing


def test_read_returns_known_bytes_and_raises_for_unknown_ones() -> None:
    file = sparse(10, (0, b"ab"), (2, b"cd"), (6, b"gh"))
    assert file.read(4) == b"abcd"
    assert file.tell() == 4
    with pytest.raises(MissingRange) as raised:
        file.read(4)
    assert (raised.value.start, raised.value.end) == (4, 6)
    assert file.tell() == 4  # a failed read does not move
    assert file.seek(-4, 2) == 6
    with pytest.raises(MissingRange) as raised:
        file.read()
    assert (raised.value.start, raised.value.end) == (8, 10)
    file.seek(6)
    assert file.read(2) == b"gh"


def test_later_bytes_win_and_spans_stay_merged() -> None:
    file = sparse(6, (0, b"abc"), (2, b"CDEF"))
    assert file.read() == b"abCDEF"


def test_read_at_or_past_the_end_is_empty() -> None:
    file = sparse(4, (0, b"abcd"))
    file.seek(0, 2)
    assert file.read() == b""
    file.seek(10)
    assert file.read(3) == b""


def test_seek_before_the_start_is_an_oserror_as_on_a_real_file() -> None:
    file = SparseFile(10)
    with pytest.raises(OSError, match="Invalid argument"):
        file.seek(-22, 2)
    file.seek(3)
    assert file.seek(2, 1) == 5


@pytest.mark.parametrize(("start", "data"), [(-1, b"a"), (9, b"ab"), (11, b"")])
def test_bytes_outside_the_file_are_refused(start: int, data: bytes) -> None:
    with pytest.raises(ValueError, match="outside a file of 10 bytes"):
        SparseFile(10).add(start, data)


def test_zipfile_reads_a_sparse_file_that_holds_every_byte() -> None:
    data = wheel(files=3)
    assert read_metadata(sparse(len(data), (0, data))) == metadata_from_wheel(data)


# --------------------------------------------------------------------------------------
# read_metadata: what to fetch next
# --------------------------------------------------------------------------------------


def test_a_missing_central_directory_is_asked_for_whole_with_lead_bytes_before_it() -> None:
    data = wheel(files=2000)  # a central directory of ~300 KB
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        directory = archive.start_dir
    tail = len(data) - 1000
    with pytest.raises(MissingRange) as raised:
        read_metadata(sparse(len(data), (tail, data[tail:])), lead=5000)
    assert (raised.value.start, raised.value.end) == (directory - 5000, tail)


def test_a_missing_member_is_asked_for_up_to_the_next_member() -> None:
    data = wheel(files=5, payload=50_000, dist_info_first=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        directory = archive.start_dir
    metadata, after = infos[0], infos[1]
    assert metadata.filename.endswith("METADATA")
    with pytest.raises(MissingRange) as raised:
        read_metadata(sparse(len(data), (directory, data[directory:])))
    assert (raised.value.start, raised.value.end) == (0, after.header_offset)


# --------------------------------------------------------------------------------------
# fetch_metadata: requests per wheel shape
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [STORED, DEFLATED], ids=["stored", "deflated"])
@pytest.mark.parametrize(
    ("shape", "build", "fetches"),
    [
        ("small: the first range is the whole file", {"files": 3}, 1),
        ("large, dist-info last: METADATA in the first range", {"payload": 3 * SUFFIX}, 1),
        (
            "large, dist-info first, small directory: METADATA fetched",
            {"payload": 3 * SUFFIX, "dist_info_first": True},
            2,
        ),
        (
            "directory larger than the first range, dist-info last: METADATA within the lead",
            {"files": SUFFIX // 100, "payload": 3 * SUFFIX},
            2,
        ),
        (
            "directory larger than the first range, dist-info first",
            {"files": SUFFIX // 100, "payload": 3 * SUFFIX, "dist_info_first": True},
            3,
        ),
        ("zip64 records", {"payload": 3 * SUFFIX, "zip64": True}, 1),
        ("a 60 KB archive comment", {"payload": 3 * SUFFIX, "comment": b"c" * 60_000}, 1),
    ],
)
def test_metadata_in_as_few_requests_as_the_shape_allows(
    shape: str, build: dict[str, Any], fetches: int, compression: int
) -> None:
    data = wheel(compression=compression, **build)
    found, server = read(data)
    assert found is not None
    assert found.text == metadata_from_wheel(data) == METADATA
    assert found.fetches == len(server.asked) == fetches, shape
    assert server.asked[0] == (-SUFFIX, None)
    assert found.received == server.received
    if len(data) <= SUFFIX:
        assert found.whole == data
    else:
        assert found.whole is None
        assert found.received < len(data) // 2


def test_large_wheel_requests_are_the_tail_the_directory_and_the_member() -> None:
    data = wheel(files=SUFFIX // 100, payload=3 * SUFFIX, dist_info_first=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        directory = archive.start_dir
        after_metadata = archive.infolist()[1].header_offset
    found, server = read(data)
    assert found is not None
    tail = len(data) - SUFFIX
    assert server.asked == [(-SUFFIX, None), (directory - LEAD, tail), (0, after_metadata)]


def test_server_ignoring_range_gives_the_whole_file_in_one_request() -> None:
    data = wheel(files=SUFFIX // 100, payload=3 * SUFFIX)
    server = Server(data, ranges=False)
    found = asyncio.run(fetch_metadata(server.fetch))
    assert found == Found(METADATA, data, 1, len(data))


def test_a_server_without_ranges_gives_none() -> None:
    async def refuse(start: int, end: int | None) -> Chunk | None:
        return None

    assert asyncio.run(fetch_metadata(refuse)) is None


def test_a_refusal_after_the_first_range_gives_none() -> None:
    data = wheel(payload=3 * SUFFIX, dist_info_first=True)
    server = Server(data)

    async def first_only(start: int, end: int | None) -> Chunk | None:
        return await server.fetch(start, end) if not server.asked else None

    assert asyncio.run(fetch_metadata(first_only)) is None


def test_too_many_requests_is_an_error() -> None:
    data = wheel(files=SUFFIX // 100, payload=3 * SUFFIX, dist_info_first=True)
    with pytest.raises(LazyWheelError, match="still missing after 2 range requests"):
        read(data, max_fetches=2)
    assert MAX_FETCHES >= 3


def test_a_file_that_changes_size_between_requests_is_an_error() -> None:
    data = wheel(payload=3 * SUFFIX, dist_info_first=True)
    server = Server(data)

    async def growing(start: int, end: int | None) -> Chunk | None:
        chunk = await server.fetch(start, end)
        assert chunk is not None
        return chunk if len(server.asked) == 1 else Chunk(chunk.start, chunk.data, len(data) + 1)

    with pytest.raises(LazyWheelError, match="changed between requests"):
        asyncio.run(fetch_metadata(growing))


def test_an_answer_outside_the_file_is_an_error() -> None:
    async def wrong(start: int, end: int | None) -> Chunk | None:
        return Chunk(100, b"x" * 10, 50)

    with pytest.raises(LazyWheelError, match="outside a file of 50 bytes"):
        asyncio.run(fetch_metadata(wrong))


def test_errors_of_fetch_pass_through() -> None:
    async def broken(start: int, end: int | None) -> Chunk | None:
        raise ConnectionResetError("reset")

    with pytest.raises(ConnectionResetError):
        asyncio.run(fetch_metadata(broken))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (wheel(metadata=None), "0 .dist-info/METADATA files"),
        (
            wheel(extra=[("other-2.0.dist-info/METADATA", b"Name: other\n")]),
            "2 .dist-info/METADATA files",
        ),
        # Only depth 1 counts, as for metadata_from_wheel.
        (
            wheel(metadata=None, extra=[("demo/demo-1.0.dist-info/METADATA", b"x")]),
            "0 .dist-info/METADATA files",
        ),
        (wheel(metadata=b"Name: \xff\xfe\n"), "cannot read the metadata"),
        (b"", "not a readable wheel"),
        (b"PK\x05\x06 not really a zip file", "not a readable wheel"),
        (random.Random(1).randbytes(3 * SUFFIX), "not a readable wheel"),
    ],
    ids=["no-metadata", "two-metadata", "metadata-too-deep", "not-utf8", "empty", "short", "noise"],
)
def test_no_single_readable_metadata_is_an_error(data: bytes, message: str) -> None:
    with pytest.raises(LazyWheelError, match=message):
        read(data)
    # The whole file is unreadable the same way (the caller's fallback reports it).
    with pytest.raises((KeyError, zipfile.BadZipFile, UnicodeDecodeError)):
        metadata_from_wheel(data)


def test_a_damaged_member_is_an_error() -> None:
    data = bytearray(wheel(payload=3 * SUFFIX))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(f"{DIST_INFO}/METADATA")
    data[info.header_offset + 40] ^= 0xFF  # inside the compressed bytes
    with pytest.raises(LazyWheelError, match="cannot read the metadata"):
        read(bytes(data))


def test_a_damaged_central_directory_is_an_error() -> None:
    data = bytearray(wheel(payload=3 * SUFFIX))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        directory = archive.start_dir
    data[directory : directory + 4] = b"XXXX"
    with pytest.raises(LazyWheelError, match="not a readable wheel"):
        read(bytes(data))


@pytest.mark.parametrize(
    ("suffix", "lead"), [(1024, 0), (4096, 4096), (SUFFIX, LEAD), (10 * SUFFIX, 0)]
)
def test_any_suffix_and_lead_read_the_same_text(suffix: int, lead: int) -> None:
    builds: list[dict[str, Any]] = [
        {"files": 3},
        {"files": 400, "payload": 200_000},
        {"files": 400, "payload": 200_000, "dist_info_first": True},
    ]
    for build in builds:
        data = wheel(**build)
        found, server = read(data, suffix=suffix, lead=lead)
        assert found is not None
        assert found.text == METADATA
        assert 1 <= len(server.asked) <= 3


def test_zip64_end_records_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # zipfile writes the ZIP64 end of central directory (and its locator) past 65,535
    # members; a lower limit while writing gives the same records for a small wheel.
    with monkeypatch.context() as patch:
        patch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)
        data = wheel(files=SUFFIX // 100, payload=3 * SUFFIX)
    assert b"PK\x06\x06" in data[-200:]  # the ZIP64 end record
    found, server = read(data)
    assert found is not None
    assert found.text == METADATA == metadata_from_wheel(data)
    assert len(server.asked) == 2
