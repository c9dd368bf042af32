"""METADATA of wheels without PEP 658 read by HTTP range requests, against the real
local index server (which honours ``Range``, or ignores it with ``ranges=False``).

Three layers: the server's own Range answers (so the tests below stand on a server
that behaves as files.pythonhosted.org does), :meth:`IndexClient.fetch_range`, and
``pipfresh.index.metadata.wheel_metadata``, asserted on the requests the server
recorded: which ranges were asked, and that no whole-file GET was made when ranges
sufficed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from email.parser import HeaderParser
from pathlib import Path

import pytest

from pipfresh.errors import HashMismatch, HTTPStatusError, NotFound
from pipfresh.index.client import IndexClient
from pipfresh.index.lazywheel import LEAD, SUFFIX, Chunk, Found, fetch_metadata
from pipfresh.index.metadata import metadata_from_wheel
from pipfresh.index.metadata import wheel_metadata as _metadata
from pipfresh.pipconfig import CliIndexOptions, load_index_config
from support.index_server import IndexServer, RequestRecord
from support.wheels import build_wheel, metadata_text

REQUIRES = ("idna>=3", "urllib3<3,>=1.21")


@pytest.fixture
def server() -> Iterator[IndexServer]:
    """The local index without PEP 658 metadata: as PyPI is seen from here."""
    with IndexServer(pep658=False) as running:
        yield running


@pytest.fixture(scope="module")
def big_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel as big wheels are: 1,400 modules, so that its central directory
    (~230 KB) is larger than the first range, with .dist-info written last."""
    noise = random.Random(0)
    folder = "bigpkg/" + "deeply_nested_" * 6
    files = {
        f"{folder}/module_{i:05}.py": f"DATA = {noise.randbytes(150).hex()!r}\n"
        for i in range(1400)
    }
    path = build_wheel(
        tmp_path_factory.mktemp("big"), "bigpkg", "2.0", requires=REQUIRES, files=files
    )
    with zipfile.ZipFile(path) as archive:
        assert len(path.read_bytes()) - archive.start_dir > SUFFIX
    return path


@pytest.fixture(scope="module")
def small_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_wheel(tmp_path_factory.mktemp("small"), "smallpkg", "1.0", requires=REQUIRES)
    assert len(path.read_bytes()) < SUFFIX
    return path


def client_for(server: IndexServer, tmp_path: Path) -> IndexClient:
    config = load_index_config(
        CliIndexOptions(index_url=server.url, isolated=True, timeout=5),
        {"PIP_CONFIG_FILE": os.devnull},
        cwd=tmp_path,
    )
    return IndexClient(config, concurrency=4, user_agent="pipfresh-tests")


def file_requests(server: IndexServer, filename: str) -> list[RequestRecord]:
    return [r for r in server.requests if r.path == f"/files/{filename}"]


def ranges_asked(server: IndexServer, filename: str) -> list[str | None]:
    return [r.range for r in file_requests(server, filename)]


def http_get(url: str, range_header: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Range": range_header} if range_header else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def metadata_of(
    server: IndexServer, tmp_path: Path, project: str, fetched: dict[str, bytes]
) -> str:
    """wheel_metadata for the one wheel of ``project``, as the update runs it."""

    async def run() -> str:
        async with client_for(server, tmp_path) as client:
            page = await client.fetch_project(project)
            (wheel,) = [f for f in page.files if f.filename.endswith(".whl")]
            return await _metadata(client, project, wheel, fetched)

    return asyncio.run(run())


# --------------------------------------------------------------------------------------
# the test server's Range support
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "status", "content_range", "part"),
    [
        ("bytes=-100", 206, "bytes 900-999/1000", slice(900, 1000)),
        ("bytes=-5000", 206, "bytes 0-999/1000", slice(0, 1000)),  # longer than the file
        ("bytes=10-19", 206, "bytes 10-19/1000", slice(10, 20)),
        ("bytes=990-5000", 206, "bytes 990-999/1000", slice(990, 1000)),
        ("bytes=500-", 206, "bytes 500-999/1000", slice(500, 1000)),
        ("bytes=1000-1010", 416, "bytes */1000", slice(0, 0)),
        ("bytes=-0", 416, "bytes */1000", slice(0, 0)),
        ("bytes=0-1,5-6", 200, None, slice(0, 1000)),  # several ranges: ignored
        ("bytes=9-2", 200, None, slice(0, 1000)),  # invalid: ignored
        ("items=0-5", 200, None, slice(0, 1000)),
    ],
)
def test_server_answers_a_range_as_rfc_9110_says(
    header: str, status: int, content_range: str | None, part: slice
) -> None:
    data = bytes(range(256)) * 3 + bytes(232)
    with IndexServer() as server:
        server.add_bytes("blob.bin", data, project="blob")
        got, headers, body = http_get(server.file_url("blob.bin"), header)
    assert (got, headers.get("Content-Range")) == (status, content_range)
    if status != 416:
        assert body == data[part]
        assert headers["Accept-Ranges"] == "bytes"
    (record,) = server.requests
    assert (record.range, record.status) == (header, status)


