"""The AIMD bound on requests in flight, and the byte budget for page bodies."""

from __future__ import annotations

import asyncio

import pytest

from pipfresh.index.limiter import GROWTH_INTERVAL, AdaptiveLimit, ByteBudget


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


# --------------------------------------------------------------------------- ByteBudget


def test_budget_rejects_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ByteBudget(0, unknown_size=1)


async def _enter(budget: ByteBudget, size: int | None, log: list[str], name: str) -> None:
    async with budget.reserve(size):
        log.append(f"+{name}")
        await asyncio.sleep(0)  # hold it across a loop turn, as a read does
        await asyncio.sleep(0)
        log.append(f"-{name}")


def test_budget_reads_what_fits_at_once_and_queues_the_rest_in_order() -> None:
    async def run() -> tuple[list[str], int]:
        budget = ByteBudget(10, unknown_size=4)
        log: list[str] = []
        # a+b fit (4+4); c (8) must wait; d (1) would fit but must not overtake c.
        await asyncio.gather(
            _enter(budget, 4, log, "a"),
            _enter(budget, 4, log, "b"),
            _enter(budget, 8, log, "c"),
            _enter(budget, 1, log, "d"),
        )
        assert budget.held == 0
        return log, budget.peak

    log, peak = asyncio.run(run())
    assert log[:2] == ["+a", "+b"]
    assert log.index("+c") > max(log.index("-a"), log.index("-b"))
    assert log.index("+d") > log.index("+c")  # first come, first served
    assert peak <= 10


def test_budget_reads_a_body_larger_than_the_whole_budget_alone() -> None:
    async def run() -> tuple[list[str], int]:
        budget = ByteBudget(10, unknown_size=4)
        log: list[str] = []
        await asyncio.gather(
            _enter(budget, 3, log, "small"),
            _enter(budget, 500, log, "huge"),  # charged as the whole budget
            _enter(budget, None, log, "unknown"),  # charged unknown_size
        )
        return log, budget.peak

    log, peak = asyncio.run(run())
    assert log.index("+huge") > log.index("-small")
    assert log.index("+unknown") > log.index("-huge")
    assert peak == 10


def test_budget_cancelled_waiter_gives_way_to_the_next() -> None:
    async def run() -> list[str]:
        budget = ByteBudget(10, unknown_size=4)
        log: list[str] = []
        hold = asyncio.Event()

        async def holder() -> None:
            async with budget.reserve(6):
                log.append("+holder")
                await hold.wait()
            log.append("-holder")

        first = asyncio.ensure_future(holder())
        await asyncio.sleep(0)
        blocked = asyncio.ensure_future(_enter(budget, 9, log, "blocked"))
        small = asyncio.ensure_future(_enter(budget, 2, log, "small"))
        await asyncio.sleep(0)
        assert "+small" not in log  # queued behind the 9-byte head
        blocked.cancel()
        await asyncio.gather(blocked, return_exceptions=True)
        # 6 + 2 fit once the head is gone, before the holder ends (a bound, not a sleep:
        # without the hand-over this would wait forever).
        await asyncio.wait_for(small, 5)
        assert "-holder" not in log
        hold.set()
        await first
        assert budget.held == 0
        return log

    log = asyncio.run(run())
    assert "+blocked" not in log
    assert log.index("+small") < log.index("-holder")


def test_after_an_overload_the_bound_grows_at_most_once_per_interval() -> None:
    now = [100.0]
    limit = AdaptiveLimit(16, clock=lambda: now[0])
    for _ in range(16):  # before any overload: one step per window of successes
        limit.success()
    assert limit.limit == 16
    limit.overloaded(limit._started)
    assert limit.limit == 8
    for _ in range(100):  # many windows of successes, no time passed: no growth
        limit.success()
    assert limit.limit == 8
    now[0] += GROWTH_INTERVAL
    for _ in range(100):  # one interval later: one step, however many successes
        limit.success()
    assert limit.limit == 9
    now[0] += GROWTH_INTERVAL
    for _ in range(9):
        limit.success()
    assert limit.limit == 10


