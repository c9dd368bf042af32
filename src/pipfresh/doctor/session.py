"""``update --test``: apply the plan, run the tests, find and revert what breaks them.

Every state the tests run on is "the environment as it was + a set of units". The
original files stay aside the whole time: a state is reached by reverting the held
install before it (:func:`pipfresh.upgrade.revert`, offline and exact) and installing
the units' wheels from the download cache with ``execute(..., hold=True)``, which
journals it first. So at any instant the environment is either the original or one
held install with its journal on disk, and a crash (SIGKILL included) is undone by the
next run's :func:`pipfresh.upgrade.recover_interrupted` back to the original. At the
end the passing units are installed once more if needed, the tests run to confirm
green, and the install is released (committed).

The caller holds the environment's lock for the whole run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipfresh.doctor import units as units_mod
from pipfresh.doctor.bisect import Verdict, bisect
from pipfresh.doctor.runner import TestRun, run_tests
from pipfresh.doctor.units import Unit
from pipfresh.errors import RolledBack, UpdateError
from pipfresh.install import Installer
from pipfresh.installed import read_installed
from pipfresh.models import TargetEnv
from pipfresh.planning import Planned
from pipfresh.scan import ScanInput
from pipfresh.upgrade import Outcome, execute, release, revert
from pipfresh.upgrade.downloads import DownloadCache
from pipfresh.upgrade.executor import sigterm_as_interrupt
from pipfresh.upgrade.journal import Journal


class TestsFailedBefore(UpdateError):
    """The test command fails on the environment as it is: nothing was changed."""

    __test__ = False

    def __init__(self, message: str, run: TestRun) -> None:
        super().__init__(message)
        self.run = run


@dataclass(frozen=True, slots=True)
class TestEvent:
    """One run of the tests: ``stage`` is "before", "all", "bisect" or "final";
    ``applied`` the units (by name) on top of the original state."""

    __test__ = False

    stage: str
    applied: tuple[str, ...]
    run: TestRun


@dataclass(frozen=True, slots=True)
class CulpritReport:
    """A unit the tests fail with, and the output of the smallest failing state."""

    unit: Unit
    together_with: tuple[str, ...]
    failures: tuple[str, ...]
    tail: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DoctorOutcome:
    """``outcome``: the committed install of the kept units (None: nothing kept)."""

    outcome: Outcome | None
    kept: tuple[Unit, ...]
    culprits: tuple[CulpritReport, ...]
    flaky: tuple[Unit, ...]
    runs: int
    test_seconds: float
    final: TestRun


@dataclass
class _State:
    held: Journal | None = None
    applied: frozenset[str] = frozenset()
    outcome: Outcome | None = None


def run_doctor(
    scan: ScanInput,
    planned: Planned,
    installer: Installer,
    command: str,
    *,
    downloads: DownloadCache,
    lock_fd: int | None,
    cwd: Path | None = None,
    timeout: float | None = None,
    retries: int = 0,
    break_system_packages: bool = False,
    on_test: Callable[[TestEvent], None] | None = None,
    on_output: Callable[[str], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> DoctorOutcome:
    """See the module docstring. Raises :class:`TestsFailedBefore` (nothing changed),
    what :func:`pipfresh.upgrade.execute` raises, and :class:`RolledBack` when the
    final state fails too (everything was restored)."""
    target = scan.target
    environment = Path(target.prefix)
    dists = read_installed(target.sys_path)
    all_units = units_mod.split(planned.plan, dists, target.markers)
    state = _State()
    runs = 0
    seconds = 0.0
    failed: dict[frozenset[str], TestRun] = {}

    def test_once(stage: str) -> TestRun:
        nonlocal runs, seconds
        run = run_tests(command, environment, cwd=cwd, timeout=timeout)
        runs += 1
        seconds += run.seconds
        if not run.passed:
            failed[state.applied] = run
        if on_test is not None:
            on_test(TestEvent(stage, tuple(sorted(state.applied)), run))
        return run

    def with_retries(stage: str) -> TestRun:
        run = test_once(stage)
        for _ in range(retries):
            if run.passed:
                break
            run = test_once(stage)
        return run

    def apply(names: frozenset[str]) -> None:
        if names == state.applied and (state.held is not None or not names):
            return
        if state.held is not None:
            revert(target, state.held)
            state.held, state.outcome, state.applied = None, None, frozenset()
        if names:
            chosen = [u for u in all_units if u.name in names]
            subset = dataclasses.replace(planned, plan=units_mod.combine(chosen))
            outcome = execute(
                scan,
                subset,
                installer,
                break_system_packages=break_system_packages,
                on_output=on_output,
                on_stage=on_stage,
                downloads=downloads,
                lock_fd=lock_fd,
                hold=True,
            )
            state.held, state.outcome, state.applied = outcome.held, outcome, names

    with sigterm_as_interrupt():
        before = with_retries("before")
    if not before.passed:
        raise TestsFailedBefore(
            f"tests fail before the update ({before.summary()}); nothing was changed", before
        )
    with sigterm_as_interrupt():
        return _search(
            state, target, all_units, apply, test_once, retries, failed, lambda: (runs, seconds)
        )


def _search(  # noqa: PLR0917 - private, the second half of run_doctor
    state: _State,
    target: TargetEnv,
    all_units: Sequence[Unit],
    apply: Callable[[frozenset[str]], None],
    test_once: Callable[[str], TestRun],
    retries: int,
    failed: dict[frozenset[str], TestRun],
    counts: Callable[[], tuple[int, float]],
) -> DoctorOutcome:
    """Everything after the first green run: the whole plan, the bisection when it is
    red, the final run and the commit; any failure or interrupt restores the original."""
    try:
        apply(frozenset(u.name for u in all_units))
        whole = test_once("all")
        if whole.passed:
            return _commit(state, target, all_units, (), (), *counts(), whole)
        # Passing on a retry is not green: some unit makes the tests flaky, and the
        # bisection finds it (it is left out, reported as flaky).
        verdict = Verdict.FAIL
        for _ in range(retries):
            if test_once("all").passed:
                verdict = Verdict.FLAKY
                break
        result = bisect(
            all_units,
            lambda applied: _step(apply, test_once, applied),
            retries=retries,
            full=verdict,
        )
        kept = frozenset(u.name for u in result.kept)
        apply(kept)
        final = test_once("final")
        if not final.passed:
            apply(frozenset())
            raise RolledBack(
                f"the tests fail on the state that passed during the search ({final.summary()}); "
                "every package was restored to its previous version"
            )
        culprits = tuple(
            _culprit_report(c.unit, tuple(u.name for u in c.together_with), failed)
            for c in result.culprits
        )
        return _commit(state, target, result.kept, culprits, result.flaky, *counts(), final)
    except KeyboardInterrupt:
        # Ctrl-C (SIGTERM inside an install) during the search: back to the original,
        # reported as an interrupted install is.
        if state.held is not None:
            revert(target, state.held)
        raise RolledBack(
            "interrupted while testing the upgrades; every package was restored to its "
            "previous version (checked: the same .dist-info folders as before)"
        ) from None
    except BaseException:
        # A failed step: back to the original state.
        if state.held is not None:
            revert(target, state.held)
        raise


def _step(
    apply: Callable[[frozenset[str]], None],
    test_once: Callable[[str], TestRun],
    applied: tuple[Unit, ...],
) -> bool:
    apply(frozenset(u.name for u in applied))
    return test_once("bisect").passed


def _culprit_report(
    unit: Unit, together: tuple[str, ...], failed: dict[frozenset[str], TestRun]
) -> CulpritReport:
    states = [s for s in failed if unit.name in s]
    smallest = min(states, key=lambda s: (len(s), sorted(s))) if states else None
    run = failed.get(smallest) if smallest is not None else None
    return CulpritReport(
        unit,
        together,
        () if run is None else run.failures,
        () if run is None else run.tail,
    )


def _commit(  # noqa: PLR0917 - private, two call sites
    state: _State,
    target: TargetEnv,
    kept: Sequence[Unit],
    culprits: tuple[CulpritReport, ...],
    flaky: Sequence[Unit],
    runs: int,
    seconds: float,
    final: TestRun,
) -> DoctorOutcome:
    outcome = state.outcome
    if state.held is not None:
        release(target)
        state.held = None
    return DoctorOutcome(
        outcome, tuple(kept), culprits, tuple(flaky), runs, round(seconds, 3), final
    )