def test_server_with_ranges_off_answers_200_with_the_whole_file() -> None:
    with IndexServer(ranges=False) as server:
        server.add_bytes("blob.bin", b"0123456789", project="blob")
        status, headers, body = http_get(server.file_url("blob.bin"), "bytes=-4")
    assert (status, body, headers.get("Content-Range")) == (200, b"0123456789", None)
    assert "Accept-Ranges" not in headers


# --------------------------------------------------------------------------------------
# IndexClient.fetch_range
# --------------------------------------------------------------------------------------


def fetch_range(
    server: IndexServer, tmp_path: Path, url: str, start: int, end: int | None, **kw: str
) -> Chunk | None:
    async def run() -> Chunk | None:
        async with client_for(server, tmp_path) as client:
            return await client.fetch_range(url, start, end, project="demo", **kw)

    return asyncio.run(run())


def test_fetch_range_learns_the_size_from_content_range(
    server: IndexServer, big_wheel: Path, tmp_path: Path
) -> None:
    data = big_wheel.read_bytes()
    url = server.file_url(server.add(big_wheel).filename)
    tail = fetch_range(server, tmp_path, url, -1000, None)
    middle = fetch_range(server, tmp_path, url, 5000, 7000)
    assert tail == Chunk(len(data) - 1000, data[-1000:], len(data))
    assert middle == Chunk(5000, data[5000:7000], len(data))
    assert ranges_asked(server, big_wheel.name) == ["bytes=-1000", "bytes=5000-6999"]
    assert {r.headers.get("accept-encoding") for r in server.requests} == {"identity"}


def test_fetch_range_of_a_whole_small_file_is_hash_checked(
    server: IndexServer, small_wheel: Path, tmp_path: Path
) -> None:
    data = small_wheel.read_bytes()
    url = server.file_url(server.add(small_wheel).filename)
    digest = hashlib.sha256(data).hexdigest()
    chunk = fetch_range(server, tmp_path, url, -SUFFIX, None, sha256=digest)
    with pytest.raises(HashMismatch):
        fetch_range(server, tmp_path, url, -SUFFIX, None, sha256="0" * 64)
    # A part of the file cannot be checked, and is not.
    part = fetch_range(server, tmp_path, url, 0, 10, sha256="0" * 64)
    assert chunk == Chunk(0, data, len(data))
    assert chunk.whole
    assert part == Chunk(0, data[:10], len(data))


def test_fetch_range_takes_a_200_as_the_whole_file(big_wheel: Path, tmp_path: Path) -> None:
    data = big_wheel.read_bytes()
    with IndexServer(ranges=False) as server:
        url = server.file_url(server.add(big_wheel).filename)
        chunk = fetch_range(
            server, tmp_path, url, -SUFFIX, None, sha256=hashlib.sha256(data).hexdigest()
        )
        with pytest.raises(HashMismatch):
            fetch_range(server, tmp_path, url, -SUFFIX, None, sha256="0" * 64)
    assert chunk == Chunk(0, data, len(data))


def test_fetch_range_gives_none_for_416(server: IndexServer, tmp_path: Path) -> None:
    server.add_bytes("blob.bin", b"0123456789", project="blob")
    assert fetch_range(server, tmp_path, server.file_url("blob.bin"), 20, 30) is None
    assert [r.status for r in server.requests] == [416]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Content-Range
        {"Content-Range": "bytes 0-3/*"},  # no complete length
        {"Content-Range": "bytes 0-99/1000"},  # disagrees with the body
        {"Content-Range": "bytes 0-3/10", "Content-Encoding": "gzip"},  # a compressed part
    ],
    ids=["none", "unknown-length", "wrong-length", "encoded"],
)
def test_fetch_range_gives_none_for_a_206_it_cannot_place(
    server: IndexServer, tmp_path: Path, headers: dict[str, str]
) -> None:
    server.add_bytes("blob.bin", b"0123456789", project="blob")
    server.respond("/files/blob.bin", b"0123", status=206, headers=headers, times=1)
    assert fetch_range(server, tmp_path, server.file_url("blob.bin"), 0, 4) is None


