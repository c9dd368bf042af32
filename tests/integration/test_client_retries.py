"""Retries, backoff and the adaptive bound, against the real local index server.

These drive :class:`pipfresh.index.client.IndexClient` directly: the behaviour under
test is how many requests reach the server and what the client concludes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from pipfresh.errors import HTTPStatusError, NotFound
from pipfresh.index.client import IndexClient
from pipfresh.models import ProjectPage
from pipfresh.pipconfig import CliIndexOptions, load_index_config
from support.index_server import IndexServer


def client_for(server: IndexServer, tmp_path: Path, concurrency: int = 4) -> IndexClient:
    config = load_index_config(
        CliIndexOptions(index_url=server.url, isolated=True, timeout=5),
        {"PIP_CONFIG_FILE": os.devnull},
        cwd=tmp_path,
    )
    return IndexClient(config, concurrency=concurrency, user_agent="pipfresh-tests")


def fetch_all(client: IndexClient, names: list[str]) -> list[ProjectPage | BaseException]:
    async def run() -> list[ProjectPage | BaseException]:
        async with client:
            return await asyncio.gather(
                *(client.fetch_project(n) for n in names), return_exceptions=True
            )

    return asyncio.run(run())


def test_503_then_success_is_retried(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.add_project("demo")
    index_server.fail("demo", 503, times=2, headers={"Retry-After": "0"})
    (page,) = fetch_all(client_for(index_server, tmp_path), ["demo"])
    assert isinstance(page, ProjectPage)
    assert index_server.count("demo") == 3


def test_retry_after_as_http_date_is_understood(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.add_project("demo")
    # A date in the past means "now".
    index_server.fail(
        "demo", 429, times=1, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    (page,) = fetch_all(client_for(index_server, tmp_path), ["demo"])
    assert isinstance(page, ProjectPage)
    assert index_server.count("demo") == 2


def test_persistent_500_gives_up_after_bounded_attempts(
    index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add_project("demo")
    index_server.fail("demo", 500)
    (error,) = fetch_all(client_for(index_server, tmp_path), ["demo"])
    assert isinstance(error, HTTPStatusError)
    assert error.status == 500
    assert index_server.count("demo") == 4  # MAX_ATTEMPTS


@pytest.mark.parametrize("status", [401, 403, 400])
def test_client_errors_are_not_retried(
    index_server: IndexServer, tmp_path: Path, status: int
) -> None:
    index_server.add_project("demo")
    index_server.fail("demo", status)
    (error,) = fetch_all(client_for(index_server, tmp_path), ["demo"])
    assert isinstance(error, HTTPStatusError)
    assert index_server.count("demo") == 1
    if status in (401, 403):
        assert "credentials" in error.message


def test_404_is_not_found_without_retry(index_server: IndexServer, tmp_path: Path) -> None:
    (error,) = fetch_all(client_for(index_server, tmp_path), ["ghost"])
    assert isinstance(error, NotFound)
    assert index_server.count("ghost") == 1


def test_connection_reset_is_retried(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.add_project("demo")
    # aiohttp itself retries a reset before any answer once; three resets need ours.
    index_server.reset("demo", times=3)
    (page,) = fetch_all(client_for(index_server, tmp_path), ["demo"])
    assert isinstance(page, ProjectPage)


def test_adaptive_bound_backs_off_on_429_and_recovers(
    index_server: IndexServer, tmp_path: Path
) -> None:
    names = [f"proj{i:02d}" for i in range(40)]
    for name in names:
        index_server.add_project(name)
    index_server.fail("*", 429, times=6, headers={"Retry-After": "0"})
    client = client_for(index_server, tmp_path, concurrency=16)
    results = fetch_all(client, names)
    assert all(isinstance(r, ProjectPage) for r in results)
    assert client.limit.decreases >= 1
    # Halved at most once per window of requests already in flight, not once per 429.
    assert client.limit.decreases < 6
    assert client.limit.peak <= 16
    assert index_server.peak_in_flight <= 16


def test_page_bodies_are_read_within_the_byte_budget(
    index_server: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a budget smaller than any page, bodies are read one at a time (each is
    charged the whole budget) and every page still arrives."""
    from pipfresh.index import client as client_module

    names = [f"proj{i:02d}" for i in range(12)]
    for name in names:
        index_server.add_project(name)
    monkeypatch.setattr(client_module, "PAGE_BYTES", 1)
    client = client_for(index_server, tmp_path, concurrency=12)
    pages = fetch_all(client, names)
    assert [p.name for p in pages if isinstance(p, ProjectPage)] == names
    assert client._pages.peak == 1
    assert client._pages.held == 0
