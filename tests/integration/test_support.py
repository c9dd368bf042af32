"""The test infrastructure works: built distributions install with real installers, the
index server speaks both formats and proves concurrency bounds, faults behave as
documented, and pypiserver serves what we give it."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import socket
import subprocess
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest

from support.index_server import (
    HTML_TYPE,
    HTML_V1_TYPE,
    JSON_TYPE,
    IndexServer,
    PypiServer,
    Status,
    negotiate,
    refused_url,
)
from support.venvs import Installer, InstallError, VenvFactory, find_python, freeze, install
from support.wheels import WheelFactory, build_sdist, build_wheel, wheel_filename

T = TypeVar("T")
TIMEOUT = aiohttp.ClientTimeout(total=10)


def run(factory: Callable[[aiohttp.ClientSession], Awaitable[T]]) -> T:
    """Run ``factory(session)`` on a fresh event loop with a bounded client session."""

    async def main() -> T:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            return await factory(session)

    return asyncio.run(main())


def get(url: str, **headers: str) -> tuple[int, Mapping[str, str], bytes]:
    async def fetch(session: aiohttp.ClientSession) -> tuple[int, Mapping[str, str], bytes]:
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            return response.status, response.headers.copy(), await response.read()

    return run(fetch)


# --------------------------------------------------------------------------------------
# wheels and sdists
# --------------------------------------------------------------------------------------


def test_wheel_has_valid_metadata_and_record(tmp_path: Path) -> None:
    path = build_wheel(
        tmp_path,
        "Foo.Bar-baz",
        "1.0.post1",
        requires=["requests>=2", "rich; extra == 'color'"],
        requires_python=">=3.8",
        files={"foo_bar_baz/cli.py": "print('hi')\n"},
    )
    assert path.name == "foo_bar_baz-1.0.post1-py3-none-any.whl"
    assert path.name == wheel_filename("Foo.Bar-baz", "1.0.post1")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        dist_info = "foo_bar_baz-1.0.post1.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        record = list(csv.reader(io.StringIO(archive.read(f"{dist_info}/RECORD").decode())))
        assert archive.read("foo_bar_baz/__init__.py") == b"__version__ = '1.0.post1'\n"
        for member, digest, size in record:
            if member == f"{dist_info}/RECORD":
                assert digest == size == ""
                continue
            data = archive.read(member)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}"
            assert int(size) == len(data)
        assert sorted(row[0] for row in record) == sorted(names)
    assert "Metadata-Version: 2.1\nName: Foo.Bar-baz\nVersion: 1.0.post1\n" in metadata
    assert "Requires-Python: >=3.8\n" in metadata
    assert "Provides-Extra: color\n" in metadata
    assert "Requires-Dist: rich; extra == 'color'\n" in metadata
    # deterministic: same arguments, same bytes
    again = build_wheel(
        tmp_path / "again",
        "Foo.Bar-baz",
        "1.0.post1",
        requires=["requests>=2", "rich; extra == 'color'"],
        requires_python=">=3.8",
        files={"foo_bar_baz/cli.py": "print('hi')\n"},
    )
    assert again.read_bytes() == path.read_bytes()


def test_wheel_factory_caches_by_arguments(wheel_factory: WheelFactory) -> None:
    factory = wheel_factory
    first = factory("cached", "1.0")
    assert factory("cached", "1.0") is first
    other = factory("cached", "1.0", requires=["x"])
    assert other != first
    assert other.name == first.name


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_built_wheel_installs_from_index_server(
    installer: Installer,
    index_server: IndexServer,
    wheel_factory: WheelFactory,
    make_venv: VenvFactory,
) -> None:
    for version in ("1.0", "2.0"):
        index_server.add(wheel_factory(f"demo-{installer}", version, requires=["demo-dep"]))
    index_server.add(wheel_factory("demo-dep", "0.5"))
    venv = make_venv()
    install(venv, f"demo-{installer}==1.0", index_url=index_server.url, installer=installer)
    assert freeze(venv) == {f"demo-{installer}": "1.0", "demo-dep": "0.5"}
    module = f"demo_{installer}"
    imported = subprocess.run(
        [str(venv.python), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert imported.stdout.strip() == "1.0"
    assert index_server.count(f"demo-{installer}") >= 1
    # nothing came from anywhere but this index (the machine's pip config adds others)
    assert all(record.peer.startswith("127.0.0.1:") for record in index_server.requests)


def test_sdist_builds_and_installs_with_pip_offline(
    wheel_factory: WheelFactory, make_venv: VenvFactory
) -> None:
    sdist = wheel_factory.sdist("from-sdist", "3.1", requires_python=">=3.8")
    venv = make_venv()
    install(venv, sdist, index_url=None, installer="pip")  # --no-index: no network at all
    assert freeze(venv) == {"from-sdist": "3.1"}
    init = venv.site_packages / "from_sdist" / "__init__.py"
    assert init.read_text() == "__version__ = '3.1'\n"


def test_sdist_builds_and_installs_with_uv_from_index(
    index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory
) -> None:
    index_server.add(wheel_factory.sdist("uv-sdist", "0.9"))
    venv = make_venv()
    install(venv, "uv-sdist", index_url=index_server.url)
    assert freeze(venv) == {"uv-sdist": "0.9"}


OTHER_PYTHONS = [
    pytest.param(
        version,
        marks=pytest.mark.skipif(find_python(version) is None, reason=f"python{version} not found"),
    )
    for version in ("3.8", "3.13")
]


@pytest.mark.parametrize("version", OTHER_PYTHONS)
def test_wheel_and_sdist_install_into_other_interpreters(
    version: str, index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory
) -> None:
    python = find_python(version)
    assert python is not None
    index_server.add(wheel_factory("other-py", "1.0", requires=["other-py-sdist"]))
    index_server.add(wheel_factory.sdist("other-py-sdist", "2.0"))
    venv = make_venv(python=python)
    install(venv, "other-py", index_url=index_server.url)
    assert freeze(venv) == {"other-py": "1.0", "other-py-sdist": "2.0"}
    assert venv.site_packages.parent.name == f"python{version}"


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_broken_sdist_fails_to_install(
    installer: Installer, tmp_path: Path, index_server: IndexServer, make_venv: VenvFactory
) -> None:
    index_server.add(build_wheel(tmp_path, "fine", "1.0"))
    index_server.add(build_sdist(tmp_path, "broken", "1.0", broken=True))
    venv = make_venv()
    with pytest.raises(InstallError) as excinfo:
        install(venv, "fine", "broken", index_url=index_server.url, installer=installer)
    assert "broken on purpose" in excinfo.value.stderr + excinfo.value.stdout
    assert freeze(venv) == {}  # all or nothing: the good one was not installed either


# --------------------------------------------------------------------------------------
# index server: formats
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, HTML_TYPE),
        ("", HTML_TYPE),
        ("*/*", HTML_TYPE),
        ("text/html", HTML_TYPE),
        (JSON_TYPE, JSON_TYPE),
        (HTML_V1_TYPE, HTML_V1_TYPE),
        ("application/vnd.pypi.simple.latest+json", JSON_TYPE),
        # pip's header
        (f"{JSON_TYPE}, {HTML_V1_TYPE}; q=0.1, text/html; q=0.01", JSON_TYPE),
        (f"{JSON_TYPE}; q=0.2, {HTML_V1_TYPE}; q=0.5", HTML_V1_TYPE),
        (f"text/html; q=0.9, {JSON_TYPE}; q=0.8", HTML_TYPE),
        (f"{JSON_TYPE};q=0, */*", HTML_TYPE),
        ("application/*", HTML_V1_TYPE),
        (f"application/*, {JSON_TYPE}", JSON_TYPE),
        (f"{HTML_V1_TYPE}, {JSON_TYPE}", HTML_V1_TYPE),
        (f"{JSON_TYPE}, {HTML_V1_TYPE}", JSON_TYPE),
        ("application/json", None),
        ("image/png", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


def test_content_negotiation_serves_each_format(tmp_path: Path, index_server: IndexServer) -> None:
    wheel = build_wheel(tmp_path, "fmt", "1.0", requires_python=">=3.8,<4")
    entry = index_server.add(wheel, upload_time="2024-01-02T03:04:05.000000Z")
    index_server.add(build_sdist(tmp_path, "fmt", "0.9"), yanked="bad <release>")
    page = index_server.project_url("fmt")

    status, headers, body = get(page, Accept=JSON_TYPE)
    assert status == 200
    assert headers["Content-Type"] == JSON_TYPE
    document = json.loads(body)
    assert document["meta"] == {"api-version": "1.1"}
    assert document["name"] == "fmt"
    assert document["versions"] == ["0.9", "1.0"]
    sdist_file, wheel_file = document["files"]
    assert sdist_file["yanked"] == "bad <release>"
    assert "requires-python" not in sdist_file
    assert wheel_file["filename"] == wheel.name
    assert wheel_file["hashes"] == {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
    assert wheel_file["requires-python"] == ">=3.8,<4"
    assert wheel_file["yanked"] is False
    assert wheel_file["upload-time"] == "2024-01-02T03:04:05.000000Z"
    assert wheel_file["size"] == len(wheel.read_bytes())
    assert wheel_file["core-metadata"] == {"sha256": entry.metadata_sha256}

    for accept, content_type in [
        (HTML_V1_TYPE, HTML_V1_TYPE),
        ("text/html", "text/html; charset=utf-8"),
    ]:
        status, headers, body = get(page, Accept=accept)
        assert (status, headers["Content-Type"]) == (200, content_type)
        text = body.decode()
        assert f'{wheel.name}#sha256={entry.sha256}"' in text
        assert 'data-requires-python="&gt;=3.8,&lt;4"' in text
        assert 'data-yanked="bad &lt;release&gt;"' in text
        assert f'data-core-metadata="sha256={entry.metadata_sha256}"' in text

    # the file and its PEP 658 metadata match what the page advertises
    status, _, data = get(wheel_file["url"])
    assert (status, hashlib.sha256(data).hexdigest()) == (200, entry.sha256)
    status, _, metadata = get(wheel_file["url"] + ".metadata")
    assert (status, hashlib.sha256(metadata).hexdigest()) == (200, entry.metadata_sha256)

    status, headers, _ = get(page, Accept="application/json")
    assert status == 406
    status, headers, body = get(f"{index_server.url}/", Accept=JSON_TYPE)
    assert json.loads(body)["projects"] == [{"name": "fmt"}]


@pytest.mark.parametrize("requested", ["FMT", "Fmt_Thing", "fmt.thing", "fmt-thing"])
def test_non_normalised_names_redirect(requested: str, index_server: IndexServer) -> None:
    index_server.add_project("fmt-thing")
    index_server.add_project("fmt")
    status, headers, _ = get(f"{index_server.url}/{requested}")
    assert status == 301
    expected = "/simple/fmt/" if requested == "FMT" else "/simple/fmt-thing/"
    assert headers["Location"] == expected
    status, _, _ = get(f"{index_server.root_url}{expected}")
    assert status == 200
    status, _, _ = get(f"{index_server.url}/unknown/")
    assert status == 404


# --------------------------------------------------------------------------------------
# index server: concurrency accounting
# --------------------------------------------------------------------------------------


def fire(server: IndexServer, total: int, limit: int) -> list[int]:
    """Request ``total`` distinct pages with at most ``limit`` in flight."""
    for number in range(total):
        server.add_project(f"p{number}")

    async def scan(session: aiohttp.ClientSession) -> list[int]:
        semaphore = asyncio.Semaphore(limit)

        async def one(number: int) -> int:
            async with semaphore, session.get(f"{server.url}/p{number}/") as response:
                await response.read()
                return response.status

        return await asyncio.gather(*(one(n) for n in range(total)))

    return run(scan)


@pytest.mark.parametrize("limit", [1, 5, 8])
def test_hold_proves_the_bound_is_used(limit: int, index_server: IndexServer) -> None:
    hold = index_server.hold_until_in_flight(limit, timeout=5)
    assert fire(index_server, 20, limit) == [200] * 20
    assert hold.reached
    assert not hold.timed_out
    assert not index_server.hold_timed_out
    assert index_server.peak_in_flight == limit
    assert index_server.count("/simple/p*/") == 20
    assert index_server.wait_for(lambda server: server.in_flight == 0, timeout=5)


def test_hold_proves_the_bound_is_never_exceeded(index_server: IndexServer) -> None:
    hold = index_server.hold_until_in_flight(5, timeout=0.4)
    fire(index_server, 12, 4)
    assert hold.timed_out
    assert not hold.reached
    assert hold.held == 4  # all a limit-4 client could send while everything was held
    assert index_server.peak_in_flight == 4


def test_hold_detects_a_client_over_its_bound(index_server: IndexServer) -> None:
    hold = index_server.hold_until_in_flight(5, timeout=5)
    fire(index_server, 12, 12)  # the "buggy" client: more than 4 at once
    assert hold.reached
    assert not hold.timed_out
    assert index_server.peak_in_flight >= 5


def test_keep_alive_connections_are_counted(index_server: IndexServer) -> None:
    fire(index_server, 10, 1)
    assert index_server.connection_count == 1  # one pooled connection, reused


# --------------------------------------------------------------------------------------
# index server: faults
# --------------------------------------------------------------------------------------


def test_failures_then_success(index_server: IndexServer) -> None:
    index_server.add_project("flaky")
    index_server.fail("flaky", 503, times=2, headers={"Retry-After": "7"})
    first = get(index_server.project_url("flaky"))
    assert (first[0], first[1]["Retry-After"]) == (503, "7")
    assert get(index_server.project_url("flaky"))[0] == 503
    assert get(index_server.project_url("flaky"))[0] == 200
    assert [r.status for r in index_server.requests] == [503, 503, 200]


def test_hook_picks_faults_per_request(index_server: IndexServer) -> None:
    index_server.add_project("hooked")
    index_server.on_request(
        lambda record: Status(429, {"Retry-After": "0"}) if record.query == "slow=1" else None
    )
    assert get(index_server.project_url("hooked") + "?slow=1")[0] == 429
    assert get(index_server.project_url("hooked"))[0] == 200


def test_stall_holds_until_released_and_sees_disconnects(index_server: IndexServer) -> None:
    index_server.add_project("slow")
    stall = index_server.stall("slow")

    async def abandoned(session: aiohttp.ClientSession) -> None:
        task = asyncio.ensure_future(session.get(index_server.project_url("slow")))
        assert await asyncio.to_thread(stall.wait_started, 5)
        task.cancel()  # the client gives up: its connection is closed
        with pytest.raises(asyncio.CancelledError):
            await task

    run(abandoned)
    assert index_server.wait_for(lambda s: s.in_flight == 0, timeout=5)
    assert (stall.stalled, stall.disconnected) == (1, 1)

    async def released(session: aiohttp.ClientSession) -> int:
        task = asyncio.ensure_future(session.get(index_server.project_url("slow")))
        assert await asyncio.to_thread(stall.wait_started, 5)
        assert await asyncio.to_thread(index_server.wait_for, lambda s: s.in_flight == 1, 5)
        assert not task.done()
        stall.release()
        async with await task as response:
            return response.status

    assert run(released) == 200


def raw_get(server: IndexServer, path: str) -> bytes:
    """One HTTP/1.1 request over a plain socket; returns all bytes until EOF."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(
            f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode()
        )
        received = b""
        for _ in range(1000):
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


