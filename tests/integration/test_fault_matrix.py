"""The fault matrix of ``pipfresh outdated`` (docs/reliability.md): bad index answers,
damaged installed metadata, a damaged or unwritable cache, hostile input and TLS.

Every run here is a real ``python -m pipfresh`` subprocess against an index server on
127.0.0.1 (``support.index_server``). Every run is checked for the same things:

* the exit status the matrix documents (0 ok, 2 usage error, 3 some projects unchecked);
* no ``Traceback`` and no "internal error" anywhere in its output;
* no password: the index URLs carry credentials (:data:`SECRET`) and the server
  requires them, so every error message, the JSON document and ``--verbose`` logs are
  checked for leaks;
* each project that could not be checked has exactly one line of reason.

The installed side needs no installer: a venv made by ``uv venv`` gets ``*.dist-info``
folders written straight into its site-packages.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from integration.test_scan_helpers import (
    PIPFRESH,
    RUN_TIMEOUT,
    describe,
    pipfresh_env,
    run_pipfresh,
)
from pipfresh.index.client import MAX_ATTEMPTS, MAX_REFUSED_ATTEMPTS
from support.index_server import (
    HTML_TYPE,
    JSON_TYPE,
    IndexServer,
    RequestRecord,
    Status,
    refused_url,
)
from support.venvs import Venv, make_venv

USER = "alice"
SECRET = "s3cr3t-Fault-Pa55"
TOKEN = "tok3n-Fault-xyzzy"

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def write_dist(site: Path, name: str, version: str, *, metadata: bytes | None = None) -> Path:
    """``NAME-VERSION.dist-info/METADATA`` (``metadata`` replaces the generated file)."""
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    if metadata is None:
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
    (folder / "METADATA").write_bytes(metadata)
    return folder


def new_venv(root: Path, *dists: tuple[str, str]) -> Venv:
    venv = make_venv(root)
    for name, version in dists:
        write_dist(venv.site_packages, name, version)
    return venv


def publish(server: IndexServer, name: str, *versions: str) -> None:
    """List a py3-none-any wheel per version (the content is never downloaded)."""
    for version in versions:
        server.add_bytes(f"{name.replace('-', '_')}-{version}-py3-none-any.whl", b"wheel")


def run(
    *args: str | os.PathLike[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return run_pipfresh(*args, env=env, cwd=cwd)


def assert_clean(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    """No traceback, no internal error, no secret, anywhere in the output."""
    text = result.stdout + result.stderr
    assert "Traceback" not in text, describe(result)
    assert "internal error" not in text, describe(result)
    for secret in (SECRET, TOKEN, *secrets):
        assert secret not in text, describe(result)


def json_run(
    *args: str | os.PathLike[str], env: dict[str, str], cwd: Path, expect: int
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """``--format json --verbose``: the document, with the run checked for leaks."""
    result = run(*args, "--format", "json", "--verbose", env=env, cwd=cwd)
    assert result.returncode == expect, describe(result)
    assert_clean(result)
    document: dict[str, Any] = json.loads(result.stdout)
    return document, result


def single_error(document: dict[str, Any], result: subprocess.CompletedProcess[str]) -> str:
    """The one project error of a run: one line in JSON, the same line in --verbose."""
    [error] = document["errors"]
    reason = error["reason"]
    assert isinstance(reason, str), reason
    assert reason, reason
    assert "\n" not in reason, reason
    logged = [line for line in result.stderr.splitlines() if line.startswith("pipfresh: demo:")]
    assert logged == [f"pipfresh: demo: {reason}"], describe(result)
    assert document["summary"]["errors"] == 1
    return reason


def latest(document: dict[str, Any]) -> dict[str, str | None]:
    return {p["name"]: p["latest"] for p in document["packages"]}


@dataclass
class Scene:
    venv: Venv  # demo 1.0 installed
    server: IndexServer  # demo 1.0 and 2.0; requires USER:SECRET
    env: dict[str, str]
    cwd: Path

    @property
    def url(self) -> str:
        return self.server.url_with_auth(USER, SECRET)

    def scan(
        self, *extra: str, expect: int
    ) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
        self.server.reset_stats()
        return json_run(
            "--python",
            self.venv.path,
            "-i",
            self.url,
            *extra,
            env=self.env,
            cwd=self.cwd,
            expect=expect,
        )


@pytest.fixture(scope="module")
def demo_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return new_venv(tmp_path_factory.mktemp("demo") / "venv", ("demo", "1.0"))


@pytest.fixture
def scene(demo_venv: Venv, index_server: IndexServer, tmp_path: Path) -> Scene:
    publish(index_server, "demo", "1.0", "2.0")
    index_server.require_auth(USER, SECRET)
    return Scene(demo_venv, index_server, pipfresh_env(tmp_path), tmp_path)


def json_page(*entries: dict[str, Any], versions: list[str] | None = None) -> bytes:
    document: dict[str, Any] = {
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "files": list(entries),
    }
    if versions is not None:
        document["versions"] = versions
    return json.dumps(document).encode()


def entry(filename: str, **extra: Any) -> dict[str, Any]:
    return {"filename": filename, "url": f"https://files.example/{filename}", "hashes": {}, **extra}


def html_page(*filenames: str, charset: str = "utf-8") -> bytes:
    anchors = "".join(f'<a href="/files/{f}">{f}</a><br/>\n' for f in filenames)
    return f"<!DOCTYPE html><html><body>\n{anchors}</body></html>".encode(charset)


# --------------------------------------------------------------------------------------
# index answers that fail the project: exit 3, one line of reason
# --------------------------------------------------------------------------------------

Setup = Callable[[IndexServer], None]


FAILURES: dict[str, tuple[Setup, tuple[str, ...], int | None]] = {
    # id: (fault, what the reason says, requests the server saw for the page)
    "401": (
        lambda s: s.fail("demo", 401, headers={"WWW-Authenticate": 'Basic realm="x"'}),
        ("HTTP 401", "check the credentials"),
        1,
    ),
    "403": (lambda s: s.fail("demo", 403), ("HTTP 403", "check the credentials"), 1),
    "400": (lambda s: s.fail("demo", 400), ("HTTP 400",), 1),
    "404": (lambda s: s.fail("demo", 404), ("not found on any index",), 1),
    "410": (lambda s: s.fail("demo", 410), ("not found on any index",), 1),
    "429-forever": (
        lambda s: s.fail("demo", 429, headers={"Retry-After": "0"}),
        ("HTTP 429",),
        MAX_REFUSED_ATTEMPTS,
    ),
    "500-forever": (lambda s: s.fail("demo", 500), ("HTTP 500",), MAX_ATTEMPTS),
    "503-forever": (
        lambda s: s.fail("demo", 503, headers={"Retry-After": "0"}),
        ("HTTP 503",),
        MAX_REFUSED_ATTEMPTS,
    ),
    "reset-before-answer": (lambda s: s.reset("demo"), ("reset",), None),
    "reset-mid-body": (
        lambda s: s.reset("demo", after_bytes=20),
        ("cut short",),
        MAX_ATTEMPTS,
    ),
    "truncated-body": (lambda s: s.truncate("demo"), ("cut short",), MAX_ATTEMPTS),
    "invalid-json": (lambda s: s.invalid_json("demo"), ("invalid JSON",), 1),
    "empty-json-body": (lambda s: s.respond("demo", b""), ("invalid JSON",), 1),
    "json-not-an-object": (lambda s: s.respond("demo", b"[1, 2]"), ("JSON",), 1),
    "json-api-version-2": (
        lambda s: s.respond("demo", b'{"meta": {"api-version": "2.0"}, "files": []}'),
        ("unsupported repository API version",),
        1,
    ),
    "html-not-an-index": (
        lambda s: s.respond("demo", b"Please log in to the proxy.\n", content_type=HTML_TYPE),
        ("not an HTML index page",),
        1,
    ),
    "wrong-content-type": (lambda s: s.wrong_content_type("demo"), ("unexpected content type",), 1),
    "plain-application-json": (
        lambda s: s.wrong_content_type("demo", "application/json"),
        ("unexpected content type 'application/json'",),
        1,
    ),
    "redirect-loop": (
        lambda s: s.redirect("demo", "/simple/demo/"),
        ("too many redirects",),
        None,
    ),
    "redirect-to-refused-port": (
        lambda s: s.redirect("demo", refused_url() + "/demo/"),
        ("cannot connect",),
        None,
    ),
    "non-utf8-json": (
        lambda s: s.respond(
            "demo", json_page(entry("demo-3.0-py3-none-any.whl")).replace(b"3.0", b"3\xff0")
        ),
        ("invalid JSON",),
        1,
    ),
    "non-utf8-html-declared-utf8": (
        lambda s: s.respond(
            "demo",
            html_page("demo-3.0.tar.gz") + b"\xff\xfe",
            content_type="text/html; charset=utf-8",
        ),
        ("not valid utf-8",),
        1,
    ),
    "html-unknown-charset": (
        lambda s: s.respond(
            "demo", html_page("demo-3.0.tar.gz"), content_type="text/html; charset=x-klingon"
        ),
        ("not valid x-klingon",),
        1,
    ),
    "304-to-unconditional-request": (
        lambda s: s.fail("demo", 304),
        ("304 Not Modified to an unconditional request",),
        1,
    ),
}


XFAIL: dict[str, str] = {}


def cases(table: dict[str, Any]) -> list[Any]:
    return [
        pytest.param(
            case,
            id=key,
            marks=[pytest.mark.xfail(strict=True, reason=XFAIL[key])] if key in XFAIL else [],
        )
        for key, case in table.items()
    ]


@pytest.mark.parametrize("case", cases(FAILURES))
def test_index_failure_is_one_line_exit_3(
    scene: Scene, case: tuple[Setup, tuple[str, ...], int | None]
) -> None:
    setup, needles, requests = case
    setup(scene.server)
    document, result = scene.scan(expect=3)
    reason = single_error(document, result)
    for needle in needles:
        assert needle in reason, reason
    if requests is not None:
        assert scene.server.count("demo") == requests
    # The URL in the reason is the index's, with the password masked.
    if "127.0.0.1" in reason and "cannot connect" not in reason:
        assert f"{USER}:****@" in reason, reason


def test_table_freeze_and_jsonl_show_the_reason_without_the_password(scene: Scene) -> None:
    scene.server.fail("demo", 403)
    for fmt in ("table", "freeze", "jsonl"):
        result = run(
            "--python",
            scene.venv.path,
            "-i",
            scene.url,
            "--format",
            fmt,
            "-v",
            env=scene.env,
            cwd=scene.cwd,
        )
        assert result.returncode == 3, describe(result)
        assert_clean(result)
        assert "HTTP 403" in result.stdout + result.stderr, describe(result)
        assert f"{USER}:****@" in result.stdout + result.stderr, describe(result)


def test_connection_refused(demo_venv: Venv, tmp_path: Path) -> None:
    url = refused_url().replace("http://", f"http://{USER}:{SECRET}@")
    document, result = json_run(
        "--python", demo_venv.path, "-i", url, env=pipfresh_env(tmp_path), cwd=tmp_path, expect=3
    )
    reason = single_error(document, result)
    assert reason.startswith("cannot connect"), reason
    assert f"{USER}:****@127.0.0.1" in reason


def test_no_credentials_gets_401_with_an_authentication_hint(scene: Scene) -> None:
    result = run("--python", scene.venv.path, "-i", scene.server.url, env=scene.env, cwd=scene.cwd)
    assert result.returncode == 3, describe(result)
    assert_clean(result)
    errors = [line for line in result.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, describe(result)
    assert "HTTP 401" in errors[0], errors
    assert "credentials" in errors[0], errors


def test_token_in_the_index_url_is_never_shown(scene: Scene) -> None:
    """A lone ``token@`` is a secret too (pip sends it as the user name)."""
    scene.server.require_auth(TOKEN, "")
    scene.server.fail("demo", 403)
    url = f"http://{TOKEN}@127.0.0.1:{scene.server.port}/simple"
    for fmt in ("table", "json"):
        result = run(
            "--python",
            scene.venv.path,
            "-i",
            url,
            "--format",
            fmt,
            "-v",
            env=scene.env,
            cwd=scene.cwd,
        )
        assert result.returncode == 3, describe(result)
        assert_clean(result)


def test_stalled_projects_time_out_and_the_rest_is_answered(
    index_server: IndexServer, tmp_path: Path
) -> None:
    venv = new_venv(tmp_path / "venv", ("headless", "1.0"), ("midbody", "1.0"), ("fine", "1.0"))
    for name in ("headless", "midbody", "fine"):
        publish(index_server, name, "1.0", "2.0")
    headless = index_server.stall("headless")
    midbody = index_server.stall("midbody", after_bytes=10)
    started = time.monotonic()
    document, _result = json_run(
        "--python",
        venv.path,
        "-i",
        index_server.url,
        "--timeout",
        "1",
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
        expect=3,
    )
    elapsed = time.monotonic() - started
    headless.release()
    midbody.release()
    assert latest(document) == {"fine": "2.0"}
    reasons = {e["name"]: e["reason"] for e in document["errors"]}
    assert set(reasons) == {"headless", "midbody"}
    for reason in reasons.values():
        assert reason.startswith("timed out after 1 s"), reason
    # MAX_ATTEMPTS (4) reads of at most 1 s each, plus backoff: bounded.
    assert elapsed < 15, elapsed


# --------------------------------------------------------------------------------------
# index answers that are survived: exit 0, the right answer
# --------------------------------------------------------------------------------------

RECOVERIES: dict[str, tuple[Setup, int | None]] = {
    # id: (fault, requests the server saw for the page)
    "429-retry-after-0-twice": (
        lambda s: s.fail("demo", 429, times=2, headers={"Retry-After": "0"}),
        3,
    ),
    # Without Retry-After a refusal waits 0.5-1 s, doubling: once is enough to show it.
    "429-without-retry-after-once": (lambda s: s.fail("demo", 429, times=1), 2),
    "429-retry-after-not-a-number": (
        lambda s: s.fail("demo", 429, times=1, headers={"Retry-After": "soon"}),
        2,
    ),
    "500-twice": (lambda s: s.fail("demo", 500, times=2), 3),
    "502-twice": (lambda s: s.fail("demo", 502, times=2), 3),
    "503-twice": (lambda s: s.fail("demo", 503, times=2, headers={"Retry-After": "0"}), 3),
    "504-once": (lambda s: s.fail("demo", 504, times=1), 2),
    "reset-once": (lambda s: s.reset("demo", times=1), None),
    "reset-mid-body-once": (lambda s: s.reset("demo", after_bytes=20, times=1), 2),
    "truncated-once": (lambda s: s.truncate("demo", times=1), 2),
    "same-host-redirect-keeps-credentials": (
        # /simple/Demo is redirected again (301) to /simple/demo/; the server requires
        # the credentials on every request, so an answer proves they were kept.
        lambda s: s.redirect("demo", "/simple/Demo", times=1),
        2,
    ),
}


@pytest.mark.parametrize("case", cases(RECOVERIES))
def test_transient_faults_are_retried(scene: Scene, case: tuple[Setup, int | None]) -> None:
    setup, requests = case
    setup(scene.server)
    document, _ = scene.scan(expect=0)
    assert latest(document) == {"demo": "2.0"}
    assert document["errors"] == []
    if requests is not None:
        assert scene.server.count("demo") == requests


def test_retry_after_is_honoured(scene: Scene) -> None:
    arrivals: list[float] = []

    def clock(record: RequestRecord) -> None:
        if record.path == "/simple/demo/":
            arrivals.append(time.monotonic())

    scene.server.on_request(clock)
    scene.server.fail("demo", 429, times=1, headers={"Retry-After": "1"})
    document, _ = scene.scan(expect=0)
    assert latest(document) == {"demo": "2.0"}
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.9


# Pages that are odd but usable: bad entries are skipped, the rest is used.
ODD_PAGES: dict[str, tuple[bytes, str, str]] = {
    "json-duplicate-filenames-and-versions": (
        json_page(
            entry("demo-2.0-py3-none-any.whl"),
            entry("demo-2.0-py3-none-any.whl"),
            entry("demo-2.0.0.tar.gz"),
            entry("demo-2.0.tar.gz"),
            entry("demo-1.0-py3-none-any.whl"),
            versions=["1.0", "2.0", "2.0", "2.0.0"],
        ),
        JSON_TYPE,
        "2.0",
    ),
    "json-invalid-filenames-and-versions": (
        json_page(
            entry("demo-2.0-py3-none-any.whl"),
            entry("demo-9!!-py3-none-any.whl"),
            entry("demo-banana.tar.gz"),
            entry("demo.whl"),
            entry("-3.0.tar.gz"),
            entry("demo-4.0-py3-none-any.whl.exe"),
            entry("other-5.0-py3-none-any.whl"),
            entry(""),
            {"filename": 42, "url": None},
            versions=["1.0", "2.0", "banana", "9!!", ""],
        ),
        JSON_TYPE,
        "2.0",
    ),
    "html-duplicate-filenames-and-versions": (
        html_page(
            "demo-2.0-py3-none-any.whl",
            "demo-2.0-py3-none-any.whl",
            "demo-2.0.0.tar.gz",
            "demo-1.0.tar.gz",
        ),
        HTML_TYPE,
        "2.0",
    ),
    "html-invalid-filenames-and-versions": (
        html_page(
            "demo-2.0-py3-none-any.whl",
            "demo-banana.tar.gz",
            "demo-9!!-py3-none-any.whl",
            "demo.whl",
            "other-5.0.tar.gz",
            "%ff%fe.tar.gz",
        ),
        HTML_TYPE,
        "2.0",
    ),
    "html-latin-1-declared": (
        html_page("demo-2.0.tar.gz").replace(b"<body>", "<body>Café \u00e9".encode("latin-1")),
        "text/html; charset=latin-1",
        "2.0",
    ),
}


@pytest.mark.parametrize("case", cases(ODD_PAGES))
def test_odd_but_usable_pages(scene: Scene, case: tuple[bytes, str, str]) -> None:
    body, content_type, expected = case
    scene.server.respond("demo", body, content_type=content_type)
    document, _ = scene.scan(expect=0)
    assert latest(document) == {"demo": expected}


def test_html_document_without_links_is_an_empty_project(scene: Scene) -> None:
    """A whole HTML document with no links (a portal page, a project with no files) is
    read as an index page that lists nothing, as pip reads it: the project has no
    installable release, so nothing is outdated. See docs/reliability.md."""
    scene.server.respond(
        "demo",
        b"<!DOCTYPE html><html><body><h1>Sign in</h1><form></form></body></html>",
        content_type=HTML_TYPE,
    )
    document, _ = scene.scan("--all", expect=0)
    assert [(p["name"], p["latest"]) for p in document["packages"]] == [("demo", None)]


def test_redirect_to_another_host_drops_credentials(scene: Scene) -> None:
    with IndexServer() as other:
        publish(other, "demo", "1.0", "3.0")
        scene.server.redirect("demo", other.project_url("demo"))
        document, _ = scene.scan(expect=0)
        assert latest(document) == {"demo": "3.0"}
        seen = [r for r in other.requests if r.path == "/simple/demo/"]
        assert seen, other.requests
        assert all(r.authorization is None for r in seen), [r.headers for r in seen]
    # ... while the index itself did get them.
    assert all(r.authorization for r in scene.server.requests)


def test_redirect_to_another_host_drops_netrc_credentials(
    demo_venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin {USER}\npassword {SECRET}\n")
    netrc.chmod(0o600)
    with IndexServer() as other:
        publish(other, "demo", "1.0", "3.0")
        index_server.redirect("demo", other.project_url("demo"))
        document, _ = json_run(
            "--python",
            demo_venv.path,
            "-i",
            index_server.url,
            env=pipfresh_env(tmp_path, netrc=netrc),
            cwd=tmp_path,
            expect=0,
        )
        assert latest(document) == {"demo": "3.0"}
        seen = [r for r in other.requests if r.path == "/simple/demo/"]
        assert seen, other.requests
        assert all(r.authorization is None for r in seen), [r.headers for r in seen]
    assert all(r.authorization for r in index_server.requests)


# --------------------------------------------------------------------------------------
# a 50 MB page: memory stays bounded
# --------------------------------------------------------------------------------------

BIG_PAGE_BYTES = 50_000_000
#: Peak RSS allowed for the pipfresh process reading the 50 MB page (measured: see
#: docs/reliability.md).
BIG_PAGE_RSS_LIMIT_MB = 400


def big_json_page(size: int) -> tuple[bytes, int]:
    """A PEP 691 page of ``demo`` of about ``size`` bytes: many releases, realistic
    entries (long URLs, hashes, requires-python, upload times)."""
    files: list[bytes] = []
    total = 0
    n = 0
    while total < size:
        version = f"0.{n // 100}.{n % 100}"
        filename = f"demo-{version}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        item = json.dumps(
            {
                "filename": filename,
                "url": f"https://files.example/packages/{n:064x}/{filename}",
                "hashes": {"sha256": f"{n:064x}"},
                "requires-python": ">=3.8",
                "upload-time": "2024-01-02T03:04:05.123456Z",
                "size": 12345678,
                "yanked": False,
                "core-metadata": {"sha256": f"{n:064x}"},
            }
        ).encode()
        files.append(item)
        total += len(item) + 1
        n += 1
    final = json.dumps(entry("demo-2.0-py3-none-any.whl")).encode()
    body = (
        b'{"meta": {"api-version": "1.1"}, "name": "demo", "files": ['
        + b",".join([*files, final])
        + b"]}"
    )
    return body, n + 1


def run_measuring_rss(
    args: list[str], env: dict[str, str], cwd: Path, tmp_path: Path
) -> tuple[int, str, str, int]:
    """Run pipfresh; (exit status, stdout, stderr, peak RSS in MB) via os.wait4."""
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [*PIPFRESH, *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        killer = threading.Timer(RUN_TIMEOUT, process.kill)  # bounds the blocking wait4
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    peak_mb = usage.ru_maxrss // 1024  # KiB on Linux
    return process.returncode, out_path.read_text(), err_path.read_text(), peak_mb


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
def test_50_mb_page_keeps_memory_bounded(scene: Scene, tmp_path: Path) -> None:
    body, files = big_json_page(BIG_PAGE_BYTES)
    scene.server.respond("demo", body)
    code, stdout, stderr, peak_mb = run_measuring_rss(
        ["--python", str(scene.venv.path), "-i", scene.url, "--format", "json"],
        scene.env,
        scene.cwd,
        tmp_path,
    )
    assert code == 0, stdout + stderr
    assert "Traceback" not in stderr
    assert SECRET not in stdout + stderr
    assert latest(json.loads(stdout)) == {"demo": "2.0"}
    print(f"50 MB page ({len(body)} bytes, {files} files): peak RSS {peak_mb} MB")
    assert peak_mb < BIG_PAGE_RSS_LIMIT_MB, peak_mb


# --------------------------------------------------------------------------------------
# 1,000 projects against a throttling index
# --------------------------------------------------------------------------------------

THROTTLE_PROJECTS = 1000
#: The index accepts this many requests per sliding second and answers 429 beyond it
#: (the benchmark's throttle, benchmarks/synthetic.py --throttle-rps 300).
THROTTLE_RPS = 300


@pytest.mark.parametrize(
    "retry_after",
    [pytest.param("1", id="retry-after-1"), pytest.param(None, id="no-retry-after")],
)
def test_1000_projects_against_a_throttling_index(
    index_server: IndexServer, tmp_path: Path, retry_after: str | None
) -> None:
    names = [f"proj{i:04d}" for i in range(THROTTLE_PROJECTS)]
    venv = make_venv(tmp_path / "venv")
    for name in names:
        write_dist(venv.site_packages, name, "1.0")
        index_server.add_project(name)
    accepted: collections.deque[float] = collections.deque()
    throttled = 0
    lock = threading.Lock()
    refusal = Status(429, {"Retry-After": retry_after} if retry_after else {})

    def throttle(record: RequestRecord) -> Status | None:
        nonlocal throttled
        now = time.monotonic()
        with lock:
            while accepted and accepted[0] <= now - 1.0:
                accepted.popleft()
            if len(accepted) < THROTTLE_RPS:
                accepted.append(now)
                return None
            throttled += 1
            return refusal

    index_server.on_request(throttle)
    started = time.monotonic()
    result = run(
        "--python",
        venv.path,
        "-i",
        index_server.url,
        "--all",
        "--format",
        "json",
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    assert_clean(result)
    assert throttled > 0, "the index never throttled: the test proves nothing"
    document = json.loads(result.stdout)
    assert document["errors"] == [], f"{len(document['errors'])} projects lost"
    assert result.returncode == 0, describe(result)
    assert document["summary"]["checked"] == THROTTLE_PROJECTS
    assert sorted(p["name"] for p in document["packages"]) == names
    assert elapsed < 20, elapsed


# --------------------------------------------------------------------------------------
# installed metadata
# --------------------------------------------------------------------------------------


@dataclass
class Installed:
    document: dict[str, Any]
    result: subprocess.CompletedProcess[str]

    def package(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.document["packages"] if p["name"] == name), None)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """One scan of a venv holding every kind of damaged distribution, beside good ones."""
    root = tmp_path_factory.mktemp("damaged")
    venv = make_venv(root / "venv")
    site = venv.site_packages
    write_dist(site, "good", "1.0")
    # missing METADATA
    (site / "nometa-1.0.dist-info").mkdir()
    # empty METADATA
    write_dist(site, "emptymeta", "1.0", metadata=b"")
    # METADATA without a Version / without a Name
    write_dist(site, "noversion", "1.0", metadata=b"Metadata-Version: 2.1\nName: noversion\n\n")
    write_dist(site, "noname", "1.0", metadata=b"Metadata-Version: 2.1\nVersion: 1.0\n\n")
    # an invalid (non PEP 440) version string
    write_dist(
        site,
        "legacy",
        "1.0",
        metadata=b"Metadata-Version: 2.1\nName: legacy\nVersion: 1.0-custom build!\n\n",
    )
    # non-UTF-8 bytes in the metadata
    write_dist(
        site,
        "latin",
        "1.0",
        metadata=(
            b"Metadata-Version: 2.1\nName: latin\nVersion: 1.0\nAuthor: Fran\xe7ois\n\n\xff\xfe"
        ),
    )
    # binary garbage as METADATA
    write_dist(site, "garbage", "1.0", metadata=bytes(range(256)) * 4)
    # a dist-info that is a file, not a folder
    (site / "isfile-1.0.dist-info").write_text("Name: isfile\nVersion: 1.0\n")
    # a dangling symlink as dist-info folder, and as METADATA
    (site / "dangling-1.0.dist-info").symlink_to(root / "nowhere")
    (site / "danglingmeta-1.0.dist-info").mkdir()
    (site / "danglingmeta-1.0.dist-info" / "METADATA").symlink_to(root / "nowhere")
    # two copies of one distribution: site-packages (first on sys.path) and a .pth folder
    write_dist(site, "dup", "1.5")
    later = root / "later"
    write_dist(later, "dup", "0.5")
    (site / "zz-later.pth").write_text(f"{later}\n")
    with IndexServer() as server:
        for name in ("good", "legacy", "latin", "dup", "nometa", "emptymeta", "garbage"):
            publish(server, name, "1.0", "2.0")
        server.require_auth(USER, SECRET)
        document, result = json_run(
            "--python",
            venv.path,
            "-i",
            server.url_with_auth(USER, SECRET),
            "--all",
            env=pipfresh_env(root),
            cwd=root,
            expect=0,
        )
        yield Installed(document, result)


@pytest.mark.parametrize(
    "name",
    ["nometa", "emptymeta", "noversion", "noname", "garbage", "isfile", "dangling", "danglingmeta"],
)
def test_unreadable_distributions_are_skipped(damaged: Installed, name: str) -> None:
    assert damaged.package(name) is None
    assert damaged.package("good") is not None  # the rest of the scan went on
    assert damaged.document["errors"] == []


def test_invalid_installed_version_is_compared_as_unknown(damaged: Installed) -> None:
    package = damaged.package("legacy")
    assert package is not None
    assert (package["installed"], package["latest"], package["bump"]) == (
        "1.0-custom build!",
        "2.0",
        "unknown",
    )


def test_non_utf8_metadata_is_read(damaged: Installed) -> None:
    package = damaged.package("latin")
    assert package is not None
    assert (package["installed"], package["latest"]) == ("1.0", "2.0")


def test_first_copy_on_the_path_wins(damaged: Installed) -> None:
    package = damaged.package("dup")
    assert package is not None
    assert package["installed"] == "1.5"
    assert damaged.document["summary"]["checked"] == 4  # good, legacy, latin, dup


# --------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------


def cache_scene(scene: Scene, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An env whose cache is kept between runs (not the per-run default)."""
    root = tmp_path / "shared-cache"
    return scene.env | {"PIPFRESH_CACHE_DIR": str(root)}, root


