"""A hostile index: compression bombs, huge bodies, drips, links to local files, zip-bomb
METADATA. Each attack must cost its project one clear error (or be ignored), in bounded
time and memory, never the run.

These drive :class:`pipfresh.index.client.IndexClient` against the real in-process
server (``support.index_server``); the memory bound of a whole scan is checked in a
subprocess at the end, where peak RSS can be measured.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import struct
import sys
import time
import zipfile
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pipfresh.errors import HashMismatch, IndexError_, MalformedPage, NetworkError
from pipfresh.index import lazywheel
from pipfresh.index.client import IndexClient
from pipfresh.index.limits import MAX_METADATA_BYTES, MAX_PAGE_BYTES, TooLarge
from pipfresh.index.metadata import wheel_metadata
from pipfresh.models import IndexFile, ProjectPage
from pipfresh.pipconfig import CliIndexOptions, load_index_config
from support.index_server import JSON_TYPE, IndexServer, bomb

T = TypeVar("T")

#: Wall time any one attack may take here (a bomb stops at the limit: ~0.1-0.5 s).
QUICK = 5.0


def client_for(
    server: IndexServer, tmp_path: Path, *, timeout: float = 5, **options: Any
) -> IndexClient:
    config = load_index_config(
        CliIndexOptions(index_url=server.url, isolated=True, timeout=timeout),
        {"PIP_CONFIG_FILE": os.devnull},
        cwd=tmp_path,
    )
    return IndexClient(config, concurrency=4, user_agent="pipfresh-tests", **options)


def run_with(
    client: IndexClient, work: Callable[[IndexClient], Awaitable[T]]
) -> tuple[T | BaseException, float]:
    """(what ``work`` returned or raised, seconds it took)."""

    async def main() -> T:
        async with client:
            return await work(client)

    started = time.monotonic()
    try:
        result: T | BaseException = asyncio.run(main())
    except Exception as exc:  # the error is the result under test
        result = exc
    return result, time.monotonic() - started


def fetch(server: IndexServer, tmp_path: Path, **options: Any) -> tuple[Any, float]:
    return run_with(client_for(server, tmp_path, **options), lambda c: c.fetch_project("demo"))


def one_line(error: object) -> str:
    assert isinstance(error, IndexError_), error
    text = str(error)
    assert text, error
    assert "\n" not in text, text
    return text


# --------------------------------------------------------------------------------------
# compression bombs and huge bodies
# --------------------------------------------------------------------------------------

BOMB_SIZE = 1 << 30  # 1 GiB decoded, about 1 MB sent


@pytest.mark.parametrize(
    ("encoding", "header"),
    [
        pytest.param("gzip", "gzip", id="gzip"),
        pytest.param("gzip", "x-gzip", id="x-gzip"),
        pytest.param("deflate", "deflate", id="deflate-zlib"),
        pytest.param("deflate-raw", "deflate", id="deflate-raw"),
    ],
)
def test_compression_bomb_page_stops_at_the_page_limit(
    index_server: IndexServer, tmp_path: Path, encoding: str, header: str
) -> None:
    index_server.add_project("demo")
    index_server.respond("demo", bomb(encoding, BOMB_SIZE), headers={"Content-Encoding": header})
    error, seconds = fetch(index_server, tmp_path)
    assert isinstance(error, TooLarge), error
    assert one_line(error).startswith("page larger than 64 MB decoded ("), error
    assert index_server.count("demo") == 1  # not retried
    assert seconds < QUICK


def test_bomb_inside_a_bomb_is_bounded_at_every_stage(
    index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add_project("demo")
    inner = bomb("gzip", 256 << 20)  # 256 MB once, 260 KB twice encoded
    outer = zlib.compress(inner, 9)
    index_server.respond("demo", outer, headers={"Content-Encoding": "gzip, deflate"})
    error, seconds = fetch(index_server, tmp_path)
    assert isinstance(error, TooLarge), error
    assert seconds < QUICK


def test_gzip_page_below_the_limit_is_decoded(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.add_bytes("demo-2.0-py3-none-any.whl", b"wheel")
    body = json.dumps(
        {
            "meta": {"api-version": "1.1"},
            "name": "demo",
            "files": [{"filename": "demo-2.0-py3-none-any.whl", "url": "/files/x", "hashes": {}}],
        }
    ).encode()
    index_server.respond("demo", zlib.compress(body), headers={"Content-Encoding": "deflate"})
    page, _ = fetch(index_server, tmp_path)
    assert isinstance(page, ProjectPage), page
    assert [f.filename for f in page.files] == ["demo-2.0-py3-none-any.whl"]
    [request] = [r for r in index_server.requests if r.path == "/simple/demo/"]
    assert request.headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_encoding_that_was_not_asked_for_is_one_error(
    index_server: IndexServer, tmp_path: Path, encoding: str
) -> None:
    index_server.add_project("demo")
    index_server.respond("demo", b"\x00" * 100, headers={"Content-Encoding": encoding})
    error, _ = fetch(index_server, tmp_path)
    assert isinstance(error, MalformedPage), error
    assert one_line(error).startswith(f"unsupported Content-Encoding '{encoding}'"), error


def test_damaged_gzip_body_is_one_error(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.add_project("demo")
    index_server.respond("demo", b"\x1f\x8b not gzip", headers={"Content-Encoding": "gzip"})
    error, _ = fetch(index_server, tmp_path)
    assert isinstance(error, MalformedPage), error
    assert one_line(error).startswith("damaged gzip body"), error


def test_huge_content_length_is_refused_before_reading(
    index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add_project("demo")
    index_server.stream("demo", 2 << 30)  # 2 GiB announced
    error, seconds = fetch(index_server, tmp_path)
    assert isinstance(error, TooLarge), error
    assert "page larger than 64 MB decoded" in one_line(error)
    assert seconds < QUICK


def test_huge_chunked_body_is_cut_at_the_limit(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.add_project("demo")
    index_server.stream("demo", 2 << 30, chunked=True)  # no Content-Length
    error, seconds = fetch(index_server, tmp_path, max_page_bytes=8 << 20)
    assert isinstance(error, TooLarge), error
    assert "page larger than 8 MB decoded" in one_line(error)
    assert seconds < QUICK


def test_page_limit_default_is_64_mb() -> None:
    assert MAX_PAGE_BYTES == 64 << 20
    assert lazywheel.MAX_METADATA == MAX_METADATA_BYTES  # kept in step by hand


# --------------------------------------------------------------------------------------
# deadlines
# --------------------------------------------------------------------------------------


def test_dripping_server_is_cut_at_the_request_deadline(
    index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add_project("demo")
    # Ten bytes a second: every read succeeds within the 1 s timeout, forever.
    index_server.drip("demo", interval=0.1, chunk=1, body=b" " * 10_000)
    error, seconds = fetch(index_server, tmp_path, timeout=1)
    assert isinstance(error, NetworkError), error
    assert one_line(error).startswith(
        "no complete answer within 3 s (3 x the 1 s timeout) (http://127.0.0.1:"
    ), error
    assert index_server.count("demo") == 1  # a passed deadline is not retried
    assert 2.9 <= seconds < 3 + QUICK


def test_run_deadline_stops_later_requests_at_once(
    index_server: IndexServer, tmp_path: Path
) -> None:
    for name in ("demo", "other"):
        index_server.add_bytes(f"{name}-1.0-py3-none-any.whl", b"wheel")
    index_server.drip("demo", interval=0.1, body=b" " * 10_000)

    async def both(client: IndexClient) -> list[ProjectPage | BaseException]:
        first = await asyncio.gather(client.fetch_project("demo"), return_exceptions=True)
        second = await asyncio.gather(client.fetch_project("other"), return_exceptions=True)
        return [*first, *second]

    results, seconds = run_with(client_for(index_server, tmp_path, run_deadline=1.5), both)
    assert isinstance(results, list), results
    demo, other = results
    assert "stopped at the run's network deadline (1.5 s)" in one_line(demo)
    assert "the run's network deadline (1.5 s) had passed" in one_line(other)
    assert index_server.count("other") == 0
    assert seconds < 1.5 + QUICK


# --------------------------------------------------------------------------------------
# links to local files in remote pages
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["file:///dev/zero", "FILE:///etc/passwd", "file://localhost/dev/zero", "ftp://x/demo.whl"],
)
def test_remote_page_links_to_local_files_are_ignored(
    index_server: IndexServer, tmp_path: Path, url: str
) -> None:
    index_server.add_bytes("demo-1.0-py3-none-any.whl", b"wheel")
    document = {
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "files": [
            {"filename": "demo-2.0-py3-none-any.whl", "url": url, "hashes": {}},
            {
                "filename": "demo-1.0-py3-none-any.whl",
                "url": index_server.file_url("demo-1.0-py3-none-any.whl"),
                "hashes": {},
            },
        ],
    }
    index_server.respond("demo", json.dumps(document).encode(), content_type=JSON_TYPE)
    page, _ = fetch(index_server, tmp_path)
    assert isinstance(page, ProjectPage), page
    assert [f.filename for f in page.files] == ["demo-1.0-py3-none-any.whl"]


def test_html_page_link_to_a_local_file_is_ignored(
    index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add_project("demo")
    body = b'<html><body><a href="file:///dev/zero#/demo-2.0-py3-none-any.whl">x</a></body></html>'
    index_server.respond("demo", body, content_type="text/html")
    page, _ = fetch(index_server, tmp_path)
    assert isinstance(page, ProjectPage), page
    assert page.files == ()


# --------------------------------------------------------------------------------------
# downloads stream to disk
# --------------------------------------------------------------------------------------


def test_download_to_streams_checks_the_hash_and_renames(
    index_server: IndexServer, tmp_path: Path
) -> None:
    data = os.urandom(3 << 20)
    index_server.add_bytes("demo-1.0-py3-none-any.whl", data)
    url = index_server.file_url("demo-1.0-py3-none-any.whl")
    dest = tmp_path / "demo.whl"
    digest = hashlib.sha256(data).hexdigest()
    size, _ = run_with(
        client_for(index_server, tmp_path),
        lambda c: c.download_to(url, dest, project="demo", sha256=digest),
    )
    assert size == len(data)
    assert dest.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_download_to_with_a_wrong_hash_leaves_nothing(
    index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add_bytes("demo-1.0-py3-none-any.whl", b"wheel" * 1000)
    url = index_server.file_url("demo-1.0-py3-none-any.whl")
    folder = tmp_path / "out"
    folder.mkdir()
    error, _ = run_with(
        client_for(index_server, tmp_path),
        lambda c: c.download_to(url, folder / "demo.whl", project="demo", sha256="0" * 64),
    )
    assert isinstance(error, HashMismatch), error
    assert list(folder.iterdir()) == []


def test_download_to_past_max_bytes_is_too_large(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.add_project("demo")
    index_server.stream("/files/huge.whl", 2 << 30, chunked=True, content_type="x/y")
    folder = tmp_path / "out"
    folder.mkdir()
    url = index_server.root_url + "/files/huge.whl"
    error, seconds = run_with(
        client_for(index_server, tmp_path),
        lambda c: c.download_to(
            url, folder / "huge.whl", project="demo", sha256=None, max_bytes=4 << 20
        ),
    )
    assert isinstance(error, TooLarge), error
    assert one_line(error).startswith("download larger than 4 MB decoded"), error
    assert list(folder.iterdir()) == []
    assert seconds < QUICK


def test_dripping_download_is_cut_by_its_rate(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.add_project("demo")
    index_server.drip("/files/slow.whl", interval=0.1, body=b"x" * 10_000)
    folder = tmp_path / "out"
    folder.mkdir()
    url = index_server.root_url + "/files/slow.whl"
    error, seconds = run_with(
        client_for(index_server, tmp_path, timeout=1),
        lambda c: c.download_to(url, folder / "slow.whl", project="demo", sha256=None),
    )
    assert isinstance(error, NetworkError), error
    assert one_line(error).startswith(
        "download slower than 64 KB/s past its 3 s deadline (3 x the 1 s timeout) (http://"
    ), error
    assert list(folder.iterdir()) == []
    assert seconds < 3 + QUICK


def test_a_slow_but_steady_download_outlives_the_deadline(
    index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add_project("demo")
    body = os.urandom(2 << 20)
    # 512 KB/s for 4 s: past the 3 s deadline of --timeout 1, but well above the rate.
    for name in ("a.whl", "b.whl"):
        index_server.drip(f"/files/{name}", interval=0.25, chunk=128 << 10, body=body)

    async def both(c: IndexClient) -> list[object]:
        return await asyncio.gather(
            c.download(index_server.root_url + "/files/a.whl", project="demo", sha256=None),
            c.download_to(
                index_server.root_url + "/files/b.whl",
                tmp_path / "b.whl",
                project="demo",
                sha256=hashlib.sha256(body).hexdigest(),
            ),
        )

    result, seconds = run_with(client_for(index_server, tmp_path, timeout=1), both)
    assert not isinstance(result, BaseException), result
    assert result == [body, len(body)]
    assert seconds > 3  # it did outlive the deadline
    assert (tmp_path / "b.whl").read_bytes() == body


# --------------------------------------------------------------------------------------
# zip-bomb METADATA
# --------------------------------------------------------------------------------------


def zip_bomb_wheel(name: str, version: str, decoded: int, *, declared: int | None) -> bytes:
    """A wheel whose METADATA inflates to ``decoded`` zero bytes, declaring ``declared``
    (None: the truth) as its size. Built by hand: zipfile would inflate-check it."""
    member = f"{name}-{version}.dist-info/METADATA".encode()
    gz = bomb("gzip", decoded)
    data = gz[10:-8]  # the raw deflate stream inside the gzip member
    crc = struct.unpack("<I", gz[-8:-4])[0]
    size = decoded if declared is None else declared
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(member), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0,
        crc,
        len(data),
        size,
        len(member),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + member + data
    directory = central + member
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


@pytest.mark.parametrize(
    "declared", [pytest.param(None, id="honest-size"), pytest.param(900, id="lying-size")]
)
@pytest.mark.parametrize("ranges", [True, False], ids=["ranges", "no-ranges"])
def test_zip_bomb_metadata_is_one_error(tmp_path: Path, declared: int | None, ranges: bool) -> None:
    filename = "demo-1.0-py3-none-any.whl"
    with IndexServer(pep658=False, ranges=ranges) as server:
        server.add_bytes(filename, zip_bomb_wheel("demo", "1.0", 1 << 30, declared=declared))
        wheel = IndexFile(filename, server.file_url(filename))
        fetched: dict[str, bytes] = {}
        error, seconds = run_with(
            client_for(server, tmp_path),
            lambda c: wheel_metadata(c, "demo", wheel, fetched),
        )
    if declared is None:
        assert isinstance(error, TooLarge), error
        assert one_line(error).startswith(
            "demo-1.0.dist-info/METADATA larger than 16 MB decoded (demo-1.0-py3-none-any.whl)"
        ), error
    else:
        # zipfile reads no further than the declared size, whose CRC then fails: the
        # planner reports "cannot read the metadata of ...: Bad CRC-32 ..." in one line.
        assert isinstance(error, zipfile.BadZipFile), error
        assert "Bad CRC-32" in str(error)
    assert seconds < QUICK


def test_huge_pep658_metadata_file_falls_back_to_the_wheel(
    index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add_project("demo")
    index_server.stream("/files/demo-1.0-py3-none-any.whl.metadata", 1 << 30, chunked=True)
    index_server.respond(
        "/files/demo-1.0-py3-none-any.whl", zip_bomb_wheel("demo", "1.0", 1 << 20, declared=None)
    )
    wheel = IndexFile.build(
        "demo-1.0-py3-none-any.whl",
        index_server.file_url("demo-1.0-py3-none-any.whl"),
        core_metadata=True,
    )
    text, seconds = run_with(
        client_for(index_server, tmp_path), lambda c: wheel_metadata(c, "demo", wheel, {})
    )
    assert text == "\x00" * (1 << 20)  # the wheel's own (1 MiB of zeros, under the limit)
    assert seconds < QUICK


def test_a_wheel_streamed_for_its_metadata_stops_at_its_listed_size(
    index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add_project("demo")
    # A server that ignores Range and sends 40 MB for a wheel the index lists as 1000
    # bytes: too large to keep in memory, then cut at the listed size on disk.
    index_server.stream("/files/demo-1.0-py3-none-any.whl", 40 << 20, chunked=True)
    wheel = IndexFile.build(
        "demo-1.0-py3-none-any.whl",
        index_server.file_url("demo-1.0-py3-none-any.whl"),
        size=1000,
    )
    error, seconds = run_with(
        client_for(index_server, tmp_path), lambda c: wheel_metadata(c, "demo", wheel, {})
    )
    assert isinstance(error, TooLarge), error
    assert one_line(error).startswith("download larger than 1000 bytes decoded (http://"), error
    assert seconds < QUICK


# --------------------------------------------------------------------------------------
# a whole scan against a bomb: bounded memory (a subprocess, to measure its peak RSS)
# --------------------------------------------------------------------------------------

RSS_LIMIT_MB = 200

#: Runs its arguments as a grandchild and reports the grandchild's own peak RSS. Linux
#: carries the high-water RSS of the process that execs into the new program, so a
#: child of pytest (hundreds of MB after other tests) would report pytest's size; a
#: small fresh process forking it does not.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\nPEAK_RSS_KB={usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measuring_own_rss(
    args: list[str], env: dict[str, str], cwd: Path
) -> tuple[int, str, str, int]:
    """Run pipfresh; (exit status, stdout, stderr, its peak RSS in MB)."""
    import subprocess

    from integration.test_scan_helpers import RUN_TIMEOUT

    result = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, "-m", "pipfresh", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    stderr, _, peak = result.stderr.rpartition("\nPEAK_RSS_KB=")
    return result.returncode, result.stdout, stderr, int(peak) // 1024


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
def test_scan_against_a_gzip_bomb_stays_under_200_mb(
    index_server: IndexServer, tmp_path: Path
) -> None:
    from integration.test_fault_matrix import new_venv
    from integration.test_scan_helpers import pipfresh_env

    venv = new_venv(tmp_path / "venv", ("demo", "1.0"), ("other", "1.0"))
    index_server.add_bytes("other-2.0-py3-none-any.whl", b"wheel")
    index_server.add_project("demo")
    index_server.respond("demo", bomb("gzip", 4 << 30), headers={"Content-Encoding": "gzip"})
    started = time.monotonic()
    code, stdout, stderr, peak_mb = run_measuring_own_rss(
        ["--python", str(venv.path), "-i", index_server.url, "--format", "json", "--timeout", "5"],
        pipfresh_env(tmp_path),
        tmp_path,
    )
    seconds = time.monotonic() - started
    assert code == 3, stdout + stderr
    assert "Traceback" not in stderr
    assert "MemoryError" not in stderr
    document = json.loads(stdout)
    [error] = document["errors"]
    assert error["reason"].startswith("page larger than 64 MB decoded (http://127.0.0.1:")
    assert {p["name"]: p["latest"] for p in document["packages"]} == {"other": "2.0"}
    print(f"4 GiB gzip bomb: peak RSS {peak_mb} MB, {seconds:.1f} s")
    assert 0 < peak_mb < RSS_LIMIT_MB, peak_mb


# --------------------------------------------------------------------------------------
# a shared cache another user may write to
# --------------------------------------------------------------------------------------


def test_scan_with_a_world_writable_cache_neither_reads_nor_writes_it(
    index_server: IndexServer, tmp_path: Path
) -> None:
    """A poisoned entry planted in a world-writable cache ("demo 1.0 is the newest")
    must not be believed: the scan asks the index and leaves the cache alone."""
    from integration.test_fault_matrix import new_venv
    from integration.test_scan_helpers import pipfresh_env, run_pipfresh
    from pipfresh.cache import Cache

    venv = new_venv(tmp_path / "venv", ("demo", "1.0"))
    index_server.add_bytes("demo-1.0-py3-none-any.whl", b"wheel")
    index_server.add_bytes("demo-2.0-py3-none-any.whl", b"wheel")
    shared = tmp_path / "shared-cache"
    poisoned = ProjectPage(
        "demo", (IndexFile("demo-1.0-py3-none-any.whl", "https://x/demo-1.0-py3-none-any.whl"),)
    )
    assert Cache(shared, max_age=1e9).store(
        index_server.url, "demo", poisoned, fetched_at=time.time()
    )
    os.chmod(shared, 0o777)
    before = sorted(p.relative_to(shared) for p in shared.rglob("*"))
    env = pipfresh_env(tmp_path, extra={"PIPFRESH_CACHE_DIR": str(shared)})
    result = run_pipfresh(
        "--python", venv.path, "-i", index_server.url, "--format", "json", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert {p["name"]: p["latest"] for p in document["packages"]} == {"demo": "2.0"}
    assert index_server.count("/simple/demo/") == 1
    assert sorted(p.relative_to(shared) for p in shared.rglob("*")) == before
    clear = run_pipfresh("cache", "clear", "--cache-dir", shared, env=env, cwd=tmp_path)
    assert clear.returncode == 2, clear.stdout + clear.stderr
    assert clear.stderr == (
        f"pipfresh: error: cache clear: not using the cache {shared}: writable by others "
        "(mode 777); nothing was removed\n"
    )
    assert sorted(p.relative_to(shared) for p in shared.rglob("*")) == before
