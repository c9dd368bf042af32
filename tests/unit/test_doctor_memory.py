"""The memory of upgrades that broke the tests: a file in the environment's state folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pipfresh.doctor import memory
from pipfresh.doctor.memory import Broken


def folder_in(tmp_path: Path) -> Path:
    return tmp_path / ".pipfresh-update"


def test_remembered_entries_come_back_and_the_file_is_private(tmp_path: Path) -> None:
    folder = folder_in(tmp_path)
    entry = Broken("Alpha", "2.0", "1.0", "2026-12-07", "AssertionError: boom")
    memory.remember(folder, [entry])
    assert memory.load(folder) == {"alpha": entry}
    assert stat.S_IMODE(os.stat(memory.memory_path(folder)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def test_cleared_projects_are_forgotten_and_others_kept(tmp_path: Path) -> None:
    folder = folder_in(tmp_path)
    memory.remember(
        folder,
        [Broken("alpha", "2.0", "1.0", "2026-12-07"), Broken("beta", "3.0", "2.0", "2026-12-07")],
    )
    memory.remember(folder, [Broken("gamma", "1.1", "1.0", "2026-12-08")], cleared=["Alpha"])
    assert sorted(memory.load(folder)) == ["beta", "gamma"]


def test_a_file_others_may_write_is_not_trusted(tmp_path: Path) -> None:
    folder = folder_in(tmp_path)
    memory.remember(folder, [Broken("alpha", "2.0", "1.0", "2026-12-07")])
    os.chmod(memory.memory_path(folder), 0o666)
    assert memory.load(folder) == {}


def test_unreadable_or_foreign_content_is_empty(tmp_path: Path) -> None:
    folder = folder_in(tmp_path)
    folder.mkdir(mode=0o700)
    path = memory.memory_path(folder)
    for text in ("not json", "[]", '{"format": 99, "broken": {}}', '{"format": 1, "broken": 3}'):
        path.write_text(text)
        os.chmod(path, 0o600)
        assert memory.load(folder) == {}, text
    assert memory.load(tmp_path / "missing") == {}


def test_only_the_same_version_is_skipped() -> None:
    broken = {"alpha": Broken("alpha", "2.0", "1.0", "2026-12-07")}
    assert memory.skipped(broken, {"alpha": "2.0", "beta": "1.0"}) == [broken["alpha"]]
    assert memory.skipped(broken, {"alpha": "2.1"}) == []
