"""pipfresh.ui.pick: the --interactive selection, on strings."""

from __future__ import annotations

import pytest

from pipfresh.ui.pick import ATTEMPTS, SelectionError, parse_selection, pick


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("  \n", []),
        ("none", []),
        ("N", []),
        ("all", [0, 1, 2, 3, 4]),
        ("A\n", [0, 1, 2, 3, 4]),
        ("1", [0]),
        ("5", [4]),
        ("1 3", [0, 2]),
        ("3,1", [0, 2]),
        ("2-4", [1, 2, 3]),
        ("1, 2-3 3 5", [0, 1, 2, 4]),
        ("4-4", [3]),
    ],
)
def test_parse_selection(text: str, expected: list[int]) -> None:
    assert parse_selection(text, 5) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "'0' is not between 1 and 5"),
        ("6", "'6' is not between 1 and 5"),
        ("2-9", "'2-9' is not between 1 and 5"),
        ("4-2", "range goes backwards: '4-2'"),
        ("x", "not a number or range: 'x'"),
        ("1 all", "not a number or range: 'all'"),
        ("-1", "not a number or range: '-1'"),
    ],
)
def test_parse_selection_rejects(text: str, message: str) -> None:
    with pytest.raises(SelectionError) as caught:
        parse_selection(text, 5)
    assert str(caught.value) == message


def run_pick(answers: list[str]) -> tuple[list[int] | None, str]:
    shown: list[str] = []
    feed = iter(answers)
    chosen = pick(["aaa 1.0 -> 2.0", "bbb 1.0 -> 1.5"], lambda: next(feed, ""), shown.append)
    return chosen, "".join(shown)


def test_pick_shows_numbered_rows_and_returns_the_choice() -> None:
    chosen, shown = run_pick(["2\n"])
    assert chosen == [1]
    assert shown.startswith("  1  aaa 1.0 -> 2.0\n  2  bbb 1.0 -> 1.5\n")


def test_pick_asks_again_after_a_wrong_answer() -> None:
    chosen, shown = run_pick(["7\n", "1-2\n"])
    assert chosen == [0, 1]
    assert "pipfresh: '7' is not between 1 and 2\n" in shown
    assert shown.count("Packages to update") == 2


def test_pick_gives_up_after_repeated_wrong_answers_or_end_of_input() -> None:
    assert run_pick(["x\n"] * ATTEMPTS)[0] is None
    assert run_pick([])[0] is None
    assert run_pick(["\n"])[0] == []
