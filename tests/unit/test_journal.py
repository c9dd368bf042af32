"""The update journal: its on-disk form, what counts as unusable, and cleanup."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipfresh import journal
from pipfresh.errors import CorruptJournal

DEAD_PID = 2**22 + 1  # above Linux's largest pid_max


def record(**changes: Any) -> journal.Journal:
    values: dict[str, Any] = {
        "prefix": "/envs/demo",
        "python": "/envs/demo/bin/python",
        "started": "2026-11-28T12:02:00+00:00",
        "pid": DEAD_PID,
        "before": {"aaa": "1.0", "bbb": "1.0"},
        "restore": (journal.RestoreWheel("restore/aaa-1.0-py3-none-any.whl", "ab" * 32),),
        "added": ("ddd",),
        "pipfresh_version": "0.1.0",
        **changes,
    }
    return journal.Journal(**values)


def with_wheels(folder: Path, written: journal.Journal) -> journal.Journal:
    for wheel in written.restore:
        (folder / wheel.file).parent.mkdir(parents=True, exist_ok=True)
        (folder / wheel.file).write_bytes(b"wheel")
    return written


def test_written_journal_reads_back_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    written = with_wheels(tmp_path, record())
    path = journal.write(tmp_path, written)
    assert path == tmp_path / "journal.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.json", "restore"]
    assert journal.read(tmp_path) == written
    assert json.loads(path.read_text())["format"] == journal.FORMAT


def test_no_journal_is_none(tmp_path: Path) -> None:
    assert journal.read(tmp_path / "absent") is None


def test_a_journal_is_never_written_for_a_missing_wheel(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        journal.write(tmp_path, record())
    assert list(tmp_path.iterdir()) == []


def valid() -> dict[str, Any]:
    return record().to_json()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "not a JSON object"),
        ({**valid(), "format": 2}, "written by a newer pipfresh (format 2, this one reads 1)"),
        ({**valid(), "format": "1"}, "unknown format '1'"),
        ({**valid(), "pid": True}, "'pid' is missing or not a int"),
        ({**valid(), "before": {"aaa": 1}}, "'before' must map names to version strings"),
        ({**valid(), "restore": ["x"]}, "'restore' entries must be objects"),
        ({**valid(), "restore": [{"file": "restore/a.whl"}]}, "need 'file' and 'sha256'"),
        ({**valid(), "restore": [{"file": "/etc/a.whl", "sha256": ""}]}, "is outside restore/"),
        ({**valid(), "restore": [{"file": "new/a.whl", "sha256": ""}]}, "is outside restore/"),
        (
            {**valid(), "restore": [{"file": "restore/../../a.whl", "sha256": ""}]},
            "is outside restore/",
        ),
        ({**valid(), "added": [1]}, "'added' must list names"),
        ({k: v for k, v in valid().items() if k != "started"}, "'started' is missing"),
    ],
)
def test_unusable_journals_name_the_problem(document: object, reason: str) -> None:
    with pytest.raises(CorruptJournal) as caught:
        journal.parse("/cache/updates/x/journal.json", document)
    assert reason in caught.value.reason
    assert str(caught.value).startswith("/cache/updates/x/journal.json: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe\x00", b"null"])
def test_undecodable_journal_is_corrupt(tmp_path: Path, body: bytes) -> None:
    (tmp_path / "journal.json").write_bytes(body)
    with pytest.raises(CorruptJournal):
        journal.read(tmp_path)


def test_remove_takes_the_journal_and_the_wheels(tmp_path: Path) -> None:
    folder = tmp_path / "updates" / "abc"
    journal.write(folder, with_wheels(folder, record()))
    journal.remove(folder)
    assert not folder.exists()
    journal.remove(folder)  # twice is fine


def test_update_folder_shares_the_lock_digest(tmp_path: Path) -> None:
    folder = journal.update_folder(tmp_path, str(tmp_path / "env" / ".." / "env"))
    assert folder == tmp_path / "updates" / journal.prefix_digest(str(tmp_path / "env"))


def test_pending_warning_only_for_a_dead_writer(tmp_path: Path) -> None:
    prefix = "/envs/demo"
    folder = journal.update_folder(tmp_path, prefix)
    assert journal.pending_warning(tmp_path, prefix) is None
    journal.write(folder, with_wheels(folder, record(pid=os.getpid())))  # a running update's
    assert journal.pending_warning(tmp_path, prefix) is None
    journal.write(folder, record())
    warning = journal.pending_warning(tmp_path, prefix)
    assert warning is not None
    assert warning.endswith("left /envs/demo half-updated; 'pipfresh update' will restore it")
    (folder / "journal.json").write_text("{")
    warning = journal.pending_warning(tmp_path, prefix)
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