def test_budget_reads_over_the_limit_once_the_oldest_read_is_slow() -> None:
    """A body being read for ``slow_read`` seconds means a slow link, not a busy loop:
    a waiter is then granted over the limit, and the budget recovers afterwards."""

    async def run() -> tuple[int, int, int]:
        budget = ByteBudget(10, unknown_size=4, slow_read=0.05, check_interval=0.01)
        release = asyncio.Event()

        async def slow_holder() -> None:
            async with budget.reserve(8):
                await release.wait()

        holder = asyncio.ensure_future(slow_holder())
        await asyncio.sleep(0)
        async with budget.reserve(6):  # does not fit beside 8; granted once 8 is slow
            overdrawn, held = budget.overdrawn, budget.held
            release.set()
        await holder
        return overdrawn, held, budget.held

    assert asyncio.run(asyncio.wait_for(run(), 5)) == (1, 14, 0)


def test_budget_waits_for_reads_that_are_not_slow() -> None:
    """Checks that find only young reads keep the waiter queued: it gets the budget
    when a holder releases it, within the limit."""

    async def run() -> tuple[int, int]:
        # slow_read far beyond the test: only a release can let the waiter in.
        budget = ByteBudget(10, unknown_size=4, slow_read=60, check_interval=0.001)
        release = asyncio.Event()

        async def holder() -> None:
            async with budget.reserve(8):
                await release.wait()

        first = asyncio.ensure_future(holder())
        await asyncio.sleep(0)
        waiter = asyncio.ensure_future(budget._acquire(6))
        for _ in range(20):  # many checks pass (each re-arms after 1 ms)
            await asyncio.sleep(0.002)
        assert not waiter.done()
        release.set()
        await first
        started = await asyncio.wait_for(waiter, 5)
        held = budget.held
        budget._release(6, started)
        return budget.overdrawn, held

    assert asyncio.run(run()) == (0, 6)


def test_budget_waiter_cancelled_while_a_release_grants_past_it_leaves_once() -> None:
    # The cancellation marks the waiter's future at once, but its handler runs a loop
    # turn later; a release in between walks the queue first. The entry must leave the
    # queue once, and the waiter end cancelled (was: ValueError "not in deque").
    async def run() -> ByteBudget:
        budget = ByteBudget(10, unknown_size=4)
        held = budget.reserve(6)
        await held.__aenter__()
        waiter = asyncio.ensure_future(_enter(budget, 9, [], "waiter"))
        await asyncio.sleep(0)
        assert budget.queued == 1
        waiter.cancel()
        await held.__aexit__(None, None, None)  # no await inside: same loop turn
        (outcome,) = await asyncio.gather(waiter, return_exceptions=True)
        assert isinstance(outcome, asyncio.CancelledError), outcome
        return budget

    budget = asyncio.run(run())
    assert (budget.held, budget.queued) == (0, 0)


@pytest.mark.parametrize("seed", range(8))
def test_budget_and_limit_cancelled_under_load_end_clean(seed: int) -> None:
    # Hundreds of requests through both bounds, as the client takes them, cancelled
    # all at once at some point of the run (a closed stdout, Ctrl-C): every task ends
    # cancelled or done, none with another exception, and nothing is left held.
    import random

    rng = random.Random(seed)

    async def request(limit: AdaptiveLimit, budget: ByteBudget, size: int) -> None:
        async with limit.slot():
            await asyncio.sleep(0)
            async with budget.reserve(size):
                for _ in range(rng.randrange(1, 4)):
                    await asyncio.sleep(0)

    async def run() -> tuple[AdaptiveLimit, ByteBudget, list[object]]:
        limit = AdaptiveLimit(16)
        budget = ByteBudget(100, unknown_size=40)
        sizes = [rng.choice((None, 1, 10, 40, 90, 500)) for _ in range(300)]
        tasks = [asyncio.ensure_future(request(limit, budget, s)) for s in sizes]
        for _ in range(rng.randrange(1, 60)):
            await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        return limit, budget, outcomes

    limit, budget, outcomes = asyncio.run(run())
    odd = [o for o in outcomes if not (o is None or isinstance(o, asyncio.CancelledError))]
    assert odd == []
    assert (limit.in_flight, budget.held, budget.queued) == (0, 0, 0)


def test_a_limit_waiter_cancelled_after_its_wake_up_passes_it_on() -> None:
    async def run() -> None:
        limit = AdaptiveLimit(1)
        first = await limit.acquire()
        assert first
        woken = asyncio.ensure_future(limit.acquire())
        other = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        await limit.release()  # wakes `woken` only (one free slot)
        woken.cancel()  # before it ran: the wake-up must reach `other`
        await asyncio.gather(woken, return_exceptions=True)
        await asyncio.wait_for(other, 5)  # a bound, not a sleep: hangs without the hand-over
        assert limit.in_flight == 1

    asyncio.run(run())