@pytest.mark.parametrize("after_bytes", [None, 10])
def test_reset_connection(after_bytes: int | None, index_server: IndexServer) -> None:
    index_server.add_project("reset")
    index_server.reset("reset", after_bytes=after_bytes, times=1)
    with pytest.raises(ConnectionResetError):
        raw_get(index_server, "/simple/reset/")
    assert raw_get(index_server, "/simple/reset/").startswith(b"HTTP/1.1 200 OK\r\n")


def test_reset_mid_body_fails_an_aiohttp_client(index_server: IndexServer) -> None:
    index_server.add_project("reset")
    index_server.reset("reset", after_bytes=10, times=1)
    with pytest.raises(aiohttp.ClientPayloadError):
        get(index_server.project_url("reset"))
    assert get(index_server.project_url("reset"))[0] == 200


def test_truncated_body(index_server: IndexServer) -> None:
    index_server.add_project("cut")
    index_server.truncate("cut", keep=20)

    async def fetch(session: aiohttp.ClientSession) -> bytes:
        async with session.get(index_server.project_url("cut")) as response:
            assert response.status == 200
            return await response.read()

    with pytest.raises(aiohttp.ClientPayloadError):
        run(fetch)


def test_bad_bodies_and_content_types(index_server: IndexServer) -> None:
    index_server.add_project("badjson")
    index_server.add_project("badtype")
    index_server.invalid_json("badjson")
    index_server.wrong_content_type("badtype", "text/plain")
    status, headers, body = get(index_server.project_url("badjson"), Accept=JSON_TYPE)
    assert (status, headers["Content-Type"]) == (200, JSON_TYPE)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    status, headers, body = get(index_server.project_url("badtype"), Accept=JSON_TYPE)
    assert (status, headers["Content-Type"]) == (200, "text/plain")
    assert json.loads(body)["name"] == "badtype"


