"""The cache folder is trusted only when it is the current user's and no one else can
write to it; nothing in it is followed through a symlink or read from a FIFO, and
``cache clear`` removes links, never what they point to."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from pipfresh.cache import ENTRY_SUFFIX, PAGES_DIR, STATS_FILE, Cache, UnsafeCache, index_key
from pipfresh.models import IndexFile, ProjectPage

INDEX = "https://pypi.example/simple/"
T0 = 1_700_000_000.0
OTHER_UID = 54321  # no such user: "someone else"
as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another uid needs root"
)


def page(version: str = "1.0") -> ProjectPage:
    filename = f"demo-{version}-py3-none-any.whl"
    return ProjectPage("demo", (IndexFile(filename, f"https://files.example/{filename}"),))


def stored(root: Path, version: str = "1.0") -> Path:
    """A valid entry for demo written by a cache at ``root``; its path."""
    cache = Cache(root)
    assert cache.store(INDEX, "demo", page(version), fetched_at=T0)
    return entry_path(root)


def entry_path(root: Path) -> Path:
    return root / PAGES_DIR / index_key(INDEX) / f"demo{ENTRY_SUFFIX}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_new_cache_folders_are_0700_and_entries_0600(tmp_path: Path) -> None:
    root = tmp_path / "made" / "cache"
    entry = stored(root)
    assert mode(root) == 0o700
    assert mode(root / PAGES_DIR) == 0o700
    assert mode(entry.parent) == 0o700
    assert mode(entry) == 0o600
    assert Cache(root).record_stats({"demo": (1, 0.5)})
    assert mode(root / STATS_FILE) == 0o600


def test_a_symlinked_cache_folder_of_ours_is_used(tmp_path: Path) -> None:
    real = tmp_path / "real"
    stored(real)
    (tmp_path / "link").symlink_to(real)
    cache = Cache(tmp_path / "link")
    assert cache.refused is None
    entry = cache.lookup(INDEX, "demo", now=T0)
    assert entry is not None
    assert entry.page() == page()


@pytest.mark.parametrize(
    ("bits", "reason"),
    [
        pytest.param(0o777, "writable by others (mode 777)", id="world-writable"),
        pytest.param(0o702, "writable by others (mode 702)", id="others-writable"),
    ],
)
def test_a_cache_others_may_write_is_refused(tmp_path: Path, bits: int, reason: str) -> None:
    root = tmp_path / "cache"
    stored(root)
    os.chmod(root, bits)
    cache = Cache(root)
    assert cache.refused == f"not using the cache {root}: {reason}"
    assert cache.lookup(INDEX, "demo", now=T0) is None  # the (maybe planted) entry is not read
    assert not cache.store(INDEX, "demo", page("2.0"), fetched_at=T0)
    assert cache.priorities(["demo"]) == {"demo": 0.0}
    with pytest.raises(UnsafeCache, match=r"^cache clear: not using the cache .*nothing was"):
        cache.clear()
    assert entry_path(root).exists()


@as_root
def test_a_cache_owned_by_someone_else_is_refused_and_never_read(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    stored(root)
    os.chown(root, OTHER_UID, -1)
    cache = Cache(root)
    assert (
        cache.refused == f"not using the cache {root}: owned by uid {OTHER_UID}, not by you (uid 0)"
    )
    assert cache.lookup(INDEX, "demo", now=T0) is None
    assert not cache.store(INDEX, "demo", page("2.0"), fetched_at=T0)
    with pytest.raises(UnsafeCache):
        cache.clear()


@as_root
def test_a_group_writable_cache_is_used_only_when_the_group_is_the_users_own(
    tmp_path: Path,
) -> None:
    root = tmp_path / "cache"
    stored(root)
    os.chmod(root, 0o770)
    assert Cache(root).refused is None  # umask 002 with a group of one's own
    os.chown(root, -1, OTHER_UID)
    assert Cache(root).refused == f"not using the cache {root}: writable by its group (mode 770)"


@as_root
def test_a_poisoned_entry_owned_by_someone_else_is_never_read(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    entry = stored(root)
    os.chown(entry, OTHER_UID, -1)
    cache = Cache(root)
    assert cache.refused is None
    assert cache.lookup(INDEX, "demo", now=T0) is None


def test_an_entry_others_may_write_is_never_read(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    entry = stored(root)
    os.chmod(entry, 0o666)
    assert Cache(root).lookup(INDEX, "demo", now=T0) is None


def test_an_index_folder_others_may_write_is_never_read(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    entry = stored(root)
    os.chmod(entry.parent, 0o777)
    cache = Cache(root)
    assert cache.lookup(INDEX, "demo", now=T0) is None
    assert not cache.store(INDEX, "demo", page("2.0"), fetched_at=T0)


def test_fifos_where_files_are_expected_do_not_hang(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    entry = stored(root)
    for path in (entry, entry.parent / "index-url"):
        path.unlink()
        os.mkfifo(path)
    os.mkfifo(root / STATS_FILE)
    results: list[object] = []

    def use() -> None:
        cache = Cache(root)
        results.append(cache.lookup(INDEX, "demo", now=T0))
        results.append(cache.priorities(["demo"]))
        results.append(cache.written_within(3600, now=T0))
        results.append(cache.info().entries)
        results.append(cache.clear())

    # In a thread, so that a hang fails this test instead of stopping the suite.
    worker = threading.Thread(target=use, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "the cache blocked on a FIFO"
    assert results == [None, {"demo": 0.0}, False, 0, 0]


def test_a_symlinked_entry_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    elsewhere = stored(tmp_path / "elsewhere")
    entry = stored(root)
    entry.unlink()
    entry.symlink_to(elsewhere)
    cache = Cache(root)
    assert cache.lookup(INDEX, "demo", now=T0) is None
    cache.clear()
    assert not os.path.lexists(entry)
    assert elsewhere.exists()  # the link went, not its target


@pytest.mark.parametrize("level", ["index-folder", "pages-folder"])
def test_cache_clear_removes_symlinked_folders_not_their_contents(
    tmp_path: Path, level: str
) -> None:
    root = tmp_path / "cache"
    victim = tmp_path / "victim"
    victim_entry = stored(victim)
    entry = stored(root)
    if level == "index-folder":
        link, target = entry.parent, victim_entry.parent
    else:
        link, target = root / PAGES_DIR, victim / PAGES_DIR
    for path in sorted(link.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    link.rmdir()
    link.symlink_to(target, target_is_directory=True)
    cache = Cache(root)
    assert cache.lookup(INDEX, "demo", now=T0) is None  # not read through the link
    assert cache.info().entries == 0
    cache.clear()
    assert not os.path.lexists(link)
    assert victim_entry.exists()
    assert (victim_entry.parent / "index-url").exists()


def test_cache_clear_of_a_safe_cache_still_works(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    entry = stored(root)
    Cache(root).record_stats({"demo": (1, 0.5)})
    assert Cache(root).clear() == 1
    assert not entry.exists()
    assert not (root / STATS_FILE).exists()
