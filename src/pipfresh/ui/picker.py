"""``update --interactive`` on a terminal: a checkbox list drawn on stderr, read key by key.

The list is drawn in place below the cursor (no alternate screen), so what was picked
stays in the scrollback. Rows are grouped by how far they move (Major, Minor, Patch,
Pre); the outdated packages the plan leaves alone are listed under it with their
reason. The state machine (:func:`decode`, :func:`step`) and the drawing
(:func:`render`) are pure; only :func:`pick_on_terminal` touches the terminal, and it
always puts the terminal back as it found it.

Each row starts at the plan's version (wanted, or latest with ``--latest``); left and
right step through the smaller moves offered for it (the newest patch and minor
releases, see :mod:`pipfresh.offers`), and ``choose`` re-plans with the package capped
at the version picked. A package that moves only because another needs it has no
other version to offer.

Where raw keys cannot be read (Windows, a ``dumb`` terminal, stdin or stderr not a
terminal), :func:`terminal_ready` says no and the caller uses the numbered prompt of
:mod:`pipfresh.ui.pick`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, TextIO

from pipfresh.ui.safe import printable

if TYPE_CHECKING:
    from pipfresh.plan import Plan

Level = Literal["major", "minor", "patch", "pre", "unknown"]
Key = Literal[
    "up",
    "down",
    "top",
    "bottom",
    "lower",
    "higher",
    "toggle",
    "all",
    "none",
    "confirm",
    "cancel",
    "interrupt",
]
Outcome = Literal["picking", "confirmed", "cancelled", "interrupted"]

#: Group order and headings; "unknown" collects versions that are not PEP 440.
GROUPS: tuple[tuple[Level, str], ...] = (
    ("major", "Major"),
    ("minor", "Minor"),
    ("patch", "Patch"),
    ("pre", "Pre"),
    ("unknown", "Other"),
)

HELP = "up/down or j/k move, space toggles, a all, n none, enter confirms, q or Esc cancels"
TARGETS = (
    "left/right or h/l pick a smaller step where one is offered; what it needs is planned again"
)

#: Escape sequences of the keys used (xterm's normal and application cursor modes).
_SEQUENCES: Mapping[bytes, Key | None] = {
    b"\x1b[A": "up",
    b"\x1bOA": "up",
    b"\x1b[B": "down",
    b"\x1bOB": "down",
    b"\x1b[H": "top",
    b"\x1bOH": "top",
    b"\x1b[1~": "top",
    b"\x1b[F": "bottom",
    b"\x1bOF": "bottom",
    b"\x1b[4~": "bottom",
    b"\x1b[C": "higher",
    b"\x1b[D": "lower",
    b"\x1bOC": "higher",
    b"\x1bOD": "lower",
}
_SINGLE: Mapping[int, Key] = {
    ord("k"): "up",
    ord("j"): "down",
    ord("g"): "top",
    ord("G"): "bottom",
    ord("h"): "lower",
    ord("l"): "higher",
    ord(" "): "toggle",
    ord("x"): "toggle",
    ord("a"): "all",
    ord("n"): "none",
    ord("\r"): "confirm",
    ord("\n"): "confirm",
    ord("q"): "cancel",
    0x1B: "cancel",  # a lone Esc
    0x03: "interrupt",  # Ctrl-C: read as a key, the terminal's signals being off
    0x04: "cancel",  # Ctrl-D
}


@dataclass(frozen=True, slots=True)
class Row:
    """One change of the plan, as the picker shows it (text already made printable)."""

    name: str
    before: str
    after: str
    level: Level
    reason: str = ""
    #: The versions it may stop at, oldest first, ending with ``after``.
    offers: tuple[str, ...] = ()

    @property
    def choices(self) -> tuple[str, ...]:
        return self.offers or (self.after,)


@dataclass(frozen=True, slots=True)
class State:
    """What the picker shows: the rows in display order, the chosen ones, the cursor."""

    rows: tuple[Row, ...]
    chosen: frozenset[int]
    cursor: int = 0
    outcome: Outcome = "picking"
    #: The index in each row's :attr:`Row.choices` picked; () means each row's last.
    steps: tuple[int, ...] = ()

    def step_of(self, i: int) -> int:
        return self.steps[i] if self.steps else len(self.rows[i].choices) - 1

    def target(self, i: int) -> str:
        return self.rows[i].choices[self.step_of(i)]

    @property
    def picked(self) -> list[str]:
        return [row.name for i, row in enumerate(self.rows) if i in self.chosen]

    @property
    def choices(self) -> dict[str, str | None]:
        """The names chosen, each with the version picked for it (None: as planned)."""
        return {
            row.name: None if self.step_of(i) == len(row.choices) - 1 else self.target(i)
            for i, row in enumerate(self.rows)
            if i in self.chosen
        }


def level_of(before: str, after: str) -> Level:
    """Pure: the group of a move; a pre-release target goes under "Pre"."""
    from pipfresh.select import bump_level, parse_version

    target = parse_version(after)
    if target is None:
        return "unknown"
    if target.is_prerelease:
        return "pre"
    return bump_level(parse_version(before), target)


def rows_of(plan: Plan, offers: Mapping[str, Sequence[str]] | None = None) -> tuple[Row, ...]:
    """Pure: the plan's changes as rows, grouped in :data:`GROUPS` order, the plan's
    order kept within a group, each with the versions ``offers`` holds for it (by
    canonical name; only when they end with the planned one). Names stay as the plan
    spells them (``choose`` returns them), made printable for the screen only in
    :func:`render`."""
    offers = offers or {}

    def offered(name: str, after: str) -> tuple[str, ...]:
        versions = tuple(offers.get(name, ()))
        return versions if len(versions) > 1 and versions[-1] == after else ()

    rows = [
        Row(
            c.name,
            c.before,
            c.after,
            level_of(c.before, c.after),
            c.reason,
            offered(c.canonical_name, c.after),
        )
        for c in plan.changes
    ]
    order = {level: i for i, (level, _) in enumerate(GROUPS)}
    return tuple(sorted(rows, key=lambda r: order[r.level]))


def held_lines(plan: Plan) -> list[str]:
    """Pure: the outdated packages that will not move, with the plan's reason."""
    return [
        f"{d.name} {d.before} -> {d.after}: {d.reason}"
        if d.after
        else f"{d.name} {d.before}: {d.reason}"
        for d in plan.dropped
    ]