def test_etag_and_304(index_server: IndexServer) -> None:
    index_server.add_project("cached")
    index_server.set_headers("cached", {"Cache-Control": "max-age=60"})
    index_server.enable_etags("cached")
    status, headers, _ = get(index_server.project_url("cached"), Accept=JSON_TYPE)
    etag = headers["ETag"]
    assert (status, headers["Cache-Control"]) == (200, "max-age=60")
    conditional = {"Accept": JSON_TYPE, "If-None-Match": etag}
    status, _, body = get(index_server.project_url("cached"), **conditional)
    assert (status, body) == (304, b"")
    index_server.add_bytes("cached-2.0.tar.gz", b"not really a tarball")
    status, headers, _ = get(index_server.project_url("cached"), **conditional)
    assert status == 200
    assert headers["ETag"] != etag


def test_basic_auth(index_server: IndexServer) -> None:
    index_server.add_project("private")
    index_server.require_auth("alice", "s3cret")
    status, headers, _ = get(index_server.project_url("private"))
    assert (status, headers["WWW-Authenticate"]) == (401, 'Basic realm="pipfresh-test"')
    token = base64.b64encode(b"alice:s3cret").decode()
    assert get(index_server.project_url("private"), Authorization=f"Basic {token}")[0] == 200
    assert index_server.requests[-1].authorization == f"Basic {token}"