def test_fetch_range_retries_as_downloads_do(server: IndexServer, tmp_path: Path) -> None:
    server.add_bytes("blob.bin", b"0123456789", project="blob")
    server.fail("/files/blob.bin", 503, times=2, headers={"Retry-After": "0"})
    chunk = fetch_range(server, tmp_path, server.file_url("blob.bin"), -4, None)
    assert chunk == Chunk(6, b"6789", 10)
    assert [r.status for r in server.requests] == [503, 503, 206]
    assert {r.range for r in server.requests} == {"bytes=-4"}


def test_fetch_range_of_a_missing_file_is_not_found(server: IndexServer, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        fetch_range(server, tmp_path, server.file_url("nothing.whl"), -4, None)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (-4, None, Chunk(6, b"6789", 10)),
        (-50, None, Chunk(0, b"0123456789", 10)),
        (2, 5, Chunk(2, b"234", 10)),
        (8, 50, Chunk(8, b"89", 10)),
        (10, 20, None),
    ],
)
def test_fetch_range_of_a_local_file_reads_only_those_bytes(
    server: IndexServer, tmp_path: Path, start: int, end: int | None, expected: Chunk | None
) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"0123456789")
    assert fetch_range(server, tmp_path, path.as_uri(), start, end) == expected
    assert server.requests == []


# --------------------------------------------------------------------------------------
# wheel_metadata
# --------------------------------------------------------------------------------------


def test_big_wheel_metadata_by_ranges_only(
    server: IndexServer, big_wheel: Path, tmp_path: Path
) -> None:
    server.add(big_wheel)
    fetched: dict[str, bytes] = {}
    text = metadata_of(server, tmp_path, "bigpkg", fetched)
    assert text == metadata_text("bigpkg", "2.0", requires=REQUIRES)
    size = big_wheel.stat().st_size
    with zipfile.ZipFile(big_wheel) as archive:
        directory = archive.start_dir
    # The tail, then the central directory with the lead before it; no whole file.
    assert ranges_asked(server, big_wheel.name) == [
        f"bytes=-{SUFFIX}",
        f"bytes={directory - LEAD}-{size - SUFFIX - 1}",
    ]
    assert [r.status for r in file_requests(server, big_wheel.name)] == [206, 206]
    assert fetched == {}  # nothing to keep for the install: it downloads the wheel


def test_small_wheel_arrives_whole_in_one_range_and_is_kept(
    server: IndexServer, small_wheel: Path, tmp_path: Path
) -> None:
    url = server.file_url(server.add(small_wheel).filename)
    fetched: dict[str, bytes] = {}
    text = metadata_of(server, tmp_path, "smallpkg", fetched)
    assert text == metadata_text("smallpkg", "1.0", requires=REQUIRES)
    assert ranges_asked(server, small_wheel.name) == [f"bytes=-{SUFFIX}"]
    assert fetched == {url: small_wheel.read_bytes()}


def test_server_ignoring_range_gives_the_whole_wheel_once(big_wheel: Path, tmp_path: Path) -> None:
    fetched: dict[str, bytes] = {}
    with IndexServer(pep658=False, ranges=False) as server:
        url = server.file_url(server.add(big_wheel).filename)
        text = metadata_of(server, tmp_path, "bigpkg", fetched)
    assert text == metadata_from_wheel(big_wheel.read_bytes())
    assert [(r.range, r.status) for r in file_requests(server, big_wheel.name)] == [
        (f"bytes=-{SUFFIX}", 200)
    ]
    assert fetched == {url: big_wheel.read_bytes()}


def test_pep658_metadata_needs_no_range(small_wheel: Path, tmp_path: Path) -> None:
    with IndexServer() as server:
        server.add(small_wheel)
        text = metadata_of(server, tmp_path, "smallpkg", {})
    assert text == metadata_text("smallpkg", "1.0", requires=REQUIRES)
    assert [r.path for r in server.requests if r.path.startswith("/files/")] == [
        f"/files/{small_wheel.name}.metadata"
    ]


def test_ranges_refused_fall_back_to_the_whole_wheel(
    server: IndexServer, big_wheel: Path, tmp_path: Path
) -> None:
    url = server.file_url(server.add(big_wheel).filename)
    server.fail(f"/files/{big_wheel.name}", 416, times=1)
    fetched: dict[str, bytes] = {}
    text = metadata_of(server, tmp_path, "bigpkg", fetched)
    assert text == metadata_from_wheel(big_wheel.read_bytes())
    assert [(r.range, r.status) for r in file_requests(server, big_wheel.name)] == [
        (f"bytes=-{SUFFIX}", 416),
        (None, 200),
    ]
    assert fetched == {url: big_wheel.read_bytes()}


