"""Pure: which of n units break the tests, by adaptive group testing.

The caller has seen the tests pass with no unit applied and fail with all of them.
:func:`bisect` keeps a set of units it has seen pass (the *kept* set, empty at first)
and a list of *pending* units, and repeats:

1. Binary search over prefixes of the pending list for the first prefix that, added to
   the kept set, does not pass cleanly. The search only relies on its two ends (the
   empty prefix passes, the whole list does not), so it always ends on an adjacent pair
   (``prefix[:i]`` passes, ``prefix[:i+1]`` does not) even when the tests are not
   monotone in the units; unit ``i`` is the one that breaks them.
2. The prefix before it joins the kept set (it was seen passing); the unit is a culprit
   when that state failed every attempt, flaky when it both failed and passed.
3. The rest of the pending list is tried on top of the kept set: passing ends the
   search, failing starts another round.

Each culprit costs about ``log2(n)`` runs plus one for the rest, so k culprits among n
units take about ``k * (log2(n) + 1)`` runs here; with the caller's two runs (before
the update and with all of it) that is the ``k * log2(n) + 2`` of the issue, plus k.

A culprit may break the tests only together with units that were kept (an
*interaction*). With ``explain`` each culprit is then tried alone, which costs one run
(none when that state was already seen), and when it passes alone the kept units it
needs are searched for the same way, so the report can say "fails together with X".

Results are memoised per state: a state is never run twice. Nothing here does I/O;
the caller's ``test`` applies the units and runs the command.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class Verdict(enum.Enum):
    """What the tests said about one state, retries included."""

    PASS = "pass"  # passed at the first attempt
    FLAKY = "flaky"  # failed, then passed on a retry
    FAIL = "fail"  # failed every attempt


@dataclass(frozen=True, slots=True)
class Culprit(Generic[T]):
    """A unit the tests fail with. ``together_with``: kept units it fails with while it
    passes on its own (empty: it fails alone, or ``explain`` was off)."""

    unit: T
    together_with: tuple[T, ...] = ()


@dataclass(frozen=True, slots=True)
class Bisection(Generic[T]):
    """The outcome: every unit is in exactly one of ``kept``, ``culprits``, ``flaky``.

    ``kept`` is a state the tests were seen passing in (at the first attempt), or empty.
    ``runs`` counts every run of the tests, retries included; ``states`` the distinct
    states tried.
    """

    kept: tuple[T, ...]
    culprits: tuple[Culprit[T], ...]
    flaky: tuple[T, ...]
    runs: int
    states: int


class _Tester(Generic[T]):
    """Runs the caller's test on a state of unit indices, with retries and memo."""

    def __init__(
        self, units: Sequence[T], test: Callable[[tuple[T, ...]], bool], retries: int
    ) -> None:
        self._units = units
        self._test = test
        self._retries = retries
        self.runs = 0
        self.states = 0
        self.seen: dict[frozenset[int], Verdict] = {}

    def verdict(self, state: frozenset[int]) -> Verdict:
        known = self.seen.get(state)
        if known is not None:
            return known
        applied = tuple(self._units[i] for i in sorted(state))
        self.states += 1
        result = Verdict.FAIL
        for attempt in range(1 + self._retries):
            self.runs += 1
            if self._test(applied):
                result = Verdict.PASS if attempt == 0 else Verdict.FLAKY
                break
        self.seen[state] = result
        return result

    def passes(self, state: frozenset[int]) -> bool:
        return self.verdict(state) is Verdict.PASS


def _first_failing(tester: _Tester[T], base: frozenset[int], pending: Sequence[int]) -> int:
    """The index ``i`` in ``pending`` such that ``base + pending[:i]`` passes and
    ``base + pending[:i+1]`` does not, given that ``base`` passes and
    ``base + pending`` does not."""
    low, high = 0, len(pending)  # low: a passing prefix length, high: a failing one
    while high - low > 1:
        middle = (low + high) // 2
        if tester.passes(base | frozenset(pending[:middle])):
            low = middle
        else:
            high = middle
    return high - 1


def _partners(tester: _Tester[T], unit: int, base: Sequence[int]) -> list[int]:
    """Units of ``base`` that ``unit`` fails with, each needed given the ones before it;
    ``base + unit`` is known not to pass."""
    found: list[int] = []
    candidates = list(base)
    # Invariant: found + candidates + unit does not pass.
    while tester.passes(frozenset([*found, unit])) and candidates:
        index = _first_failing(tester, frozenset([*found, unit]), candidates)
        found.append(candidates[index])
        candidates = candidates[:index]
    return sorted(found)


def bisect(
    units: Sequence[T],
    test: Callable[[tuple[T, ...]], bool],
    *,
    retries: int = 0,
    explain: bool = True,
    full: Verdict = Verdict.FAIL,
) -> Bisection[T]:
    """Find the units the tests fail with; see the module docstring.

    ``test(applied)`` runs the tests with exactly the units ``applied`` (in the order of
    ``units``) and answers whether they passed; ``retries`` reruns a failing state that
    many times before counting it red. The caller has seen the empty state pass and the
    full state not pass (``full``: FAIL, or FLAKY when a retry passed): neither is run
    again.
    """
    if retries < 0:
        raise ValueError("retries must be 0 or more")
    tester = _Tester(units, test, retries)
    everything = frozenset(range(len(units)))
    tester.seen[frozenset()] = Verdict.PASS
    if full is Verdict.PASS:
        raise ValueError("the full state must not pass")
    tester.seen.setdefault(everything, full)
    kept: list[int] = []
    culprits: list[Culprit[T]] = []
    flaky: list[int] = []
    pending = list(range(len(units)))
    while pending:
        base = frozenset(kept)
        index = _first_failing(tester, base, pending)
        unit = pending[index]
        broken = tester.verdict(base | frozenset(pending[: index + 1]))
        kept += pending[:index]
        pending = pending[index + 1 :]
        if broken is Verdict.FLAKY:
            flaky.append(unit)
        else:
            together = _partners(tester, unit, kept) if explain else []
            culprits.append(Culprit(units[unit], tuple(units[i] for i in together)))
        if not pending:
            break
        if tester.passes(frozenset(kept + pending)):
            kept += pending
            break
    return Bisection(
        kept=tuple(units[i] for i in sorted(kept)),
        culprits=tuple(culprits),
        flaky=tuple(units[i] for i in sorted(flaky)),
        runs=tester.runs,
        states=tester.states,
    )
