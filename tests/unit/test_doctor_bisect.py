"""The culprit search (:mod:`pipfresh.doctor.bisect`) against model test suites.

A model says, for a set of applied units, whether the tests pass: "fails when any of
these bad sets is applied in full" covers single culprits (bad sets of one) and
interactions (bad sets of two or more). Small n are checked exhaustively, larger ones
with hypothesis; every check is against the model, not against the search's own
bookkeeping.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipfresh.doctor.bisect import Bisection, Culprit, bisect

Model = Callable[[tuple[str, ...]], bool]


def fails_with(bad_sets: Iterable[Iterable[str]]) -> Model:
    """Tests that fail exactly when one of ``bad_sets`` is applied in full."""
    sets = [frozenset(b) for b in bad_sets]

    def test(applied: tuple[str, ...]) -> bool:
        state = set(applied)
        return not any(bad <= state for bad in sets)

    return test


def counted(model: Model) -> tuple[Model, list[tuple[str, ...]]]:
    calls: list[tuple[str, ...]] = []

    def test(applied: tuple[str, ...]) -> bool:
        calls.append(applied)
        return model(applied)

    return test, calls


def names(n: int) -> list[str]:
    return [f"u{i}" for i in range(n)]


def bound(k: int, n: int, *, explain: bool) -> int:
    per_culprit = math.ceil(math.log2(n)) if n > 1 else 0
    return k * (per_culprit + (2 if explain else 1))


def check_against(model: Model, units: list[str], result: Bisection[str]) -> None:
    """What must hold for any model whose failures are upward closed."""
    culprits = [c.unit for c in result.culprits]
    assert sorted([*result.kept, *culprits, *result.flaky]) == sorted(units)
    assert model(result.kept)  # the final state passes
    for culprit in result.culprits:
        # Maximal: no culprit can be put back on top of what is kept.
        assert not model((*result.kept, culprit.unit))
        assert set(culprit.together_with) <= set(result.kept)
        assert not model((culprit.unit, *culprit.together_with))
        if culprit.together_with:
            assert model((culprit.unit,))


@pytest.mark.parametrize("n", range(1, 7))
def test_every_set_of_single_culprits_is_found_within_the_bound(n: int) -> None:
    units = names(n)
    for k in range(1, n + 1):
        for bad in itertools.combinations(units, k):
            for explain in (True, False):
                test, calls = counted(fails_with([b] for b in bad))
                result = bisect(units, test, explain=explain)
                assert {c.unit for c in result.culprits} == set(bad)
                assert all(c.together_with == () for c in result.culprits)
                assert set(result.kept) == set(units) - set(bad)
                assert result.flaky == ()
                assert result.runs == len(calls) == result.states
                assert result.runs <= bound(k, n, explain=explain), (bad, explain)
                # Neither end is run again: the caller has seen both.
                assert () not in calls
                assert tuple(units) not in calls
                check_against(fails_with([b] for b in bad), units, result)


@pytest.mark.parametrize("n", range(2, 6))
def test_every_pair_interaction_is_reported_with_its_partner(n: int) -> None:
    units = names(n)
    for first, second in itertools.combinations(units, 2):
        model = fails_with([[first, second]])
        result = bisect(units, model)
        # The later of the two in plan order is the one rolled back; the other stays.
        assert result.culprits == (Culprit(second, (first,)),)
        assert first in result.kept
        check_against(model, units, result)


def test_an_interaction_of_three_names_both_partners() -> None:
    units = names(6)
    model = fails_with([["u1", "u3", "u4"]])
    result = bisect(units, model)
    assert result.culprits == (Culprit("u4", ("u1", "u3")),)
    check_against(model, units, result)


def test_without_explain_an_interaction_is_a_plain_culprit() -> None:
    result = bisect(names(4), fails_with([["u0", "u2"]]), explain=False)
    assert result.culprits == (Culprit("u2"),)
    assert result.kept == ("u0", "u1", "u3")


def test_a_culprit_and_an_interaction_together() -> None:
    units = names(8)
    model = fails_with([["u6"], ["u2", "u5"]])
    result = bisect(units, model)
    assert set(result.culprits) == {Culprit("u6"), Culprit("u5", ("u2",))}
    check_against(model, units, result)


def test_two_culprits_among_eight_units_take_about_k_log2_n_runs() -> None:
    # The figure: k*log2(n) + 2 with the caller's two runs; here k more for the
    # rest checks and the alone checks that tell an interaction from a culprit.
    test, calls = counted(fails_with([["u2"], ["u5"]]))
    result = bisect(names(8), test)
    assert [c.unit for c in result.culprits] == ["u2", "u5"]
    assert result.runs == len(calls)
    assert result.runs <= 2 * 3 + 2 * 2


def flaky_on(unit: str, then: Model) -> Model:
    """Tests that fail the first time a state holding ``unit`` is run and pass on the
    next run of that same state (unless ``then`` fails it)."""
    seen: set[frozenset[str]] = set()

    def test(applied: tuple[str, ...]) -> bool:
        state = frozenset(applied)
        if unit in state and state not in seen:
            seen.add(state)
            return False
        return then(applied)

    return test


def test_a_unit_that_passes_on_a_retry_is_flaky_not_culprit() -> None:
    result = bisect(names(4), flaky_on("u1", fails_with([])), retries=1)
    assert result.culprits == ()
    assert result.flaky == ("u1",)
    assert result.kept == ("u0", "u2", "u3")


def test_flaky_and_a_real_culprit_are_told_apart() -> None:
    result = bisect(names(6), flaky_on("u1", fails_with([["u4"]])), retries=2)
    assert result.culprits == (Culprit("u4"),)
    assert result.flaky == ("u1",)
    assert result.kept == ("u0", "u2", "u3", "u5")


def test_without_retries_a_flaky_failure_counts_as_a_culprit() -> None:
    result = bisect(names(4), flaky_on("u1", fails_with([])), retries=0)
    assert [c.unit for c in result.culprits] == ["u1"]
    assert result.flaky == ()


def test_retries_rerun_only_failing_states() -> None:
    test, calls = counted(fails_with([["u3"]]))
    result = bisect(names(4), test, retries=2)
    passing = [c for c in calls if "u3" not in c]
    failing = [c for c in calls if "u3" in c]
    # Each failing state is run three times, each passing state once.
    assert len(failing) == 3 * len(set(failing))
    assert len(passing) == len(set(passing))
    assert result.runs == len(calls)
    assert result.states == len(set(calls))


def test_a_single_unit_is_a_culprit_without_a_run() -> None:
    test, calls = counted(fails_with([["u0"]]))
    result = bisect(["u0"], test)
    assert result.culprits == (Culprit("u0"),)
    assert calls == []


def test_no_units_is_nothing_to_do() -> None:
    result = bisect([], fails_with([]))
    assert result == Bisection((), (), (), 0, 0)


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ValueError, match="retries"):
        bisect(names(2), fails_with([["u0"]]), retries=-1)


def test_non_monotone_tests_still_end_on_a_passing_state() -> None:
    # u3 repairs what u1 breaks but breaks the tests with u4: no subset order holds,
    # and the kept set must still be one the tests passed in.
    def model(applied: tuple[str, ...]) -> bool:
        state = set(applied)
        return not ({"u1"} <= state and "u3" not in state) and not {"u3", "u4"} <= state

    units = names(5)
    test, calls = counted(model)
    result = bisect(units, test)
    assert model(result.kept)
    assert result.kept in calls
    assert result.culprits
    assert sorted([*result.kept, *(c.unit for c in result.culprits)]) == units


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=40),
    data=st.data(),
)
def test_random_single_culprits_are_all_found_within_the_bound(n: int, data: st.DataObject) -> None:
    units = names(n)
    bad = data.draw(st.sets(st.sampled_from(units), min_size=1), label="culprits")
    explain = data.draw(st.booleans(), label="explain")
    test, calls = counted(fails_with([b] for b in bad))
    result = bisect(units, test, explain=explain)
    assert {c.unit for c in result.culprits} == bad
    assert set(result.kept) == set(units) - bad  # nothing passing is dropped
    assert result.runs == len(calls) <= bound(len(bad), n, explain=explain)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=2, max_value=24), data=st.data())
def test_random_interactions_end_green_and_maximal(n: int, data: st.DataObject) -> None:
    units = names(n)
    bad_sets = data.draw(
        st.lists(st.sets(st.sampled_from(units), min_size=1, max_size=3), min_size=1, max_size=4),
        label="bad sets",
    )
    model = fails_with(bad_sets)
    result = bisect(units, model)
    check_against(model, units, result)
