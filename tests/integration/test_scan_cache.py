"""The disk cache end to end: real ``python -m pipfresh`` runs against the local index
server, on a real venv holding old versions, with one cache folder shared between runs.

What is proved here: a warm run asks the index nothing (and imports no HTTP client),
``--refresh`` / ``--max-age 0`` ask again, ``--no-cache`` writes nothing, ``--offline``
after one warm-up answers every project without opening a connection, validators make
requests conditional (304), the cached digests answer what they can and fall back to the
network for what they cannot, a corrupt cache is refetched, two processes can share one
cache, and ``pipfresh cache info | clear`` (credentials never reach the cache).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.test_scan_helpers import (
    PIPFRESH,
    RUN_TIMEOUT,
    assert_usage_error,
    describe,
    pipfresh_env,
    publish,
    run_json,
    run_pipfresh,
)
from support.index_server import IndexServer
from support.venvs import Venv, VenvFactory, install
from support.wheels import WheelFactory

OFFLINE_MISS = "not in the cache (--offline)"

# What every test's index serves. The venv holds foo 1.0, bar 1.0 and baz 0.5.
CATALOGUE = {
    "foo": ("0.9", "1.0", "1.0.1", "1.1", "2.0"),
    "bar": ("1.0",),
    "baz": ("0.5", "0.9"),
}
LATEST = {"foo": "2.0", "bar": "1.0", "baz": "0.9"}


def serve(server: IndexServer, wheels: WheelFactory, *names: str) -> IndexServer:
    """Publish the catalogue (or only ``names`` of it) on ``server``."""
    for name, versions in CATALOGUE.items():
        if not names or name in names:
            publish(server, wheels, name, *versions)
    return server


@dataclass
class Venvs:
    plain: Venv  # foo 1.0, bar 1.0, baz 0.5
    inconsistent: Venv  # foo 1.0 and hold 1.0, which requires foo<1 (installed --no-deps)
    root: Path


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Venvs:
    root = tmp_path_factory.mktemp("scan-cache-venvs")
    factory = VenvFactory(root)
    with IndexServer() as server:
        serve(server, wheel_factory)
        server.add(wheel_factory("hold", "1.0", requires=["foo<1"]))
        plain = factory("plain")
        install(plain, "foo==1.0", "bar==1.0", "baz==0.5", index_url=server.url)
        inconsistent = factory("inconsistent")
        install(
            inconsistent,
            "foo==1.0",
            "hold==1.0",
            index_url=server.url,
            extra_args=["--no-deps"],
        )
    return Venvs(plain, inconsistent, root)


@dataclass
class Scene:
    server: IndexServer
    venv: Venv
    env: dict[str, str]  # PIPFRESH_CACHE_DIR is `cache`, shared by every run of the test
    cache: Path
    cwd: Path

    def args(self, *extra: str, venv: Venv | None = None, index: str | None = None) -> list[str]:
        return [
            "--python",
            str((venv or self.venv).path),
            "--index-url",
            index or self.server.url,
            *extra,
        ]

    def run(self, *extra: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return run_pipfresh(*self.args(*extra, **kw), env=self.env, cwd=self.cwd)

    def json(self, *extra: str, expect: int = 0, **kw: Any) -> dict[str, Any]:
        return run_json(*self.args(*extra, **kw), env=self.env, cwd=self.cwd, expect=expect)

    def entries(self) -> list[Path]:
        return sorted(self.cache.rglob("*.entry"))


@pytest.fixture
def scene(
    tmp_path: Path, venvs: Venvs, index_server: IndexServer, wheel_factory: WheelFactory
) -> Scene:
    serve(index_server, wheel_factory)
    cache = tmp_path / "shared-cache"
    env = pipfresh_env(tmp_path, extra={"PIPFRESH_CACHE_DIR": str(cache)})
    return Scene(index_server, venvs.plain, env, cache, tmp_path)


def packages(document: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = document["packages"]
    return result


def latest_of(document: dict[str, Any]) -> dict[str, str | None]:
    return {p["name"]: p["latest"] for p in document["packages"]}


def warm_up(scene: Scene, *extra: str) -> dict[str, Any]:
    """A cold run that fills the cache; checks it asked for each project once."""
    document = scene.json("--all", *extra)
    assert latest_of(document) == LATEST
    assert scene.server.count("/simple/*/") == len(CATALOGUE)
    assert len(scene.entries()) == len(CATALOGUE)
    scene.server.reset_stats()
    return document


# --------------------------------------------------------------------------------------
# warm runs, --refresh, --max-age, --no-cache
# --------------------------------------------------------------------------------------


def test_warm_run_asks_nothing_and_prints_the_same_packages(scene: Scene) -> None:
    cold = warm_up(scene)
    warm = scene.json("--all")
    assert scene.server.total_requests == 0
    assert scene.server.connection_count == 0
    assert packages(warm) == packages(cold)
    assert warm["errors"] == cold["errors"] == []


def test_a_project_on_no_index_is_remembered_as_pages_are(
    tmp_path: Path, venvs: Venvs, wheel_factory: WheelFactory
) -> None:
    """baz is on no index: the warm run says so again without a request (a cold scan
    only learns it from the 404), until --refresh asks and finds it published."""
    with IndexServer() as server:
        serve(server, wheel_factory, "foo", "bar")
        cache = tmp_path / "cache"
        env = pipfresh_env(tmp_path, extra={"PIPFRESH_CACHE_DIR": str(cache)})
        scene = Scene(server, venvs.plain, env, cache, tmp_path)
        cold = scene.json("--all", expect=3)
        assert [e["name"] for e in cold["errors"]] == ["baz"]
        assert cold["errors"][0]["reason"].startswith("not found on any index")
        assert server.count("baz") == 1
        server.reset_stats()
        warm = scene.json("--all", expect=3)
        assert server.total_requests == 0
        assert server.connection_count == 0
        assert warm["errors"] == cold["errors"]
        assert packages(warm) == packages(cold)
        offline = scene.json("--all", "--offline", expect=3)
        assert offline["errors"] == cold["errors"]
        publish(server, wheel_factory, "baz", "0.5", "0.9")
        assert scene.json("--all", expect=3)["errors"] == cold["errors"]  # still fresh
        assert server.total_requests == 0
        refreshed = scene.json("--all", "--refresh")
        assert refreshed["errors"] == []
        assert latest_of(refreshed)["baz"] == "0.9"
        server.reset_stats()
        assert latest_of(scene.json("--all"))["baz"] == "0.9"
        assert server.total_requests == 0


def test_refresh_and_max_age_zero_ask_again(scene: Scene) -> None:
    cold = warm_up(scene)
    refreshed = scene.json("--all", "--refresh")
    assert scene.server.count("/simple/*/") == len(CATALOGUE)
    assert packages(refreshed) == packages(cold)
    scene.server.reset_stats()
    aged = scene.json("--all", "--max-age", "0")
    assert scene.server.count("/simple/*/") == len(CATALOGUE)
    assert packages(aged) == packages(cold)
    # The refetched pages were stored again: a normal run is warm.
    scene.server.reset_stats()
    assert packages(scene.json("--all")) == packages(cold)
    assert scene.server.total_requests == 0


def test_no_cache_never_writes_the_cache_folder(scene: Scene) -> None:
    first = scene.json("--all", "--no-cache")
    second = scene.json("--all", "--no-cache")
    assert latest_of(first) == latest_of(second) == LATEST
    assert scene.server.count("/simple/*/") == 2 * len(CATALOGUE)
    assert not scene.cache.exists()
    # --cache-dir is honoured as well, and --no-cache wins over it.
    elsewhere = scene.cwd / "other-cache"
    scene.json("--cache-dir", str(elsewhere), "--no-cache")
    assert not elsewhere.exists()
    scene.json("--cache-dir", str(elsewhere))
    assert len(list(elsewhere.rglob("*.entry"))) == len(CATALOGUE)
    assert not scene.cache.exists()


# --------------------------------------------------------------------------------------
# --offline
# --------------------------------------------------------------------------------------


def test_offline_after_one_warm_up_answers_every_project_without_connecting(
    scene: Scene,
) -> None:
    cold = warm_up(scene)
    connections = scene.server.connection_count
    # Stale on purpose (max-age 0): offline, the cache's answer is final anyway.
    for extra in ((), ("--max-age", "0")):
        offline = scene.json("--all", "--offline", *extra)
        assert packages(offline) == packages(cold)
        assert offline["errors"] == []
    assert scene.server.total_requests == 0
    assert scene.server.connection_count == connections == 0


def test_offline_update_and_cache_info_never_connect(scene: Scene) -> None:
    """``--offline`` holds for every command: the update plans from the cached pages,
    fetches neither metadata nor wheels, and says why each change is not made."""
    warm_up(scene)
    connections = scene.server.connection_count
    scene.server.reset_stats()
    for extra in (("--dry-run",), ("-y",)):
        result = run_pipfresh(
            "update", *scene.args("--offline", *extra), env=scene.env, cwd=scene.cwd
        )
        assert result.returncode == 0, describe(result)
        assert "Traceback" not in result.stderr
        assert "foo 1.0 -> 2.0: not fetched, --offline: " in result.stdout, describe(result)
        assert "Nothing to update." in result.stdout
    info = run_pipfresh("cache", "info", env=scene.env, cwd=scene.cwd)
    assert info.returncode == 0, describe(info)
    assert scene.server.total_requests == 0
    assert scene.server.connection_count == connections


def test_offline_with_an_empty_cache_reports_each_project(scene: Scene) -> None:
    document = scene.json("--all", "--offline", expect=3)
    assert document["packages"] == []
    assert {e["name"]: e["reason"] for e in document["errors"]} == dict.fromkeys(
        LATEST, OFFLINE_MISS
    )
    assert scene.server.total_requests == 0
    assert scene.server.connection_count == 0


def test_offline_with_no_cache_is_a_usage_error(scene: Scene) -> None:
    result = scene.run("--offline", "--no-cache")
    assert_usage_error(result, "--offline", "--no-cache")
    assert scene.server.total_requests == 0


# --------------------------------------------------------------------------------------
# validators: ETag / 304
# --------------------------------------------------------------------------------------


def test_etag_makes_the_refetch_conditional_and_304_keeps_the_answer(scene: Scene) -> None:
    scene.server.enable_etags("*")
    cold = warm_up(scene)
    again = scene.json("--all", "--max-age", "0")
    assert packages(again) == packages(cold)
    pages = [r for r in scene.server.requests if r.path.startswith("/simple/")]
    assert len(pages) == len(CATALOGUE)
    for record in pages:
        assert record.headers.get("if-none-match", "").startswith('"'), record
        assert record.status == 304, record
    # A 304 made the entries fresh again: the next run asks nothing.
    scene.server.reset_stats()
    assert packages(scene.json("--all")) == packages(cold)
    assert scene.server.total_requests == 0


def test_changed_page_under_an_etag_is_fetched_whole(
    scene: Scene, wheel_factory: WheelFactory
) -> None:
    scene.server.enable_etags("*")
    warm_up(scene)
    publish(scene.server, wheel_factory, "foo", "3.0")
    document = scene.json("--all", "--max-age", "0")
    assert latest_of(document)["foo"] == "3.0"
    statuses = {r.path: r.status for r in scene.server.requests}
    assert statuses["/simple/foo/"] == 200
    assert statuses["/simple/bar/"] == statuses["/simple/baz/"] == 304


# --------------------------------------------------------------------------------------
# the warm path imports no HTTP client
# --------------------------------------------------------------------------------------


def _importtime(scene: Scene) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-X",
        "importtime",
        *PIPFRESH[1:],
        *scene.args("--all", "--format", "json"),
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=scene.env,
        cwd=scene.cwd,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_warm_run_imports_no_http_client(scene: Scene) -> None:
    cold = _importtime(scene)
    assert cold.returncode == 0, describe(cold)
    assert any("aiohttp" in line for line in cold.stderr.splitlines()), cold.stderr[-2000:]
    scene.server.reset_stats()
    warm = _importtime(scene)
    assert warm.returncode == 0, describe(warm)
    assert "import time:" in warm.stderr  # the switch did work
    heavy = [line for line in warm.stderr.splitlines() if "aiohttp" in line or "httpx" in line]
    assert heavy == []
    assert scene.server.total_requests == 0
    assert packages(json.loads(warm.stdout)) == packages(json.loads(cold.stdout))


# --------------------------------------------------------------------------------------
# digests: fresh answers stay, questions a digest cannot answer go to the network
# --------------------------------------------------------------------------------------


def test_fresh_cache_keeps_the_old_answer_until_refresh(
    scene: Scene, wheel_factory: WheelFactory
) -> None:
    warm_up(scene)
    publish(scene.server, wheel_factory, "foo", "3.0")
    assert latest_of(scene.json("--all"))["foo"] == "2.0"
    assert scene.server.total_requests == 0
    assert latest_of(scene.json("--all", "--refresh"))["foo"] == "3.0"
    scene.server.reset_stats()
    # ... and the refreshed digest answers from then on.
    assert latest_of(scene.json("--all"))["foo"] == "3.0"
    assert scene.server.total_requests == 0


def test_target_patch_after_a_default_warm_up_asks_the_index(scene: Scene) -> None:
    warm_up(scene)
    expected = scene.json("--all", "--target", "patch", "--no-cache")
    assert latest_of(expected)["foo"] == "1.0.1"
    scene.server.reset_stats()
    document = scene.json("--all", "--target", "patch")
    assert packages(document) == packages(expected)
    # The digest kept foo 2.0 up: it cannot say what 1.0.x offers.
    assert scene.server.count("foo") == 1
    # The digest it stored now answers both questions.
    scene.server.reset_stats()
    assert packages(scene.json("--all", "--target", "patch")) == packages(expected)
    assert latest_of(scene.json("--all")) == LATEST
    assert scene.server.total_requests == 0


def test_pre_after_a_default_warm_up_is_still_right(
    index_server: IndexServer, wheel_factory: WheelFactory, venvs: Venvs, tmp_path: Path
) -> None:
    serve(index_server, wheel_factory)
    publish(index_server, wheel_factory, "foo", "2.1rc1")
    publish(index_server, wheel_factory, "baz", "1.0b1")
    env = pipfresh_env(tmp_path, extra={"PIPFRESH_CACHE_DIR": str(tmp_path / "shared-cache")})
    scene = Scene(index_server, venvs.plain, env, tmp_path / "shared-cache", tmp_path)
    default = scene.json("--all")
    assert latest_of(default) == LATEST
    expected = scene.json("--all", "--pre", "--no-cache")
    assert latest_of(expected) == {"foo": "2.1rc1", "bar": "1.0", "baz": "1.0b1"}
    assert packages(scene.json("--all", "--pre")) == packages(expected)
    # and back: the default policy still sees the final releases
    assert packages(scene.json("--all")) == packages(default)


# --------------------------------------------------------------------------------------
# a corrupt cache is refetched
# --------------------------------------------------------------------------------------


def _garbage(data: bytes) -> bytes:
    return b"\x00garbage\xff" * 10


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flipped_tail(data: bytes) -> bytes:
    # Same length, header intact: only the last release blob's checksum fails.
    return data[:-1] + bytes([data[-1] ^ 0xFF])


@pytest.mark.parametrize("damage", [_garbage, _truncated, _flipped_tail])
def test_corrupt_entries_are_refetched(scene: Scene, damage: Any) -> None:
    cold = warm_up(scene)
    for path in scene.entries():
        path.write_bytes(damage(path.read_bytes()))
    result = scene.run("--all", "--format", "json")
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr
    assert packages(json.loads(result.stdout)) == packages(cold)
    assert scene.server.count("/simple/*/") == len(CATALOGUE)
    # The damaged entries were replaced by good ones.
    scene.server.reset_stats()
    assert packages(scene.json("--all")) == packages(cold)
    assert scene.server.total_requests == 0


def test_corrupt_stale_entry_answered_304_is_refetched(scene: Scene) -> None:
    scene.server.enable_etags("*")
    cold = warm_up(scene)
    for path in scene.entries():
        path.write_bytes(_flipped_tail(path.read_bytes()))
    result = scene.run("--all", "--format", "json", "--max-age", "0")
    assert result.returncode == 0, describe(result)
    assert packages(json.loads(result.stdout)) == packages(cold)


# --------------------------------------------------------------------------------------
# two processes, one cache
# --------------------------------------------------------------------------------------


def test_two_processes_scanning_with_one_cache(scene: Scene) -> None:
    command = [*PIPFRESH, *scene.args("--all", "--format", "json")]
    procs = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=scene.env,
            cwd=scene.cwd,
        )
        for _ in range(2)
    ]
    outputs: list[tuple[int, str, str]] = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
            outputs.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for code, out, err in outputs:
        assert code == 0, err
        assert latest_of(json.loads(out)) == LATEST
    first, second = (packages(json.loads(out)) for _, out, _ in outputs)
    assert first == second
    assert not list(scene.cache.rglob("*.tmp"))
    scene.server.reset_stats()
    assert packages(scene.json("--all")) == first
    assert scene.server.total_requests == 0


# --------------------------------------------------------------------------------------
# pipfresh cache info | clear
# --------------------------------------------------------------------------------------


def test_cache_info_and_clear_never_show_credentials(scene: Scene) -> None:
    scene.server.require_auth("alice", "s3cret")
    index = scene.server.url_with_auth("alice", "s3cret")
    document = scene.json("--all", index=index)
    assert latest_of(document) == LATEST
    assert len(scene.entries()) == len(CATALOGUE)
    for path in scene.cache.rglob("*"):
        if path.is_file():
            assert b"s3cret" not in path.read_bytes(), path

    info = run_pipfresh("cache", "info", env=scene.env, cwd=scene.cwd)
    assert info.returncode == 0, describe(info)
    assert "s3cret" not in info.stdout + info.stderr
    assert f"{len(CATALOGUE)} cached pages" in info.stdout
    assert f"{scene.server.url}: {len(CATALOGUE)} projects" in info.stdout

    # the same through --cache-dir
    info_dir = run_pipfresh(
        "cache", "info", "--cache-dir", scene.cache, env=pipfresh_env(scene.cwd), cwd=scene.cwd
    )
    assert f"{len(CATALOGUE)} cached pages" in info_dir.stdout

    cleared = run_pipfresh("cache", "clear", env=scene.env, cwd=scene.cwd)
    assert cleared.returncode == 0, describe(cleared)
    assert cleared.stdout.startswith(f"removed {len(CATALOGUE)} cached pages")
    assert scene.entries() == []
    after = run_pipfresh("cache", "info", env=scene.env, cwd=scene.cwd)
    assert "0 cached pages" in after.stdout
    again = run_pipfresh("cache", "clear", env=scene.env, cwd=scene.cwd)
    assert again.stdout.startswith("removed 0 cached pages")

    scene.server.reset_stats()
    scene.json("--all", index=index)
    assert scene.server.count("/simple/*/") == len(CATALOGUE)


def test_unknown_cache_command_is_a_usage_error(scene: Scene) -> None:
    result = run_pipfresh("cache", "frobnicate", env=scene.env, cwd=scene.cwd)
    assert_usage_error(result, "frobnicate")


# --------------------------------------------------------------------------------------
# known gaps (bugs): each test states what should hold
# --------------------------------------------------------------------------------------


def test_offline_with_a_project_missing_from_one_of_two_indexes(
    scene: Scene, wheel_factory: WheelFactory
) -> None:
    with IndexServer() as extra:
        serve(extra, wheel_factory, "bar")
        cold = scene.json("--all", "--extra-index-url", extra.url)
        assert latest_of(cold) == LATEST
        scene.server.reset_stats()
        extra.reset_stats()
        offline = scene.json("--all", "--extra-index-url", extra.url, "--offline", expect=0)
        assert packages(offline) == packages(cold)
        assert scene.server.connection_count == extra.connection_count == 0


def test_two_index_digests_are_not_taken_for_a_full_page(
    scene: Scene, wheel_factory: WheelFactory
) -> None:
    with IndexServer() as extra:
        serve(extra, wheel_factory)
        both = ("--extra-index-url", extra.url)
        assert latest_of(scene.json("--all", *both)) == LATEST
        expected = scene.json("--all", "--target", "patch", "--no-cache", *both)
        assert latest_of(expected)["foo"] == "1.0.1"
        extra.reset_stats()
        scene.server.reset_stats()
        document = scene.json("--all", "--target", "patch", *both)
        assert latest_of(document) == latest_of(expected)
        assert packages(document) == packages(expected)


def test_offline_answers_a_project_held_below_its_installed_version(
    scene: Scene, venvs: Venvs, wheel_factory: WheelFactory
) -> None:
    scene.server.add(wheel_factory("hold", "1.0", requires=["foo<1"]))
    cold = scene.json("--all", venv=venvs.inconsistent)
    foo = next(p for p in packages(cold) if p["name"] == "foo")
    assert (foo["latest"], foo["wanted"]) == ("2.0", "0.9")
    scene.server.reset_stats()
    offline = scene.json("--all", "--offline", venv=venvs.inconsistent, expect=0)
    assert packages(offline) == packages(cold)