def test_a_damaged_wheel_falls_back_to_the_download_and_its_error(
    server: IndexServer, tmp_path: Path
) -> None:
    garbage = random.Random(2).randbytes(3 * SUFFIX)
    server.add_bytes("broken-1.0-py3-none-any.whl", garbage)
    with pytest.raises(zipfile.BadZipFile):
        metadata_of(server, tmp_path, "broken", {})
    assert ranges_asked(server, "broken-1.0-py3-none-any.whl") == [f"bytes=-{SUFFIX}", None]


def test_a_wheel_without_metadata_falls_back_to_the_download_and_its_error(
    server: IndexServer, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("nometa/__init__.py", "")
    server.add_bytes("nometa-1.0-py3-none-any.whl", buffer.getvalue())
    with pytest.raises(KeyError, match="no single"):
        metadata_of(server, tmp_path, "nometa", {})
    assert ranges_asked(server, "nometa-1.0-py3-none-any.whl") == [f"bytes=-{SUFFIX}", None]


def test_hash_mismatch_of_a_whole_answer_is_not_retried_as_a_download(
    server: IndexServer, small_wheel: Path, tmp_path: Path
) -> None:
    server.add(small_wheel, hashes={"sha256": "0" * 64})
    fetched: dict[str, bytes] = {}
    with pytest.raises(HashMismatch):
        metadata_of(server, tmp_path, "smallpkg", fetched)
    assert ranges_asked(server, small_wheel.name) == [f"bytes=-{SUFFIX}"]
    assert fetched == {}


def test_index_failure_is_not_retried_as_a_download(
    server: IndexServer, big_wheel: Path, tmp_path: Path
) -> None:
    server.add(big_wheel)
    server.fail(f"/files/{big_wheel.name}", 403)
    with pytest.raises(HTTPStatusError):
        metadata_of(server, tmp_path, "bigpkg", {})
    assert ranges_asked(server, big_wheel.name) == [f"bytes=-{SUFFIX}"]


def test_fetch_metadata_through_the_client_matches_the_whole_wheel(
    server: IndexServer, big_wheel: Path, tmp_path: Path
) -> None:
    url = server.file_url(server.add(big_wheel).filename)

    async def run() -> str:
        async with client_for(server, tmp_path) as client:

            async def fetch(start: int, end: int | None) -> Chunk | None:
                return await client.fetch_range(url, start, end, project="bigpkg")

            found = await fetch_metadata(fetch, suffix=4096, lead=0)
            assert found is not None
            assert (found.fetches, found.whole) == (3, None)
            return found.text

    assert asyncio.run(run()) == metadata_from_wheel(big_wheel.read_bytes())
    assert len(ranges_asked(server, big_wheel.name)) == 3
    assert None not in ranges_asked(server, big_wheel.name)


# --------------------------------------------------------------------------------------
# live: a real big wheel on PyPI
# --------------------------------------------------------------------------------------


@pytest.mark.live
def test_live_botocore_metadata_by_ranges(tmp_path: Path) -> None:
    # botocore's central directory (~200 KB) is larger than the first range; released
    # files never change, so neither do the answers.
    config = load_index_config(
        CliIndexOptions(index_url="https://pypi.org/simple", isolated=True, timeout=15),
        {"PIP_CONFIG_FILE": os.devnull},
        cwd=tmp_path,
    )
    asked: list[tuple[int, int | None]] = []

    async def run() -> Found | None:
        async with IndexClient(config, concurrency=4, user_agent="pipfresh-tests") as client:
            page = await client.fetch_project("botocore")
            (wheel,) = [f for f in page.files if f.filename == "botocore-1.29.154-py3-none-any.whl"]

            async def fetch(start: int, end: int | None) -> Chunk | None:
                asked.append((start, end))
                return await client.fetch_range(wheel.url, start, end, project="botocore")

            return await fetch_metadata(fetch)

    found = asyncio.run(run())
    assert found is not None
    headers = HeaderParser().parsestr(found.text)
    assert (headers["Name"], headers["Version"]) == ("botocore", "1.29.154")
    assert any(r.startswith("urllib3") for r in headers.get_all("Requires-Dist") or ())
    assert found.whole is None
    assert 2 <= found.fetches == len(asked) <= 3
    assert found.received < 1_000_000  # of a 10 MB wheel
