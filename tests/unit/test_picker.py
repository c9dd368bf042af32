"""pipfresh.ui.picker: the --interactive checkbox list's keys, states and screen, pure."""

from __future__ import annotations

import io

import pytest

from pipfresh.ui.picker import (
    TARGETS,
    Key,
    Row,
    State,
    decode,
    initial,
    level_of,
    render,
    step,
    terminal_ready,
)

ROWS = (
    Row("aaa", "1.0", "2.0", "major"),
    Row("bbb", "1.0", "1.5", "minor", "needed by aaa 2.0"),
    Row("ccc", "1.0", "1.0.1", "patch"),
)


@pytest.mark.parametrize(
    ("data", "keys"),
    [
        (b"\x1b[A\x1b[B", ["up", "down"]),
        (b"\x1bOA\x1bOB", ["up", "down"]),
        (b"kj", ["up", "down"]),
        (b" x", ["toggle", "toggle"]),
        (b"an", ["all", "none"]),
        (b"\r", ["confirm"]),
        (b"\n", ["confirm"]),
        (b"q", ["cancel"]),
        (b"\x1b", ["cancel"]),
        (b"\x1bq", ["cancel", "cancel"]),
        (b"\x03", ["interrupt"]),
        (b"\x1b[C\x1b[D", ["higher", "lower"]),  # read whole, not taken for Esc then "[C"
        (b"\x1b[1;5A j", ["toggle", "down"]),  # an unknown sequence is skipped whole
        (b"\x1b[H\x1b[F", ["top", "bottom"]),
        (b"zZ9", []),
    ],
)
def test_decode(data: bytes, keys: list[Key]) -> None:
    assert decode(data) == keys


def run(state: State, *keys: Key) -> State:
    for key in keys:
        state = step(state, key)
    return state


def test_everything_starts_chosen_and_confirming_keeps_it() -> None:
    state = run(initial(ROWS), "confirm")
    assert state.outcome == "confirmed"
    assert state.picked == ["aaa", "bbb", "ccc"]


@pytest.mark.parametrize(
    ("keys", "picked", "cursor"),
    [
        (("toggle",), ["bbb", "ccc"], 0),
        (("down", "toggle"), ["aaa", "ccc"], 1),
        (("down", "down", "down", "toggle"), ["aaa", "bbb"], 2),  # stops at the last row
        (("up", "up", "toggle"), ["bbb", "ccc"], 0),  # and at the first
        (("toggle", "toggle"), ["aaa", "bbb", "ccc"], 0),
        (("none",), [], 0),
        (("none", "bottom", "toggle"), ["ccc"], 2),
        (("none", "all"), ["aaa", "bbb", "ccc"], 0),
        (("bottom", "top", "toggle"), ["bbb", "ccc"], 0),
    ],
)
def test_moves_and_toggles(keys: tuple[Key, ...], picked: list[str], cursor: int) -> None:
    state = run(initial(ROWS), *keys)
    assert state.outcome == "picking"
    assert (state.picked, state.cursor) == (picked, cursor)


@pytest.mark.parametrize(
    ("key", "outcome"), [("cancel", "cancelled"), ("interrupt", "interrupted")]
)
def test_cancel_and_interrupt(key: Key, outcome: str) -> None:
    assert run(initial(ROWS), "toggle", key).outcome == outcome


def test_no_rows_is_harmless() -> None:
    state = run(initial(()), "down", "up", "toggle", "bottom", "confirm")
    assert state.picked == []
    assert state.outcome == "confirmed"


@pytest.mark.parametrize(
    ("before", "after", "level"),
    [
        ("1.0", "2.0", "major"),
        ("1.0", "1.5", "minor"),
        ("1.0", "1.0.1", "patch"),
        ("1.0", "2.0rc1", "pre"),
        ("1!1.0", "2!0.1", "major"),
        ("1.0", "not-a-version", "unknown"),
    ],
)
def test_level_of(before: str, after: str, level: str) -> None:
    assert level_of(before, after) == level


def test_render_groups_rows_and_lists_what_will_not_move() -> None:
    state = run(initial(ROWS), "down", "toggle")
    lines = render(state, ["ddd 1.0 -> 3.0: held back by eee 1.0 requires ddd<2"], width=100)
    assert lines[0].startswith("Upgrades to make (2 of 3 chosen): ")
    assert lines[1] == TARGETS
    assert lines[2:] == [
        "Major:",
        "   [x] aaa  1.0 -> 2.0",
        "Minor:",
        " > [ ] bbb  1.0 -> 1.5  (needed by aaa 2.0)",
        "Patch:",
        "   [x] ccc  1.0 -> 1.0.1",
        "Not updated:",
        "  ddd 1.0 -> 3.0: held back by eee 1.0 requires ddd<2",
    ]


