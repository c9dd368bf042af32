"""The concurrency bound and streaming, proved by the index server.

30 projects are installed at 1.0 while the index offers 2.0. The server counts requests
in flight; ``hold_until_in_flight`` holds project pages until a given number are in
flight at once, so:

* ``hold_until_in_flight(k + 1, timeout=0.5)`` timing out with ``peak_in_flight == k``
  proves the client had ``k`` requests in flight and never opened a ``k + 1``-th;
* ``hold_until_in_flight(k)`` being reached with ``peak_in_flight == k`` proves the
  bound is used.

Streaming: one project's page is stalled; every other result must arrive (through
``stream_outdated`` and through ``--format jsonl`` on a pipe) while it is still stalled.
"""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.test_scan_helpers import (
    PIPFRESH,
    RUN_TIMEOUT,
    api_environ,
    install_pins,
    pipfresh_env,
    publish,
    run_json,
)
from pipfresh import UpgradeConfig, check_outdated, stream_outdated
from pipfresh.models import PackageStatus
from support.index_server import IndexServer
from support.venvs import Venv, VenvFactory
from support.wheels import WheelFactory

N = 30
K = 5
NAMES = [f"proj{i:02d}" for i in range(N)]
#: How long the k+1 barrier waits for a request that must never come.
PROOF_TIMEOUT = 0.5


@dataclass
class Scene:
    server: IndexServer
    venv: Venv
    root: Path

    def args(self, *extra: str) -> list[str]:
        return ["--python", str(self.venv.path), "--index-url", self.server.url, *extra]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("concurrency")
    with IndexServer() as server:
        for name in NAMES:
            publish(server, wheel_factory, name, "1.0", "2.0")
        venv = VenvFactory(root)("env")
        install_pins(venv, server.url, [f"{name}==1.0" for name in NAMES])
        yield Scene(server, venv, root)


@pytest.fixture
def server(scene: Scene) -> Iterator[IndexServer]:
    """The module's server with fresh statistics, holds and faults for each test."""
    scene.server.clear_faults()
    scene.server.release_hold()
    scene.server.reset_stats()
    yield scene.server
    scene.server.clear_faults()
    scene.server.release_hold()


def assert_all_outdated(document: dict[str, Any]) -> None:
    assert {p["name"]: p["latest"] for p in document["packages"]} == dict.fromkeys(NAMES, "2.0")
    assert document["errors"] == []


# --------------------------------------------------------------------------------------
# the bound: never exceeded, and used
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["option", "environment"])
def test_cli_peak_in_flight_equals_the_bound(
    scene: Scene, server: IndexServer, tmp_path: Path, how: str
) -> None:
    hold = server.hold_until_in_flight(K + 1, timeout=PROOF_TIMEOUT)
    if how == "option":
        args, env = scene.args("--concurrency", str(K)), pipfresh_env(tmp_path)
    else:
        args, env = scene.args(), pipfresh_env(tmp_path, extra={"PIPFRESH_CONCURRENCY": str(K)})
    document = run_json(*args, env=env, cwd=tmp_path)
    assert hold.timed_out, f"{K + 1} requests were in flight at once: {hold!r}"
    assert not hold.reached
    assert server.peak_in_flight == K, server.peak_in_flight
    assert_all_outdated(document)


def test_cli_bound_is_used(scene: Scene, server: IndexServer, tmp_path: Path) -> None:
    hold = server.hold_until_in_flight(K, timeout=5.0)
    document = run_json(
        *scene.args("--concurrency", str(K)), env=pipfresh_env(tmp_path), cwd=tmp_path
    )
    assert hold.reached, hold
    assert server.peak_in_flight == K
    assert_all_outdated(document)


