"""``update --interactive``: a numbered list and one line of input, on any terminal.

A full-screen picker (checkboxes, arrow keys) would need a terminal library that
reads raw keys; a numbered prompt works the same over ssh, in tmux and in an
editor's terminal, and is what pip-review and apt do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

#: Wrong answers tolerated before giving up (nothing is then updated).
ATTEMPTS = 3


class SelectionError(ValueError):
    """An answer that does not name packages of the list."""


def parse_selection(text: str, count: int) -> list[int]:
    """Pure: the 0-based indexes an answer picks from a list of ``count`` items.

    Numbers are 1-based as shown; ``3-5`` is a range; items are separated by spaces
    or commas; ``all`` (or ``a``) picks everything; ``none``, ``n`` or an empty
    answer picks nothing. The result is sorted, without repeats.
    """
    words = text.replace(",", " ").split()
    if not words or [w.lower() for w in words] in (["none"], ["n"]):
        return []
    if [w.lower() for w in words] in (["all"], ["a"]):
        return list(range(count))
    chosen: set[int] = set()
    for word in words:
        first, dash, last = word.partition("-")
        try:
            start = int(first)
            end = int(last) if dash else start
        except ValueError:
            raise SelectionError(f"not a number or range: {word!r}") from None
        if start > end:
            raise SelectionError(f"range goes backwards: {word!r}")
        if start < 1 or end > count:
            raise SelectionError(f"{word!r} is not between 1 and {count}")
        chosen.update(range(start - 1, end))
    return sorted(chosen)


def pick(
    rows: Sequence[str],
    read_line: Callable[[], str],
    write: Callable[[str], object],
) -> list[int] | None:
    """Show ``rows`` numbered and ask which to keep; the 0-based indexes chosen.

    None when the input ends (Ctrl-D) or after :data:`ATTEMPTS` wrong answers.
    """
    width = len(str(len(rows)))
    for number, row in enumerate(rows, 1):
        write(f"  {number:>{width}}  {row}\n")
    for _ in range(ATTEMPTS):
        write("Packages to update (e.g. 1 3-5, 'all', empty for none): ")
        line = read_line()
        if not line:  # end of input, not an empty answer (that would be "\n")
            write("\n")
            return None
        try:
            return parse_selection(line, len(rows))
        except SelectionError as exc:
            write(f"pipfresh: {exc}\n")
    return None