def test_uv_sends_credentials_from_the_index_url(
    index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory
) -> None:
    index_server.add(wheel_factory("secret-pkg", "1.0"))
    index_server.require_auth("bob", "pw")
    venv = make_venv()
    with pytest.raises(InstallError):
        install(venv, "secret-pkg", index_url=index_server.url)
    install(venv, "secret-pkg", index_url=index_server.url_with_auth("bob", "pw"))
    assert freeze(venv) == {"secret-pkg": "1.0"}


# --------------------------------------------------------------------------------------
# pypiserver
# --------------------------------------------------------------------------------------


def test_pypiserver_serves_a_wheel_pip_installs(
    pypiserver: PypiServer, wheel_factory: WheelFactory, make_venv: VenvFactory
) -> None:
    wheel = wheel_factory("from-pypiserver", "4.2")
    pypiserver.add(wheel)
    status, _, body = get(f"{pypiserver.url}/from-pypiserver/")
    assert status == 200
    assert wheel.name in body.decode()
    venv = make_venv()
    install(venv, "from-pypiserver", index_url=pypiserver.url, installer="pip")
    assert freeze(venv) == {"from-pypiserver": "4.2"}


def test_refused_url_refuses() -> None:
    with pytest.raises(aiohttp.ClientConnectorError):
        get(refused_url() + "/")