def test_keep_alive_connections_are_reused(
    scene: Scene, server: IndexServer, tmp_path: Path
) -> None:
    document = run_json(
        *scene.args("--concurrency", str(K)), env=pipfresh_env(tmp_path), cwd=tmp_path
    )
    assert_all_outdated(document)
    assert server.count("/simple/?*/") == N
    assert server.total_requests == N  # one request per project, no redirects
    assert server.connection_count <= K, server.connection_count


def test_default_bound_is_at_least_10(scene: Scene, server: IndexServer, tmp_path: Path) -> None:
    hold = server.hold_until_in_flight(10, timeout=5.0)
    run_json(*scene.args(), env=pipfresh_env(tmp_path), cwd=tmp_path)
    assert hold.reached, hold


def test_api_peak_in_flight_equals_the_bound(
    scene: Scene,
    server: IndexServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_environ(monkeypatch, tmp_path)
    hold = server.hold_until_in_flight(K + 1, timeout=PROOF_TIMEOUT)
    report = check_outdated(
        str(scene.venv.path), UpgradeConfig(concurrency=K, index_url=server.url)
    )
    assert hold.timed_out, hold
    assert server.peak_in_flight == K
    assert {p.name: p.latest for p in report.outdated} == dict.fromkeys(NAMES, "2.0")
    assert report.errors == ()
    assert (report.summary.checked, report.summary.outdated) == (N, N)


# --------------------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------------------

SLOW = "proj00"
#: Bound on the wait for any one result while streaming.
RESULT_TIMEOUT = 10.0


def test_stream_outdated_yields_results_while_one_project_is_stalled(
    scene: Scene,
    server: IndexServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_environ(monkeypatch, tmp_path)
    stall = server.stall(SLOW)

    async def consume() -> tuple[list[str], list[str]]:
        before: list[str] = []
        after: list[str] = []
        results = stream_outdated(
            str(scene.venv.path), UpgradeConfig(concurrency=K, index_url=server.url)
        )
        iterator = results.__aiter__()
        try:
            while True:
                try:
                    result = await asyncio.wait_for(iterator.__anext__(), RESULT_TIMEOUT)
                except StopAsyncIteration:
                    break
                assert isinstance(result, PackageStatus), result
                assert result.latest == "2.0"
                (after if stall.released else before).append(result.name)
                if len(before) == N - 1 and not stall.released:
                    # Everything but the stalled project arrived while it is stalled.
                    assert stall.stalled == 1
                    assert server.in_flight >= 1
                    stall.release()
        finally:
            stall.release()
            await iterator.aclose()  # type: ignore[attr-defined]
        return before, after

    before, after = asyncio.run(consume())
    assert sorted(before) == sorted(set(NAMES) - {SLOW})
    assert after == [SLOW]


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def test_jsonl_streams_lines_while_one_project_is_stalled(
    scene: Scene, server: IndexServer, tmp_path: Path
) -> None:
    stall = server.stall(SLOW)
    process = subprocess.Popen(
        [*PIPFRESH, *scene.args("--concurrency", str(K), "--format", "jsonl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        early = [json.loads(lines.get(timeout=RESULT_TIMEOUT) or "null") for _ in range(N - 1)]
        assert sorted(p["name"] for p in early) == sorted(set(NAMES) - {SLOW})
        assert process.poll() is None, "pipfresh finished although a page is stalled"
        assert stall.stalled == 1
        stall.release()
        rest: list[dict[str, Any]] = []
        while (line := lines.get(timeout=RESULT_TIMEOUT)) is not None:
            rest.append(json.loads(line))
        assert process.wait(timeout=RUN_TIMEOUT) == 0, process.stderr.read()  # type: ignore[union-attr]
    finally:
        stall.release()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=RUN_TIMEOUT)
        reader.join(RUN_TIMEOUT)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    assert [p["name"] for p in rest[:1]] == [SLOW]
    assert rest[0]["latest"] == "2.0"
    assert list(rest[1]) == ["summary"]
    assert rest[1]["summary"]["outdated"] == N
    assert len(rest) == 2
