"""bump.write: edits applied to text, all-or-nothing writes, diffs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pipfresh._bump import write
from pipfresh._bump.model import Edit, Span
from pipfresh._bump.write import (
    EditConflict,
    WriteError,
    apply_edits,
    unified_diff,
    write_atomically,
)

P = Path("requirements.txt")


def edit(start: int, end: int, text: str) -> Edit:
    return Edit(P, Span(start, end), text)


def test_edits_apply_in_any_order_and_keep_every_other_character() -> None:
    text = "a==1.0\r\nb>=2 # c\r\n"
    edits = [edit(11, 12, "3"), edit(3, 6, "1.5.2")]
    assert apply_edits(text, edits) == "a==1.5.2\r\nb>=3 # c\r\n"
    assert apply_edits(text, reversed(edits)) == "a==1.5.2\r\nb>=3 # c\r\n"
    assert apply_edits(text, []) == text
    assert apply_edits("ab", [edit(0, 1, "x"), edit(1, 2, "y")]) == "xy"  # adjacent


@pytest.mark.parametrize(
    "edits",
    [
        [edit(0, 3, "x"), edit(2, 4, "y")],
        [edit(0, 4, "x"), edit(1, 2, "y")],
        [edit(5, 20, "x")],
        [edit(3, 2, "x")],
    ],
)
def test_overlapping_or_outside_edits_are_an_error(edits: list[Edit]) -> None:
    with pytest.raises(EditConflict):
        apply_edits("0123456789", edits)


def test_write_replaces_every_file_keeping_mode_and_bytes(tmp_path: Path) -> None:
    one, two = tmp_path / "a.txt", tmp_path / "sub" / "b.toml"
    two.parent.mkdir()
    one.write_bytes(b"x==1\r\n")
    two.write_bytes(b"old")
    one.chmod(0o640)
    write_atomically({one: "x==2\r\ny\r\n", two: "caf\u00e9\n"})
    assert one.read_bytes() == b"x==2\r\ny\r\n"  # no newline translation
    assert two.read_bytes() == "caf\u00e9\n".encode()
    assert stat.S_IMODE(one.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.toml", "sub"]


@pytest.mark.parametrize("bad", ["missing", "symlink", "folder"])
def test_a_target_that_cannot_be_written_stops_every_write(tmp_path: Path, bad: str) -> None:
    good = tmp_path / "requirements.txt"
    good.write_text("a==1\n")
    target = tmp_path / "other.txt"
    if bad == "symlink":
        (tmp_path / "real.txt").write_text("b==1\n")
        target.symlink_to(tmp_path / "real.txt")
    elif bad == "folder":
        target.mkdir()
    with pytest.raises(WriteError) as caught:
        write_atomically({good: "a==2\n", target: "b==2\n"})
    assert caught.value.path == target
    assert good.read_text() == "a==1\n"
    assert not list(tmp_path.glob("*.pipfresh-tmp"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only file")
def test_a_read_only_file_stops_every_write(tmp_path: Path) -> None:
    good, locked = tmp_path / "a.txt", tmp_path / "b.txt"
    good.write_text("a==1\n")
    locked.write_text("b==1\n")
    locked.chmod(0o444)
    with pytest.raises(WriteError, match="not writable"):
        write_atomically({good: "a==2\n", locked: "b==2\n"})
    assert good.read_text() == "a==1\n"


def test_a_failure_while_writing_leaves_every_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the disk filling up on the second temporary file: an injected ENOSPC from fsync
    one, two = tmp_path / "a.txt", tmp_path / "b.txt"
    one.write_text("a==1\n")
    two.write_text("b==1\n")
    calls = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(write.os, "fsync", fsync)
    with pytest.raises(WriteError, match="No space left on device") as caught:
        write_atomically({one: "a==2\n", two: "b==2\n"})
    assert caught.value.written == ()
    assert (one.read_text(), two.read_text()) == ("a==1\n", "b==1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_unified_diff_shows_only_the_changed_lines() -> None:
    old = "# c\na==1.0\nb\n"
    new = "# c\na==2.0\nb\n"
    assert unified_diff(Path("req/requirements.txt"), old, new) == (
        "--- a/req/requirements.txt\n"
        "+++ b/req/requirements.txt\n"
        "@@ -1,3 +1,3 @@\n"
        " # c\n"
        "-a==1.0\n"
        "+a==2.0\n"
        " b\n"
    )
    assert unified_diff(P, old, old) == ""
    assert unified_diff(P, "a==1", "a==2").endswith(
        "-a==1\n\\ No newline at end of file\n+a==2\n\\ No newline at end of file\n"
    )