def entries(root: Path) -> list[Path]:
    return sorted(root.rglob("*.entry"))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated-entry"),
        pytest.param(lambda b: b"\0" * len(b), id="zeroed-entry"),
        pytest.param(lambda b: b"", id="empty-entry"),
        pytest.param(lambda b: os.urandom(64) + b[64:], id="corrupt-header"),
        pytest.param(lambda b: b[:-8] + bytes(x ^ 0xFF for x in b[-8:]), id="corrupt-release"),
    ],
)
def test_damaged_cache_entry_is_refetched(
    scene: Scene, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    env, root = cache_scene(scene, tmp_path)
    args = ("--python", str(scene.venv.path), "-i", scene.url)
    first, _ = json_run(*args, env=env, cwd=scene.cwd, expect=0)
    [path] = entries(root)
    path.write_bytes(damage(path.read_bytes()))
    scene.server.reset_stats()
    second, _ = json_run(*args, env=env, cwd=scene.cwd, expect=0)
    assert latest(second) == latest(first) == {"demo": "2.0"}
    assert scene.server.count("demo") == 1  # the damaged entry was a miss
    # ... and was replaced by a good one: an offline scan answers from it
    scene.server.reset_stats()
    third, _ = json_run(*args, "--offline", env=env, cwd=scene.cwd, expect=0)
    assert latest(third) == {"demo": "2.0"}
    assert scene.server.total_requests == 0


def test_damaged_cache_entry_offline_is_an_offline_miss(scene: Scene, tmp_path: Path) -> None:
    env, root = cache_scene(scene, tmp_path)
    args = ("--python", str(scene.venv.path), "-i", scene.url)
    json_run(*args, env=env, cwd=scene.cwd, expect=0)
    [path] = entries(root)
    path.write_bytes(path.read_bytes()[:20])
    document, result = json_run(*args, "--offline", env=env, cwd=scene.cwd, expect=3)
    assert "--offline" in single_error(document, result)


def test_damaged_stats_file_is_ignored(scene: Scene, tmp_path: Path) -> None:
    env, root = cache_scene(scene, tmp_path)
    args = ("--python", str(scene.venv.path), "-i", scene.url, "--refresh")
    json_run(*args, env=env, cwd=scene.cwd, expect=0)
    [stats] = root.glob("stats-*.json")
    stats.write_bytes(b"\xff{not json")
    document, _ = json_run(*args, env=env, cwd=scene.cwd, expect=0)
    assert latest(document) == {"demo": "2.0"}


def test_unwritable_cache_folder(scene: Scene, tmp_path: Path) -> None:
    """A cache folder below a regular file: writes fail even for root (chmod would not
    stop root). The scan works; nothing is cached, so the next run asks again."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder's parent should be")
    env = scene.env | {"PIPFRESH_CACHE_DIR": str(blocker / "cache")}
    args = ("--python", str(scene.venv.path), "-i", scene.url)
    scene.server.reset_stats()
    for _ in range(2):
        document, _ = json_run(*args, env=env, cwd=scene.cwd, expect=0)
        assert latest(document) == {"demo": "2.0"}
    assert scene.server.count("demo") == 2


def test_two_processes_scanning_with_one_cache(index_server: IndexServer, tmp_path: Path) -> None:
    names = [f"proj{i:02d}" for i in range(60)]
    venv = new_venv(tmp_path / "venv", *((n, "1.0") for n in names))
    for name in names:
        publish(index_server, name, "1.0", "1.1", "2.0")
    env = pipfresh_env(tmp_path) | {"PIPFRESH_CACHE_DIR": str(tmp_path / "shared-cache")}
    args = [*PIPFRESH, "--python", str(venv.path), "-i", index_server.url, "--format", "json"]
    # Each process retries the other's writes: --refresh makes both fetch and store.
    processes = [
        subprocess.Popen(
            [*args, "--refresh"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=RUN_TIMEOUT) for p in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stdout + stderr
        assert "Traceback" not in stderr
        assert latest(json.loads(stdout)) == dict.fromkeys(names, "2.0")
    # Both wrote every entry; what is left is whole: an offline scan answers everything.
    index_server.reset_stats()
    document, _ = json_run(
        "--python",
        venv.path,
        "-i",
        index_server.url,
        "--offline",
        env=env,
        cwd=tmp_path,
        expect=0,
    )
    assert latest(document) == dict.fromkeys(names, "2.0")
    assert index_server.total_requests == 0


# --------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------


def assert_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, describe(result)
    assert_clean(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, describe(result)
    assert lines[0].startswith("pipfresh: error:"), describe(result)
    for needle in needles:
        assert needle in lines[0], describe(result)
    assert result.stdout == ""


def test_python_that_is_not_python(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 'I am not Python'\n")
    fake.chmod(0o755)
    result = run("--python", fake, env=pipfresh_env(tmp_path), cwd=tmp_path)
    assert_usage_error(result, str(fake))


def test_python_that_is_a_folder_without_an_interpreter(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-venv"
    folder.mkdir()
    result = run("--python", folder, env=pipfresh_env(tmp_path), cwd=tmp_path)
    assert_usage_error(result, str(folder))


def test_python_that_is_a_data_file(tmp_path: Path) -> None:
    data = tmp_path / "python"
    data.write_bytes(b"\x7fELF" + os.urandom(64))
    data.chmod(0o755)
    result = run("--python", data, env=pipfresh_env(tmp_path), cwd=tmp_path)
    assert_usage_error(result, str(data))


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"http://{USER}:{SECRET}@/simple", id="no-host"),
        pytest.param(f"ftp://{USER}:{SECRET}@127.0.0.1/simple", id="unsupported-scheme"),
        pytest.param(f"http://{USER}:{SECRET}@127.0.0.1:notaport/simple", id="bad-port"),
        pytest.param(f"{USER}:{SECRET}@127.0.0.1/simple", id="no-scheme"),
        pytest.param(f"http://{USER}:{SECRET}@[::1/simple", id="broken-ipv6"),
    ],
)
def test_bad_index_url_with_credentials_never_shows_them(
    demo_venv: Venv, tmp_path: Path, url: str
) -> None:
    env = pipfresh_env(tmp_path)
    for extra in (["-i", url], ["--extra-index-url", url, "-i", refused_url()]):
        result = run("--python", demo_venv.path, *extra, "-v", env=env, cwd=tmp_path)
        assert_usage_error(result, "index URL", f"{USER}:****@")


@pytest.mark.parametrize("mark", ["/", "#", "?", "@/"])
def test_password_with_unencoded_reserved_characters_is_refused_unshown(
    demo_venv: Venv, tmp_path: Path, mark: str
) -> None:
    # Sent as written, "alice:s3cr3t-" would go as the password to the wrong host.
    head, tail = SECRET[:7], SECRET[7:]
    url = f"http://{USER}:{head}{mark}{tail}@127.0.0.1:9/simple"
    result = run(
        "--python", demo_venv.path, "-i", url, "-v", env=pipfresh_env(tmp_path), cwd=tmp_path
    )
    assert_usage_error(
        result, f"index URL http://{USER}:****@127.0.0.1:9/simple:", "percent-encode"
    )
    assert head not in result.stderr
    assert tail not in result.stderr


def test_credentials_from_pip_variables_are_never_shown(scene: Scene) -> None:
    env = scene.env | {"PIP_INDEX_URL": scene.url, "PIP_EXTRA_INDEX_URL": scene.url + "-extra"}
    scene.server.fail("demo", 403)
    result = run("--python", scene.venv.path, "-v", "--format", "json", env=env, cwd=scene.cwd)
    assert result.returncode == 3, describe(result)
    assert_clean(result)
    assert "****" in result.stderr


# --------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------


class HttpsIndexServer(IndexServer):
    """The test index, served over TLS with the given server context."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self._context = context

    async def _serve(self, sock: Any) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock, ssl_context=self._context).start()

    @property
    def root_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, self-signed, made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture
def https_server(self_signed: tuple[Path, Path]) -> Iterator[HttpsIndexServer]:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = HttpsIndexServer(context)
    server.start()
    try:
        publish(server, "demo", "1.0", "2.0")
        yield server
    finally:
        server.stop()


#: CA bundle variables of this machine, which would otherwise decide what is trusted.
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


def tls_env(tmp_path: Path) -> dict[str, str]:
    env = pipfresh_env(tmp_path)
    for name in CA_VARIABLES:
        env.pop(name, None)
    return env


def https_url(server: HttpsIndexServer) -> str:
    return f"https://{USER}:{SECRET}@127.0.0.1:{server.port}/simple"


def test_tls_self_signed_fails_with_a_hint(
    demo_venv: Venv, https_server: HttpsIndexServer, tmp_path: Path
) -> None:
    document, result = json_run(
        "--python",
        demo_venv.path,
        "-i",
        https_url(https_server),
        env=tls_env(tmp_path),
        cwd=tmp_path,
        expect=3,
    )
    reason = single_error(document, result)
    for needle in ("TLS error", "--cert", "--trusted-host"):
        assert needle in reason, reason
    assert "CERTIFICATE_VERIFY_FAILED" in reason, reason


@pytest.mark.parametrize(
    "how",
    [
        "--cert",
        "--trusted-host",
        "--trusted-host-with-port",
        "PIP_CERT",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
    ],
)
def test_tls_self_signed_works_when_trusted(
    demo_venv: Venv,
    https_server: HttpsIndexServer,
    self_signed: tuple[Path, Path],
    tmp_path: Path,
    how: str,
) -> None:
    cert, _ = self_signed
    extra: list[str] = []
    env = tls_env(tmp_path)
    if how == "--cert":
        extra = ["--cert", str(cert)]
    elif how == "--trusted-host":
        extra = ["--trusted-host", "127.0.0.1"]
    elif how == "--trusted-host-with-port":
        extra = ["--trusted-host", f"127.0.0.1:{https_server.port}"]
    else:
        env[how] = str(cert)
    document, _ = json_run(
        "--python",
        demo_venv.path,
        "-i",
        https_url(https_server),
        *extra,
        env=env,
        cwd=tmp_path,
        expect=0,
    )
    assert latest(document) == {"demo": "2.0"}


def test_tls_cert_that_is_not_a_certificate(
    demo_venv: Venv, https_server: HttpsIndexServer, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    result = run(
        "--python",
        demo_venv.path,
        "-i",
        https_url(https_server),
        "--cert",
        bogus,
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    assert_usage_error(result, str(bogus), "not a usable PEM certificate")
