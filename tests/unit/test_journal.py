"""The update journal: its on-disk form, what counts as unusable or untrusted, and cleanup."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipfresh.errors import CorruptJournal
from pipfresh.models import TargetEnv
from pipfresh.upgrade import journal
from pipfresh.upgrade.stash import Kept

DEAD_PID = 2**22 + 1  # above Linux's largest pid_max


def record(**changes: Any) -> journal.Journal:
    values: dict[str, Any] = {
        "prefix": "/envs/demo",
        "python": "/envs/demo/bin/python",
        "started": "2026-11-28T12:02:00+00:00",
        "pid": DEAD_PID,
        "before": {"aaa": "1.0", "bbb": "1.0"},
        "metadata": ("/envs/demo/lib/site-packages/aaa-1.0.dist-info",),
        "kept": (Kept("/envs/demo/lib/site-packages/aaa/__init__.py", "00000/000000"),),
        "clear": ("/envs/demo/lib/site-packages/aaa/new.py",),
        "planned": ("aaa", "ddd"),
        "pipfresh_version": "0.1.0",
        **changes,
    }
    return journal.Journal(**values)


def state(tmp_path: Path) -> Path:
    folder = tmp_path / ".pipfresh-update"
    journal.make_state_folder(folder)
    return folder


def test_written_journal_reads_back_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = state(tmp_path)
    written = record()
    path = journal.write(folder, written)
    assert path == folder / "journal.json"
    assert sorted(p.name for p in folder.iterdir()) == ["journal.json"]
    assert journal.read(folder) == written
    assert json.loads(path.read_text())["format"] == journal.FORMAT
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (folder.stat().st_mode & 0o777) == 0o700


def test_no_journal_is_none(tmp_path: Path) -> None:
    assert journal.read(tmp_path / "absent") is None


def valid() -> dict[str, Any]:
    return record().to_json()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "not a JSON object"),
        ({**valid(), "format": 3}, "written by a newer pipfresh (format 3, this one reads 2)"),
        ({**valid(), "format": 1}, "unknown format 1"),
        ({**valid(), "pid": True}, "'pid' is missing or not a int"),
        ({**valid(), "before": {"aaa": 1}}, "'before' must map names to version strings"),
        ({**valid(), "kept": ["x"]}, "'kept' entries must be [path, slot, copied]"),
        ({**valid(), "kept": [["/envs/demo/a", "/etc/x", False]]}, "is outside stash/"),
        ({**valid(), "kept": [["/envs/demo/a", "../../x", False]]}, "is outside stash/"),
        ({**valid(), "kept": [["relative/a", "1", False]]}, "is not absolute and normal"),
        ({**valid(), "kept": [["/envs/demo/../etc/a", "1", False]]}, "not absolute and normal"),
        ({**valid(), "kept": [["/etc/passwd", "1", False]]}, "/etc/passwd is outside"),
        ({**valid(), "clear": ["/etc/passwd"]}, "/etc/passwd is outside the environment"),
        ({**valid(), "planned": [1]}, "'planned' must list strings"),
        ({k: v for k, v in valid().items() if k != "started"}, "'started' is missing"),
    ],
)
def test_unusable_journals_name_the_problem(document: object, reason: str) -> None:
    with pytest.raises(CorruptJournal) as caught:
        journal.parse("/envs/demo/x/journal.json", document, roots=("/envs/demo",))
    assert reason in caught.value.reason
    assert str(caught.value).startswith("/envs/demo/x/journal.json: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe\x00", b"null"])
def test_undecodable_journal_is_corrupt(tmp_path: Path, body: bytes) -> None:
    folder = state(tmp_path)
    (folder / "journal.json").write_bytes(body)
    os.chmod(folder / "journal.json", 0o600)
    with pytest.raises(CorruptJournal):
        journal.read(folder)


def test_a_journal_writable_by_others_is_refused(tmp_path: Path) -> None:
    folder = state(tmp_path)
    path = journal.write(folder, record())
    os.chmod(path, 0o666)
    with pytest.raises(CorruptJournal, match="writable by other users"):
        journal.read(folder)


def test_a_journal_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file away")
    folder = state(tmp_path)
    path = journal.write(folder, record())
    os.chown(path, 12345, 12345)
    with pytest.raises(CorruptJournal, match="owned by user 12345, not by you"):
        journal.read(folder)


def test_a_symlinked_journal_is_refused(tmp_path: Path) -> None:
    folder = state(tmp_path)
    elsewhere = tmp_path / "planted.json"
    elsewhere.write_text(json.dumps(valid()))
    (folder / "journal.json").symlink_to(elsewhere)
    with pytest.raises(CorruptJournal):
        journal.read(folder)


def test_a_fifo_as_journal_does_not_hang(tmp_path: Path) -> None:
    folder = state(tmp_path)
    os.mkfifo(folder / "journal.json", 0o600)
    with pytest.raises(CorruptJournal, match="not a regular file"):
        journal.read(folder)


def test_a_state_folder_writable_by_others_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / ".pipfresh-update"
    folder.mkdir()
    os.chmod(folder, 0o777)
    with pytest.raises(CorruptJournal, match="writable by other users"):
        journal.make_state_folder(folder)


def test_remove_takes_the_journal_and_the_stash(tmp_path: Path) -> None:
    folder = state(tmp_path)
    journal.write(folder, record())
    (folder / "stash" / "00000").mkdir(parents=True)
    (folder / "stash" / "00000" / "000000").write_bytes(b"kept")
    journal.remove(folder)
    assert sorted(p.name for p in folder.iterdir()) == []
    journal.remove(folder)  # twice is fine


def target_in(tmp_path: Path) -> TargetEnv:
    site = tmp_path / "env" / "lib" / "site-packages"
    site.mkdir(parents=True)
    return TargetEnv(
        python=str(tmp_path / "env" / "bin" / "python"),
        python_version="3.11.7",
        implementation="cpython",
        prefix=str(tmp_path / "env"),
        sys_path=(str(site),),
        markers={},
        tags=(),
        paths={"purelib": str(site)},
    )


def test_pending_warning_only_for_a_dead_writer(tmp_path: Path) -> None:
    target = target_in(tmp_path)
    folder = journal.state_folder(target)
    assert folder.parent == Path(target.sys_path[0])
    assert journal.pending_warning(target) is None
    journal.make_state_folder(folder)
    journal.write(folder, record(pid=os.getpid()))  # a running update's
    assert journal.pending_warning(target) is None
    journal.write(folder, record(pid=1))  # init never runs an update
    warning = journal.pending_warning(target)
    assert warning is not None
    assert warning.endswith("half-updated; 'pipfresh update' will restore it")
    (folder / "journal.json").write_text("{")
    warning = journal.pending_warning(target)
    assert warning is not None
    assert "cannot be used" in warning


def test_started_is_shown_in_local_time_to_the_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert record().started_local == "2026-11-28 12:02"
        assert record(started="garbled").started_local == "garbled"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_remove_in_background_leaves_no_stash_and_the_next_run_clears_leftovers(
    tmp_path: Path,
) -> None:
    folder = state(tmp_path)
    journal.write(folder, record())
    (folder / "stash" / "00000").mkdir(parents=True)
    (folder / "stash" / "00000" / "000000").write_bytes(b"kept")
    journal.remove(folder, in_background=True)
    # The journal and the stash are gone at once; a trash folder may still be there
    # while the detached deleter works.
    assert not journal.journal_path(folder).exists()
    assert not (folder / "stash").exists()
    assert all(p.name.startswith(journal.TRASH_PREFIX) for p in folder.iterdir())
    # A deleter killed halfway leaves its trash: the next run takes it.
    left = folder / f"{journal.TRASH_PREFIX}1-deadbeef" / "00000"
    left.mkdir(parents=True)
    (left / "000000").write_bytes(b"kept")
    journal.remove_leftovers(folder)
    assert not any(p.name == f"{journal.TRASH_PREFIX}1-deadbeef" for p in folder.iterdir())
