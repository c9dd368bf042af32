"""Bounds on what the client does at once: requests in flight (adaptive) and the bytes
of response bodies being read (:class:`ByteBudget`).

Requests, additive increase and multiplicative decrease: the user's
``--concurrency`` is the ceiling. Every request takes a slot; when a
server says it is overloaded (429, 503) or stops answering in time, the bound is
halved, at most once per window of requests that were already in flight (they
were sent under the old bound, so their failures say nothing new). Each run of
``limit`` successes raises it by one, back towards the ceiling; once the server
has refused anything, at most one step per second (:data:`GROWTH_INTERVAL`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

# After an overload, the bound grows by at most one per this many seconds. Growing
# by one per window of successes (one round trip) took a bound that a rate limit had
# just halved back over that limit within a tenth of a second, and every overshoot
# cost a burst of 429s and a Retry-After pause; rate limits are counted per second.
# Measured in benchmarks/RESULTS.md, "Throttle: growth after an overload".
GROWTH_INTERVAL = 1.0


class AdaptiveLimit:
    """A semaphore whose size moves between 1 and ``ceiling`` (AIMD)."""

    def __init__(self, ceiling: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be at least 1")
        self._clock = clock
        self._grow_after = 0.0  # clock time before which the bound may not grow
        self.ceiling = ceiling
        self.limit = ceiling
        self.in_flight = 0
        self.peak = 0
        self.decreases = 0
        self._successes = 0
        self._started = 0  # requests started so far; orders the decrease windows
        self._no_decrease_before = 0
        self._resume_at = 0.0  # loop time before which no request may start
        self._changed = asyncio.Condition()

    async def acquire(self) -> int:
        """Wait for a slot; returns a ticket that identifies when the request started."""
        loop = asyncio.get_running_loop()
        while True:
            pause = self._resume_at - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            async with self._changed:
                try:
                    await self._changed.wait_for(lambda: self.in_flight < self.limit)
                except asyncio.CancelledError:
                    # A waiter cancelled just after a release woke it would take the
                    # wake-up with it (asyncio.Condition before 3.13 does not pass it
                    # on) and leave a free slot with every other waiter asleep.
                    if self.in_flight < self.limit:
                        self._changed.notify(1)
                    raise
                if self._resume_at > loop.time():
                    continue  # a Retry-After arrived while we waited for the slot
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                self._started += 1
                if self.in_flight < self.limit:
                    # Slots are still free (the bound grew, or a woken waiter left to
                    # sit out a pause): pass the wake-up on to the next waiter.
                    self._changed.notify(1)
                return self._started

    def pause(self, seconds: float) -> None:
        """Start no request for ``seconds`` (a server's Retry-After applies to everyone:
        requests sent meanwhile would only be refused too)."""
        if seconds > 0:
            self._resume_at = max(self._resume_at, asyncio.get_running_loop().time() + seconds)

    async def release(self) -> None:
        async with self._changed:
            self.in_flight -= 1
            # Wake only as many waiters as there are free slots: notify_all would wake
            # every waiting request at every release, O(n^2) wake-ups for n projects
            # (a quarter of the CPU of a 1,000-project scan).
            self._changed.notify(max(1, self.limit - self.in_flight))

    def success(self) -> None:
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.ceiling:
            if self.decreases:
                now = self._clock()
                if now < self._grow_after:
                    return
                self._grow_after = now + GROWTH_INTERVAL
            self._successes = 0
            # Waiters are woken by the release that follows every success.
            self.limit += 1

    def overloaded(self, ticket: int) -> None:
        """The request started with ``ticket`` met 429/503/a timeout: halve, once per window."""
        if ticket < self._no_decrease_before:
            return
        self.limit = max(1, self.limit // 2)
        self.decreases += 1
        self._grow_after = self._clock() + GROWTH_INTERVAL
        self._successes = 0
        self._no_decrease_before = self._started + 1

    def slot(self) -> _Slot:
        return _Slot(self)


class _Slot:
    """``async with limit.slot() as ticket:`` holds one slot for one request."""

    def __init__(self, limit: AdaptiveLimit) -> None:
        self._limit = limit
        self.ticket = 0

    async def __aenter__(self) -> int:
        self.ticket = await self._limit.acquire()
        return self.ticket

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._limit.release()


# When the budget is full, a waiting body is read anyway once the oldest body being
# read has taken SLOW_READ seconds (checked every CHECK_INTERVAL): see ByteBudget.
SLOW_READ = 0.5
CHECK_INTERVAL = 0.1
# Bodies under 1/SMALL_SHARE of the budget are never held back (see ByteBudget.reserve).
SMALL_SHARE = 32


class ByteBudget:
    """A bound on the bytes of response bodies being read at once, first come first served.

    The scan is CPU-bound on one thread: while it decodes one page, every other
    request in flight keeps receiving its body, so peak memory grew with
    ``--concurrency`` (66 MB at 2, 100 MB at 16, 120 MB at 32 on the old-pins venv)
    while the time did not. A body is read only once its size fits in the budget;
    until then it waits in the kernel's socket buffer, where TCP flow control holds
    the rest back. A body larger than the whole budget is read alone. Requests still
    start ``--concurrency`` at a time, so latency is still overlapped.

    On a slow link the opposite holds: bodies take seconds to arrive, memory grows
    only as fast as the link, and holding bodies back would cut throughput (by half,
    measured at 2 MB/s per connection). So once the oldest body being read has taken
    ``slow_read`` seconds, waiting bodies are read over the limit (``overdrawn``); a
    fast link never gets there, as its reads take milliseconds.
    """

    def __init__(
        self,
        limit: int,
        *,
        unknown_size: int,
        slow_read: float = SLOW_READ,
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.unknown_size = min(unknown_size, limit)  # charged when there is no Content-Length
        self.slow_read = slow_read
        self.check_interval = check_interval
        self.held = 0
        self.peak = 0
        self.overdrawn = 0  # bodies read over the limit because the reads were slow
        self._waiting: deque[tuple[int, asyncio.Future[float]]] = deque()
        self._reading: dict[float, int] = {}  # start time of each body being read -> count

    def reserve(self, size: int | None) -> _Reservation:
        """``async with budget.reserve(content_length):`` around reading one body.

        A body under ``limit // SMALL_SHARE`` bytes is read at once, uncounted: the
        peaks come from the few large pages, and making every small page queue behind
        them cost a slow link a sixth of its throughput.
        """
        if size is not None and size * SMALL_SHARE < self.limit:
            return _Reservation(self, 0)
        return _Reservation(self, self.unknown_size if size is None else min(size, self.limit))

    @property
    def queued(self) -> int:
        """Bodies waiting for their turn (cancelled waiters not counted)."""
        return sum(1 for _, future in self._waiting if not future.done())

    async def _acquire(self, amount: int) -> float:
        """Wait until ``amount`` may be read; returns the read's start time.

        An entry leaves the queue exactly once, in :meth:`_grant` (granted, or dropped
        when its waiter was cancelled) or in :meth:`_check` (read over the limit); the
        waiter never removes its own. A task's cancellation marks its future cancelled
        at once but runs the task's handler only on a later loop turn: a release in
        between had already dropped the entry, and the handler's own remove then
        raised ValueError out of every task being cancelled (a closed stdout ended a
        ``--refresh`` scan with one traceback per queued page).
        """
        loop = asyncio.get_running_loop()
        self._drop_cancelled()
        if not self._waiting and self.held + amount <= self.limit:
            return self._take(amount, loop.time())
        future: asyncio.Future[float] = loop.create_future()
        entry = (amount, future)
        self._waiting.append(entry)
        timer = loop.call_later(self.check_interval, self._check, entry)
        future.add_done_callback(lambda _: timer.cancel())
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release(amount, future.result())  # granted as it was cancelled
            else:
                self._grant()  # it may have been the head that blocked smaller ones
            raise

    def _drop_cancelled(self) -> None:
        while self._waiting and self._waiting[0][1].done():
            self._waiting.popleft()

    def _check(self, entry: tuple[int, asyncio.Future[float]]) -> None:
        amount, future = entry
        if future.done():
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._reading and now - min(self._reading) < self.slow_read:
            timer = loop.call_later(self.check_interval, self._check, entry)
            future.add_done_callback(lambda _: timer.cancel())
            return
        self._waiting.remove(entry)
        self.overdrawn += 1
        future.set_result(self._take(amount, now))
        self._grant()  # it may have been the head that blocked smaller ones

    def _take(self, amount: int, now: float) -> float:
        self.held += amount
        self.peak = max(self.peak, self.held)
        self._reading[now] = self._reading.get(now, 0) + 1
        return now

    def _release(self, amount: int, started: float) -> None:
        self.held -= amount
        left = self._reading[started] - 1
        if left:
            self._reading[started] = left
        else:
            del self._reading[started]
        self._grant()

    def _grant(self) -> None:
        # In order: a large body waiting at the head is not overtaken by a stream of
        # small ones, so it starts as soon as enough is free.
        now = asyncio.get_running_loop().time()
        self._drop_cancelled()
        while self._waiting and self.held + self._waiting[0][0] <= self.limit:
            amount, future = self._waiting.popleft()
            future.set_result(self._take(amount, now))
            self._drop_cancelled()


class _Reservation:
    def __init__(self, budget: ByteBudget, amount: int) -> None:
        self._budget = budget
        self.amount = amount
        self._started = 0.0

    async def __aenter__(self) -> None:
        if self.amount:
            self._started = await self._budget._acquire(self.amount)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.amount:
            self._budget._release(self.amount, self._started)
