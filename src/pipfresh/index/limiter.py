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
                await self._changed.wait_for(lambda: self.in_flight < self.limit)
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


class ByteBudget:
    """A bound on the bytes of response bodies being read at once, first come first served.

    The scan is CPU-bound on one thread: while it decodes one page, every other
    request in flight keeps receiving its body, so peak memory grew with
    ``--concurrency`` (66 MB at 2, 100 MB at 16, 120 MB at 32 on the old-pins venv)
    while the time did not. A body is read only once its size fits in the budget;
    until then it waits in the kernel's socket buffer, where TCP flow control holds
    the rest back. A body larger than the whole budget is read alone. Requests still
    start ``--concurrency`` at a time, so latency is still overlapped.
    """

    def __init__(self, limit: int, *, unknown_size: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.unknown_size = min(unknown_size, limit)  # charged when there is no Content-Length
        self.held = 0
        self.peak = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    def reserve(self, size: int | None) -> _Reservation:
        """``async with budget.reserve(content_length):`` around reading one body."""
        return _Reservation(self, self.unknown_size if size is None else min(size, self.limit))

    async def _acquire(self, amount: int) -> None:
        if not self._waiting and self.held + amount <= self.limit:
            self._take(amount)
            return
        future = asyncio.get_running_loop().create_future()
        entry = (amount, future)
        self._waiting.append(entry)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release(amount)  # granted just as it was cancelled: give it back
            else:
                self._waiting.remove(entry)
                self._grant()  # it may have been the head that blocked smaller ones
            raise

    def _take(self, amount: int) -> None:
        self.held += amount
        self.peak = max(self.peak, self.held)

    def _release(self, amount: int) -> None:
        self.held -= amount
        self._grant()

    def _grant(self) -> None:
        # In order: a large body waiting at the head is not overtaken by a stream of
        # small ones, so it starts as soon as enough is free.
        while self._waiting and self.held + self._waiting[0][0] <= self.limit:
            amount, future = self._waiting.popleft()
            if not future.done():
                self._take(amount)
                future.set_result(None)


class _Reservation:
    def __init__(self, budget: ByteBudget, amount: int) -> None:
        self._budget = budget
        self.amount = amount

    async def __aenter__(self) -> None:
        await self._budget._acquire(self.amount)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._budget._release(self.amount)