def test_render_escapes_index_text_and_fits_the_width() -> None:
    state = initial((Row("evil\x1b[2J", "1.0", "2.0\u202e", "major"),))
    lines = render(state, ["x\x1b]0;title\x07 1.0: held"], width=40)
    text = "\n".join(lines)
    for unsafe in ("\x1b", "\u202e", "\x07"):
        assert unsafe not in text
    assert "evil\\x1b[2J" in text
    assert all(len(line) <= 39 for line in lines)
    assert lines[0].endswith("...")


def test_render_scrolls_around_the_cursor_when_rows_do_not_fit() -> None:
    rows = tuple(Row(f"p{i:02}", "1.0", "1.0.1", "patch") for i in range(40))
    held = [f"h{i} 1.0 -> 2.0: why" for i in range(8)]
    state = run(initial(rows), *(["down"] * 30))
    lines = render(state, held, width=80, height=20)
    assert len(lines) <= 19
    assert any(line.startswith(" > [x] p30") for line in lines)
    assert "  ... and 3 more" in lines
    assert not any("p00" in line for line in lines)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stdin", "stderr", "term", "ready"),
    [
        (_Tty(), _Tty(), "xterm", True),
        (_Tty(), _Tty(), "dumb", False),
        (_Tty(), _Tty(), "", False),
        (io.StringIO(), _Tty(), "xterm", False),
        (_Tty(), io.StringIO(), "xterm", False),
    ],
)
def test_terminal_ready(stdin: io.StringIO, stderr: io.StringIO, term: str, ready: bool) -> None:
    assert terminal_ready(stdin, stderr, {"TERM": term}) is ready


OFFERED = (
    Row("aaa", "1.2.3", "2.1.1", "major", offers=("1.2.9", "1.4.2", "2.1.1")),
    Row("bbb", "1.0", "1.5", "minor", "needed by aaa 2.1.1"),
)


def test_left_and_right_step_through_the_offers_and_stop_at_the_ends() -> None:
    state = initial(OFFERED)
    assert state.target(0) == "2.1.1"
    state = run(state, "higher")  # already the plan's version: nowhere further
    assert state.target(0) == "2.1.1"
    state = run(state, "lower", "lower", "lower")
    assert state.target(0) == "1.2.9"
    state = run(state, "higher")
    assert state.target(0) == "1.4.2"
    assert state.choices == {"aaa": "1.4.2", "bbb": None}
    # A row with nothing to offer does not move.
    state = run(state, "down", "lower")
    assert state.target(1) == "1.5"
    assert state.choices == {"aaa": "1.4.2", "bbb": None}


def test_back_at_the_plans_version_means_as_planned() -> None:
    state = run(initial(OFFERED), "lower", "higher", "confirm")
    assert state.choices == {"aaa": None, "bbb": None}


def test_picking_a_version_of_an_unchosen_row_chooses_it() -> None:
    state = run(initial(OFFERED), "toggle")
    assert state.picked == ["bbb"]
    state = run(state, "lower")
    assert state.choices == {"aaa": "1.4.2", "bbb": None}


def test_render_shows_the_offers_with_the_picked_one_bracketed() -> None:
    state = run(initial(OFFERED), "lower")
    lines = render(state, [], width=120)
    assert lines[2:] == [
        "Major:",
        " > [x] aaa  1.2.3 -> 1.4.2  < 1.2.9 patch  [1.4.2 minor]  2.1.1 major >",
        "Minor:",
        "   [x] bbb  1.0   -> 1.5    (needed by aaa 2.1.1)",
    ]


def test_rows_of_takes_offers_that_end_with_the_planned_version() -> None:
    from pipfresh.models import IndexFile
    from pipfresh.plan import Change, Plan
    from pipfresh.ui.picker import rows_of

    wheel = IndexFile.build("x-1-py3-none-any.whl", "https://x/x.whl")
    plan = Plan(
        (
            Change("Aaa", "aaa", "1.2.3", "2.1.1", wheel, None),
            Change("Bbb", "bbb", "1.0", "1.5", wheel, None),
        ),
        (),
    )
    rows = rows_of(plan, {"aaa": ("1.2.9", "2.1.1"), "bbb": ("1.1", "1.4")})
    assert rows[0].choices == ("1.2.9", "2.1.1")
    assert rows[1].choices == ("1.5",)  # offers that do not end with the plan are ignored