def initial(rows: Sequence[Row]) -> State:
    """Every row chosen, the cursor on the first: confirming at once keeps the plan."""
    return State(tuple(rows), frozenset(range(len(rows))))


def decode(data: bytes) -> list[Key]:
    """Pure: the keys in a chunk read from the terminal; unknown bytes are skipped."""
    keys: list[Key] = []
    i = 0
    while i < len(data):
        if data[i] == 0x1B and i + 1 < len(data):
            for sequence, key in _SEQUENCES.items():
                if data.startswith(sequence, i):
                    if key is not None:
                        keys.append(key)
                    i += len(sequence)
                    break
            else:
                if data[i + 1] in b"[O":  # an unknown sequence: skip to its final byte
                    i += 2
                    while i < len(data) and not 0x40 <= data[i] <= 0x7E:
                        i += 1
                    i += 1
                else:  # Esc then another key: Esc cancels
                    keys.append("cancel")
                    i += 1
            continue
        single = _SINGLE.get(data[i])
        if single is not None:
            keys.append(single)
        i += 1
    return keys


def step(state: State, key: Key) -> State:
    """Pure: the state after one key."""
    last = len(state.rows) - 1
    if key == "up":
        return replace(state, cursor=max(0, state.cursor - 1))
    if key == "down":
        return replace(state, cursor=min(last, state.cursor + 1)) if last >= 0 else state
    if key == "top":
        return replace(state, cursor=0)
    if key == "bottom":
        return replace(state, cursor=max(0, last))
    if key in ("lower", "higher"):
        if last < 0:
            return state
        i = state.cursor
        count = len(state.rows[i].choices)
        at = state.step_of(i) + (1 if key == "higher" else -1)
        if not 0 <= at < count:
            return state
        steps = [state.step_of(j) for j in range(len(state.rows))]
        steps[i] = at
        # Choosing a version for a row that was not chosen means wanting it.
        return replace(state, steps=tuple(steps), chosen=state.chosen | {i})
    if key == "toggle":
        if last < 0:
            return state
        return replace(state, chosen=state.chosen ^ {state.cursor})
    if key == "all":
        return replace(state, chosen=frozenset(range(len(state.rows))))
    if key == "none":
        return replace(state, chosen=frozenset())
    if key == "confirm":
        return replace(state, outcome="confirmed")
    if key == "cancel":
        return replace(state, outcome="cancelled")
    return replace(state, outcome="interrupted")


def _fit(text: str, width: int) -> str:
    # One character short of the width: a full line would wrap on some terminals and
    # throw the redraw's line count off.
    room = max(10, width - 1)
    return text if len(text) <= room else text[: room - 3] + "..."


@dataclass(frozen=True, slots=True)
class Texts:
    """What the picker calls its rows, and the line under its heading."""

    title: str = "Upgrades to make"
    hint: str = TARGETS
    held: str = "Not updated:"


