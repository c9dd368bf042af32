"""The AIMD bound on requests in flight."""

from __future__ import annotations

import asyncio

import pytest

from pipfresh.index.limiter import AdaptiveLimit


def test_rejects_a_ceiling_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimit(0)


def test_halves_once_per_window_and_never_below_one() -> None:
    async def run() -> AdaptiveLimit:
        limit = AdaptiveLimit(16)
        tickets = [await limit.acquire() for _ in range(16)]
        for ticket in tickets:  # 16 failures from one window: one decrease
            limit.overloaded(ticket)
        assert (limit.limit, limit.decreases) == (8, 1)
        for _ in range(16):
            await limit.release()
        for _ in range(10):  # each new window may halve again, down to 1
            ticket = await limit.acquire()
            limit.overloaded(ticket)
            await limit.release()
        return limit

    limit = asyncio.run(run())
    assert limit.limit == 1


def test_grows_back_by_one_per_window_of_successes() -> None:
    limit = AdaptiveLimit(4)
    limit.limit = 2
    for _ in range(2):
        limit.success()
    assert limit.limit == 3
    for _ in range(3):
        limit.success()
    assert limit.limit == 4
    for _ in range(10):
        limit.success()
    assert limit.limit == 4  # never past the ceiling


def test_waiters_get_slots_up_to_the_limit_only() -> None:
    async def run() -> tuple[int, int]:
        limit = AdaptiveLimit(3)
        held = [await limit.acquire() for _ in range(3)]
        waiter = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        blocked = not waiter.done()
        await limit.release()
        await waiter
        assert blocked
        assert len(held) == 3
        return limit.in_flight, limit.peak

    assert asyncio.run(run()) == (3, 3)


def test_pause_holds_back_new_requests_until_it_ends() -> None:
    async def run() -> tuple[bool, bool]:
        limit = AdaptiveLimit(4)
        loop = asyncio.get_running_loop()
        limit.pause(0.05)
        waiter = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        held_during_pause = not waiter.done()
        await waiter
        return held_during_pause, loop.time() >= limit._resume_at

    assert asyncio.run(run()) == (True, True)
