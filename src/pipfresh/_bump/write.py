"""Applying edits to a file's text (pure), writing all files or none, and diffs.

A write is all or nothing in the ways a program can promise: every target is checked
(a regular file, writable, in a writable folder) before the first is touched; each
file is written to a temporary file in its own folder, flushed and fsynced, given the
old file's mode, then renamed over it (``os.replace`` is atomic on POSIX and Windows),
so a reader sees the old text or the new, never a mix. A failure while writing the
temporary files removes them and leaves every target as it was; only a failure among
the renames themselves (the disk vanishing between two ``rename`` calls) can leave
some files renamed and others not, and that is said in the error.
"""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from pipfresh._bump.model import Edit

__all__ = ["EditConflict", "WriteError", "apply_edits", "unified_diff", "write_atomically"]


class EditConflict(ValueError):
    """Two edits of one text overlap, or an edit lies outside the text."""


class WriteError(OSError):
    """A file could not be written; ``written`` lists the files already replaced."""

    def __init__(self, path: Path, message: str, written: tuple[Path, ...] = ()) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.written = written


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with every edit's span replaced by its text. Edits may come in any
    order; two that overlap (or an empty span inside another) raise EditConflict."""
    ordered = sorted(edits, key=lambda e: (e.span.start, e.span.end))
    pieces: list[str] = []
    pos = 0
    for edit in ordered:
        start, end = edit.span.start, edit.span.end
        if start < pos or end < start or end > len(text):
            raise EditConflict(
                f"{edit.path}: edit of [{start}, {end}) overlaps another or lies outside"
                f" the text ({len(text)} characters)"
            )
        pieces.append(text[pos:start])
        pieces.append(edit.text)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _check_writable(path: Path) -> int:
    """The file's permission bits; raises WriteError when it cannot be replaced."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise WriteError(path, f"cannot write: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise WriteError(path, "not a regular file (a symlink or a folder): not written")
    if not os.access(path, os.W_OK):
        raise WriteError(path, "not writable")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise WriteError(path, f"its folder {path.parent} is not writable")
    return stat.S_IMODE(info.st_mode)


def _write_temp(path: Path, text: str, mode: int) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".pipfresh-tmp", dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_atomically(new_texts: Mapping[Path, str]) -> None:
    """Replace each file's content with its new text, all of them or (for any failure
    found before the renames) none. Raises WriteError naming the file."""
    modes = {path: _check_writable(path) for path in new_texts}
    temps: dict[Path, Path] = {}
    try:
        for path, text in new_texts.items():
            try:
                temps[path] = _write_temp(path, text, modes[path])
            except OSError as exc:
                raise WriteError(path, f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        raise
    done: list[Path] = []
    for path, temp in temps.items():
        try:
            os.replace(temp, path)
        except OSError as exc:
            for left in list(temps.values())[len(done) :]:
                left.unlink(missing_ok=True)
            raise WriteError(path, f"cannot replace: {exc.strerror or exc}", tuple(done)) from None
        done.append(path)
    _fsync_folders({path.parent for path in done})


def _fsync_folders(folders: Iterable[Path]) -> None:
    """Make the renames durable where the platform allows (not on Windows)."""
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def unified_diff(path: Path, old: str, new: str) -> str:
    """A ``diff -u`` of one file's two texts (``a/`` and ``b/`` prefixes, as git),
    empty when they are equal. Line ends are shown as they are in the file."""
    if old == new:
        return ""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path.as_posix()}",
        tofile=f"b/{path.as_posix()}",
    )
    out: list[str] = []
    for line in lines:
        out.append(
            line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n"
        )
    return "".join(out)