def render(
    state: State,
    held: Sequence[str],
    *,
    width: int = 80,
    height: int = 24,
    texts: Texts = Texts(),
) -> list[str]:
    """Pure: the picker's lines (no newlines), each at most ``width - 1`` characters,
    at most ``height - 1`` lines: the rows scroll around the cursor when they do not
    fit, and the held-back list is cut to a few lines first."""
    names = [printable(r.name) for r in state.rows]
    name_width = max((len(n) for n in names), default=0)
    before_width = max((len(printable(r.before)) for r in state.rows), default=0)
    # Aligned only where a column of offers follows the targets.
    offered = any(len(r.choices) > 1 for r in state.rows)
    after_width = max((len(printable(v)) for r in state.rows for v in r.choices), default=0)
    after_width *= offered
    body: list[str] = []
    cursor_line = 0
    for level, heading in GROUPS:
        members = [i for i, r in enumerate(state.rows) if r.level == level]
        if not members:
            continue
        body.append(f"{heading}:")
        for i in members:
            row = state.rows[i]
            mark = "[x]" if i in state.chosen else "[ ]"
            pointer = ">" if i == state.cursor else " "
            target = state.target(i)
            line = (
                f" {pointer} {mark} {names[i]:<{name_width}}  "
                f"{printable(row.before):<{before_width}} -> {printable(target):<{after_width}}"
            )
            if len(row.choices) > 1:
                line += "  " + _choices(row, state.step_of(i))
            if row.reason:
                line += f"  ({printable(row.reason)})"
            line = line.rstrip()
            if i == state.cursor:
                cursor_line = len(body)
            body.append(line)
    head = [f"{texts.title} ({len(state.chosen)} of {len(state.rows)} chosen): {HELP}"]
    if texts.hint:
        head.append(texts.hint)
    tail: list[str] = []
    if held:
        shown = list(held[:5])
        tail = [texts.held, *(f"  {printable(h)}" for h in shown)]
        if len(held) > len(shown):
            tail.append(f"  ... and {len(held) - len(shown)} more")
    room = max(3, height - 1 - len(head) - len(tail))
    if len(body) > room:
        start = min(max(0, cursor_line - room // 2), len(body) - room)
        body = body[start : start + room]
    return [_fit(line, width) for line in (*head, *body, *tail)]


def _choices(row: Row, at: int) -> str:
    """The versions a row may stop at, the picked one in brackets, each with how far it
    moves: ``< 1.2.9 patch  [1.4.0 minor]  2.0.1 major >``."""
    shown = []
    for j, version in enumerate(row.choices):
        text = f"{printable(version)} {level_of(row.before, version)}"
        shown.append(f"[{text}]" if j == at else text)
    return "< " + "  ".join(shown) + " >"


def terminal_ready(stdin: TextIO, stderr: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """The picker can run: a POSIX system, stdin and stderr terminals, TERM not dumb."""
    term = (os.environ if environ is None else environ).get("TERM", "")
    if sys.platform == "win32" or term in ("", "dumb"):
        return False
    try:
        return stdin.isatty() and stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def pick_on_terminal(
    plan: Plan,
    stdin: TextIO,
    stderr: TextIO,
    offers: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, str | None] | None:
    """Run the picker on the terminal: the names chosen, each with the version picked
    (None: as planned; {} when cancelled), or None when the terminal cannot be put in
    raw mode (the caller falls back to the numbered prompt). Ctrl-C restores the
    terminal, then raises KeyboardInterrupt as a Ctrl-C at the numbered prompt does."""
    return pick_rows(rows_of(plan, offers), held_lines(plan), stdin, stderr)


def pick_rows(
    rows: Sequence[Row],
    held: Sequence[str],
    stdin: TextIO,
    stderr: TextIO,
    texts: Texts = Texts(),
) -> dict[str, str | None] | None:
    """:func:`pick_on_terminal` for any rows: those chosen, by name, with the version
    picked (None: the row's own ``after``)."""
    import termios

    fd = stdin.fileno()
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        return None
    state = initial(rows)
    drawn = 0
    try:
        raw = termios.tcgetattr(fd)
        # No line buffering, no echo, and Ctrl-C/Ctrl-Z/Ctrl-\ read as keys: the picker
        # decides what they mean, and the terminal is restored before any exit.
        raw[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN)
        raw[6][termios.VMIN] = 1
        raw[6][termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSADRAIN, raw)
        stderr.write("\x1b[?25l")  # hide the cursor while drawing
        while state.outcome == "picking":
            drawn = _draw(stderr, render(state, held, **_size(stderr), texts=texts), drawn)
            for key in decode(_read_keys(fd)):
                state = step(state, key)
                if state.outcome != "picking":
                    break
        _draw(stderr, render(state, held, **_size(stderr), texts=texts), drawn)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        stderr.write("\x1b[?25h")
        stderr.flush()
    if state.outcome == "interrupted":
        raise KeyboardInterrupt
    return state.choices if state.outcome == "confirmed" else {}


def _size(stream: TextIO) -> dict[str, int]:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        return {"width": 80, "height": 24}
    return {"width": size.columns or 80, "height": size.lines or 24}


def _draw(stream: TextIO, lines: Iterable[str], drawn: int) -> int:
    """Write ``lines`` over the ``drawn`` lines written last time; how many now."""
    text = list(lines)
    up = f"\x1b[{drawn}A\r" if drawn else ""
    stream.write(up + "\x1b[J" + "".join(f"{line}\n" for line in text))
    stream.flush()
    return len(text)


def _read_keys(fd: int) -> bytes:
    """One chunk of input; a lone Esc waits briefly for the rest of a sequence (the
    terminal sends an arrow key's bytes together, so this only delays a real Esc)."""
    import select

    data = os.read(fd, 64)
    if not data:
        return b"\x04"  # the terminal went away: cancel
    if data == b"\x1b":
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            data += os.read(fd, 64)
    return data
