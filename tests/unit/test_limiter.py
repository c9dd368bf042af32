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


def test_a_grown_bound_is_filled_by_waiters_without_further_releases() -> None:
    # Ten waiters behind a bound of 2; the bound grows to 4 and one request ends:
    # that single release must let three waiters in (the freed slot and the two new
    # ones), not one, and never more than the bound.
    async def run() -> tuple[int, int]:
        limit = AdaptiveLimit(4)
        limit.limit = 2
        held = [await limit.acquire() for _ in range(2)]
        waiters = [asyncio.ensure_future(limit.acquire()) for _ in range(10)]
        for _ in range(3):
            await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)
        limit.limit = 4
        await limit.release()
        for _ in range(10):
            await asyncio.sleep(0)
        admitted = sum(w.done() for w in waiters)
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        assert len(held) == 2
        return admitted, limit.peak

    assert asyncio.run(run()) == (3, 4)


def test_a_release_wakes_only_as_many_waiters_as_there_are_free_slots() -> None:
    async def run() -> int:
        limit = AdaptiveLimit(2)
        await limit.acquire()
        await limit.acquire()
        waiters = [asyncio.ensure_future(limit.acquire()) for _ in range(50)]
        await asyncio.sleep(0)
        checks = 0
        original = limit._changed.wait

        async def counted() -> bool:
            nonlocal checks
            checks += 1
            return await original()

        limit._changed.wait = counted  # type: ignore[method-assign]
        await limit.release()
        for _ in range(5):
            await asyncio.sleep(0)
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        return checks

    # One waiter takes the slot; with notify_all the other 49 would wake and wait again.
    assert asyncio.run(run()) == 0
