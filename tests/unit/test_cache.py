"""The disk cache: freshness, validators, refresh, damage, unwritable folders, credentials."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from pipfresh.cache import (
    ENTRY_SUFFIX,
    MAGIC,
    PAGES_DIR,
    STATS_FILE,
    Cache,
    CacheControl,
    CacheCorrupt,
    default_cache_dir,
    index_key,
    parse_cache_control,
)
from pipfresh.models import IndexFile, ProjectPage

INDEX = "https://pypi.example/simple/"
T0 = 1_700_000_000.0
SHA = "ab" * 32


def wheel(name: str, version: str, **kw: object) -> IndexFile:
    filename = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    return IndexFile.build(
        filename,
        f"https://files.example/{filename}",
        hashes={"sha256": SHA},
        upload_time="2024-01-02T03:04:05Z",
        core_metadata={"sha256": SHA},
        **kw,  # type: ignore[arg-type]
    )


def sdist(name: str, version: str) -> IndexFile:
    filename = f"{name}-{version}.tar.gz"
    return IndexFile(filename, f"https://files.example/{filename}", requires_python=">=3.8")


def make_page(
    name: str = "demo", versions: tuple[str, ...] = ("1.0", "1.1", "2.0rc1")
) -> ProjectPage:
    files: list[IndexFile] = []
    for v in versions:
        files += [wheel(name, v), sdist(name, v)]
    return ProjectPage(name, tuple(files), versions)


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


def entry_path(cache: Cache, project: str = "demo", index: str = INDEX) -> Path:
    return cache.root / PAGES_DIR / index_key(index) / f"{project}{ENTRY_SUFFIX}"


# --------------------------------------------------------------------------- Cache-Control

CACHE_CONTROL = [
    (None, CacheControl()),
    ("", CacheControl()),
    ("max-age=600", CacheControl(max_age=600)),
    ("public, max-age=600", CacheControl(max_age=600)),
    ("MAX-AGE = 60 ", CacheControl(max_age=60)),
    ('max-age="30"', CacheControl(max_age=30)),
    ("max-age=0", CacheControl(max_age=0)),
    ("max-age=-5", CacheControl(max_age=0)),  # invalid: stale at once
    ("max-age=ten", CacheControl(max_age=0)),
    ("max-age=10, max-age=20", CacheControl(max_age=0)),  # conflicting
    ("max-age=10, max-age=10", CacheControl(max_age=10)),
    ("no-cache", CacheControl(no_cache=True)),
    ('no-cache="Set-Cookie", max-age=60', CacheControl(max_age=60, no_cache=True)),
    ("No-Store", CacheControl(no_store=True)),
    ("private, s-maxage=9, must-revalidate, immutable", CacheControl()),
]


@pytest.mark.parametrize(("header", "expected"), CACHE_CONTROL)
def test_parse_cache_control(header: str | None, expected: CacheControl) -> None:
    assert parse_cache_control(header) == expected


# --------------------------------------------------------------------------- freshness

FRESHNESS = [
    # (Cache-Control, Age header, our max_age, seconds since fetch, fresh?)
    (None, 0, 600, 0, True),
    (None, 0, 600, 599.9, True),
    (None, 0, 600, 600, False),
    (None, 0, 86400, 3600, True),
    (None, 0, 0, 0, False),
    ("max-age=60", 0, 600, 59, True),  # the server's max-age wins over ours...
    ("max-age=60", 0, 600, 61, False),
    ("max-age=3600", 0, 600, 1800, True),  # ...both ways
    ("max-age=60", 50, 600, 9, True),  # Age: the response was already 50 s old
    ("max-age=60", 50, 600, 11, False),
    ("max-age=60", 120, 600, 0, False),
    ("max-age=0", 0, 600, 0, False),
    ("no-cache", 0, 600, 0, False),
    ("no-cache, max-age=600", 0, 600, 1, False),
    (None, 0, 600, -5, False),  # fetched "in the future": the clock moved back
]


@pytest.mark.parametrize("case", FRESHNESS)
def test_freshness(tmp_path: Path, case: tuple[str | None, float, float, float, bool]) -> None:
    control, age, max_age, elapsed, fresh = case
    cache = Cache(tmp_path, max_age=max_age)
    assert cache.store(INDEX, "demo", make_page(), fetched_at=T0, cache_control=control, age=age)
    entry = cache.lookup(INDEX, "demo", now=T0 + elapsed)
    assert entry is not None
    assert entry.fresh is fresh
    assert entry.fetched_at == pytest.approx(T0)


def test_no_store_is_not_stored(cache: Cache) -> None:
    assert not cache.store(INDEX, "demo", make_page(), fetched_at=T0, cache_control="no-store")
    assert cache.lookup(INDEX, "demo", now=T0) is None
    assert not cache.write_failed


def test_no_store_replacing_an_entry_leaves_the_old_one_to_expire(cache: Cache) -> None:
    cache.store(INDEX, "demo", make_page(), fetched_at=T0)
    cache.store(
        INDEX, "demo", make_page(versions=("9.0",)), fetched_at=T0, cache_control="no-store"
    )
    entry = cache.lookup(INDEX, "demo", now=T0)
    assert entry is not None
    assert entry.versions == ("1.0", "1.1", "2.0rc1")


def test_no_cache_entry_is_kept_for_revalidation(cache: Cache) -> None:
    cache.store(INDEX, "demo", make_page(), fetched_at=T0, etag='"v1"', cache_control="no-cache")
    entry = cache.lookup(INDEX, "demo", now=T0)
    assert entry is not None
    assert not entry.fresh
    assert entry.etag == '"v1"'


# --------------------------------------------------------------------------- round trip


def test_round_trip(cache: Cache) -> None:
    page = make_page()
    assert cache.store(
        INDEX,
        "demo",
        page,
        fetched_at=T0,
        etag='W/"abc"',
        last_modified="Tue, 02 Jan 2024 03:04:05 GMT",
        url="https://pypi.example/simple/demo/",
    )
    entry = cache.lookup(INDEX, "demo", now=T0 + 1)
    assert entry is not None
    assert entry.fresh
    assert entry.etag == 'W/"abc"'
    assert entry.last_modified == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert entry.url == "https://pypi.example/simple/demo/"
    assert entry.project == "demo"
    assert entry.versions == page.versions
    assert entry.page() == page  # files were already grouped by release
    assert entry.releases() == ("1.0", "1.1", "2.0rc1")
    assert entry.files("1.1") == (wheel("demo", "1.1"), sdist("demo", "1.1"))
    assert entry.files("3.0") == ()


def test_an_index_that_does_not_know_the_project_is_remembered(cache: Cache) -> None:
    assert cache.store_missing(INDEX, "Nowhere_Pkg", fetched_at=T0)
    entry = cache.lookup(INDEX, "nowhere-pkg", now=T0 + 1)
    assert entry is not None
    assert entry.missing
    assert entry.fresh
    assert entry.etag is None
    assert entry.last_modified is None
    assert entry.page().files == ()
    stale = cache.lookup(INDEX, "nowhere-pkg", now=T0 + 3600)
    assert stale is not None
    assert stale.missing
    assert not stale.fresh
    # A page stored later replaces it.
    assert cache.store(INDEX, "nowhere-pkg", make_page(), fetched_at=T0 + 2)
    again = cache.lookup(INDEX, "nowhere-pkg", now=T0 + 3)
    assert again is not None
    assert not again.missing
    assert again.page().files


def test_an_entry_written_before_the_missing_flag_still_reads(cache: Cache) -> None:
    assert cache.store(INDEX, "demo", make_page(), fetched_at=T0)
    path = entry_path(cache)
    data = path.read_bytes()
    length = _header_length(data)
    start = len(MAGIC) + 4
    fields = msgspec.msgpack.decode(data[start : start + length])
    old = msgspec.msgpack.encode(fields[:-1])  # as entries were written before it
    path.write_bytes(MAGIC + len(old).to_bytes(4, "little") + old + data[start + length :])
    entry = cache.lookup(INDEX, "demo", now=T0 + 1)
    assert entry is not None
    assert not entry.missing
    assert entry.page() == make_page()


def test_round_trip_keeps_every_field_and_unversioned_files(cache: Cache) -> None:
    odd = IndexFile.build(
        "other-1.0.tar.gz",
        "https://files.example/other-1.0.tar.gz",
        yanked="broken",
        size=123,
        dist_info_metadata=True,
    )
    files = (
        wheel("demo", "1.0", yanked=True, size=5, requires_python="<4"),
        odd,
        sdist("demo", "1.0"),
    )
    page = ProjectPage("demo", files, None)
    cache.store(INDEX, "Demo", page, fetched_at=T0)
    entry = cache.lookup(INDEX, "DEMO", now=T0)
    assert entry is not None
    assert entry.versions is None
    assert entry.releases() == ("1.0", "")
    assert entry.files("") == (odd,)
    assert sorted(entry.page().files, key=lambda f: f.filename) == sorted(
        files, key=lambda f: f.filename
    )


@pytest.mark.parametrize("spelling", ["Demo_Pkg", "demo.pkg", "DEMO--pkg", "demo-pkg"])
def test_project_names_are_canonical(cache: Cache, spelling: str) -> None:
    cache.store(INDEX, "demo-pkg", make_page("demo-pkg"), fetched_at=T0)
    assert cache.lookup(INDEX, spelling, now=T0) is not None


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "a/b", "-", ".", "naïve"])
def test_unsafe_names_are_neither_stored_nor_read(cache: Cache, bad: str) -> None:
    assert not cache.store(INDEX, bad, make_page(), fetched_at=T0)
    assert cache.lookup(INDEX, bad, now=T0) is None
    assert not cache.root.exists()


def test_newer_store_replaces(cache: Cache) -> None:
    cache.store(INDEX, "demo", make_page(), fetched_at=T0, etag="a")
    cache.store(INDEX, "demo", make_page(versions=("3.0",)), fetched_at=T0 + 10, etag="b")
    entry = cache.lookup(INDEX, "demo", now=T0 + 10)
    assert entry is not None
    assert (entry.etag, entry.versions, entry.fetched_at) == ("b", ("3.0",), T0 + 10)
    # no temporary files left behind
    assert sorted(p.name for p in entry_path(cache).parent.iterdir()) == ["demo.entry", "index-url"]


def big_page(name: str = "big", releases: int = 4000) -> ProjectPage:
    """A page whose header alone is larger than the first read of an entry."""
    versions = tuple(f"{i}.{j}" for i in range(releases // 100) for j in range(100))
    return make_page(name, versions)


def test_large_entry_is_read_lazily_from_the_file_it_was_opened_as(cache: Cache) -> None:
    page = big_page()
    cache.store(INDEX, "big", page, fetched_at=T0, etag="old")
    with cache.lookup(INDEX, "big", now=T0) as entry:  # type: ignore[union-attr]
        assert entry.etag == "old"
        assert len(entry.releases()) == 4000
        # another process replaces the entry meanwhile: this one still reads the old file
        assert cache.store(INDEX, "big", make_page("big"), fetched_at=T0, etag="new")
        assert entry.files("39.99") == (wheel("big", "39.99"), sdist("big", "39.99"))
        assert entry.page() == page
    with pytest.raises(CacheCorrupt, match="closed"):
        entry.files("0.0")
    entry.close()  # twice is fine
    newer = cache.lookup(INDEX, "big", now=T0)
    assert newer is not None
    assert newer.etag == "new"
    assert newer.page() == make_page("big")


def test_entries_do_not_leak_file_descriptors(cache: Cache) -> None:
    cache.store(INDEX, "big", big_page(releases=500), fetched_at=T0)
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(50):
        entry = cache.lookup(INDEX, "big", now=T0)
        assert entry is not None
        assert entry.files("1.1")
        del entry
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before


# --------------------------------------------------------------------------- 304 refresh


def test_refresh_marks_fresh_without_rewriting(cache: Cache) -> None:
    cache.store(INDEX, "demo", make_page(), fetched_at=T0, etag='"v1"')
    path = entry_path(cache)
    before = path.read_bytes(), path.stat().st_ino
    stale = cache.lookup(INDEX, "demo", now=T0 + 700)
    assert stale is not None
    assert not stale.fresh
    assert cache.refresh(INDEX, "demo", now=T0 + 700)
    entry = cache.lookup(INDEX, "demo", now=T0 + 701)
    assert entry is not None
    assert entry.fresh
    assert entry.fetched_at == pytest.approx(T0 + 700)
    assert entry.etag == '"v1"'
    assert (path.read_bytes(), path.stat().st_ino) == before


def test_refresh_with_new_cache_control_rewrites_the_header(cache: Cache) -> None:
    cache.store(INDEX, "demo", make_page(), fetched_at=T0, cache_control="max-age=60")
    assert cache.refresh(INDEX, "demo", now=T0 + 100, cache_control="max-age=3600")
    entry = cache.lookup(INDEX, "demo", now=T0 + 2000)
    assert entry is not None
    assert entry.fresh
    assert entry.page() == make_page()


def test_refresh_of_a_large_entry_with_new_cache_control(cache: Cache) -> None:
    cache.store(INDEX, "big", big_page(), fetched_at=T0, cache_control="no-cache")
    assert cache.refresh(INDEX, "big", now=T0 + 1, cache_control="max-age=60")
    entry = cache.lookup(INDEX, "big", now=T0 + 2)
    assert entry is not None
    assert entry.fresh
    assert entry.page() == big_page()


def test_refresh_with_same_cache_control_only_touches(cache: Cache) -> None:
    cache.store(INDEX, "demo", make_page(), fetched_at=T0, cache_control="max-age=60")
    inode = entry_path(cache).stat().st_ino
    assert cache.refresh(INDEX, "demo", now=T0 + 100, cache_control="max-age=60")
    assert entry_path(cache).stat().st_ino == inode


def test_refresh_with_no_store_drops_the_entry(cache: Cache) -> None:
    cache.store(INDEX, "demo", make_page(), fetched_at=T0)
    assert not cache.refresh(INDEX, "demo", now=T0 + 1, cache_control="no-store")
    assert cache.lookup(INDEX, "demo", now=T0 + 1) is None


def test_refresh_of_a_missing_entry(cache: Cache) -> None:
    assert not cache.refresh(INDEX, "demo", now=T0)
    assert not cache.refresh(INDEX, "demo", now=T0, cache_control="max-age=5")
    assert not cache.write_failed


# --------------------------------------------------------------------------- damage


def _valid_bytes(tmp_path: Path) -> bytes:
    cache = Cache(tmp_path / "model")
    cache.store(INDEX, "demo", make_page(), fetched_at=T0)
    return entry_path(cache).read_bytes()


def _header_length(data: bytes) -> int:
    return int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")


DAMAGE = {
    "empty": lambda b: b"",
    "garbage": lambda b: os.urandom(300),
    "json": lambda b: b'{"files": []}',
    "magic only": lambda b: MAGIC,
    "cut in the length": lambda b: b[: len(MAGIC) + 2],
    "cut in the header": lambda b: b[: len(MAGIC) + 4 + _header_length(b) // 2],
    "cut after the header": lambda b: b[: len(MAGIC) + 4 + _header_length(b)],
    "cut in the last blob": lambda b: b[:-1],
    "bytes appended": lambda b: b + b"\0",
    "older format": lambda b: b"pfcache0" + b[len(MAGIC) :],
    "newer format": lambda b: b"pfcache2" + b[len(MAGIC) :],
    "huge header length": lambda b: MAGIC + (2**32 - 1).to_bytes(4, "little") + b[12:],
    "header of another schema": lambda b: (
        MAGIC + len(h := msgspec.msgpack.encode({"project": "demo"})).to_bytes(4, "little") + h
    ),
    "header of wrong types": lambda b: (
        MAGIC
        + len(h := msgspec.msgpack.encode(["x", "demo", 1, 2, 3, 4, 5, 6, 7, 8, 9])).to_bytes(
            4, "little"
        )
        + h
    ),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_entry_is_a_miss_and_is_removed(
    cache: Cache, tmp_path: Path, damage: object
) -> None:
    path = entry_path(cache)
    path.parent.mkdir(parents=True)
    path.write_bytes(damage(_valid_bytes(tmp_path)))  # type: ignore[operator]
    assert cache.lookup(INDEX, "demo", now=T0) is None
    assert not path.exists()
    # and the next store repairs it
    assert cache.store(INDEX, "demo", make_page(), fetched_at=T0)
    assert cache.lookup(INDEX, "demo", now=T0) is not None


def test_entry_of_another_project_under_this_name_is_a_miss(cache: Cache) -> None:
    cache.store(INDEX, "other", make_page("other"), fetched_at=T0)
    other = entry_path(cache, "other")
    shutil.copy(other, entry_path(cache, "demo"))
    assert cache.lookup(INDEX, "demo", now=T0) is None


def test_entry_of_another_index_in_a_colliding_folder_is_a_miss(cache: Cache) -> None:
    mirror = "https://mirror.example/simple"
    cache.store(mirror, "demo", make_page(), fetched_at=T0)
    entry_path(cache).parent.mkdir(parents=True)
    shutil.copy(entry_path(cache, index=mirror), entry_path(cache))
    assert cache.lookup(INDEX, "demo", now=T0) is None
    assert cache.lookup(mirror, "demo", now=T0) is not None


def test_flipped_byte_in_a_release_is_caught_by_its_checksum(cache: Cache) -> None:
    cache.store(INDEX, "demo", make_page(), fetched_at=T0)
    path = entry_path(cache)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01  # inside the last release's blob
    path.write_bytes(bytes(data))
    entry = cache.lookup(INDEX, "demo", now=T0)
    assert entry is not None  # the header is intact
    assert entry.files("1.0") == (wheel("demo", "1.0"), sdist("demo", "1.0"))
    with pytest.raises(CacheCorrupt) as info:
        entry.files("2.0rc1")
    assert info.value.project == "demo"
    assert not path.exists()
    with pytest.raises(CacheCorrupt):
        entry.page()


def test_a_folder_where_the_entry_should_be(cache: Cache) -> None:
    entry_path(cache).mkdir(parents=True)
    assert cache.lookup(INDEX, "demo", now=T0) is None
    assert not cache.store(INDEX, "demo", make_page(), fetched_at=T0)
    assert cache.write_failed


# --------------------------------------------------------------------------- unwritable


def test_root_under_a_regular_file_never_raises(tmp_path: Path) -> None:
    # Fails writes even for root, unlike a 0o555 folder.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = Cache(blocker / "cache")
    assert cache.lookup(INDEX, "demo", now=T0) is None
    assert not cache.store(INDEX, "demo", make_page(), fetched_at=T0)
    assert cache.write_failed
    assert not cache.refresh(INDEX, "demo", now=T0)
    assert not cache.record_stats({"demo": (1, 1.0)})
    # kept in memory for the rest of the run, though not saved
    assert cache.priorities(["demo"]) == {"demo": pytest.approx(1.0)}
    assert cache.info().entries == 0
    assert cache.clear() == 0


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Cache]:
    """A populated cache whose folders (and files) cannot be changed, even by root."""
    cache = Cache(tmp_path / "cache")
    cache.store(INDEX, "demo", make_page(), fetched_at=T0)
    cache.record_stats({"demo": (10, 2.0)})
    paths = [*sorted(cache.root.rglob("*"), reverse=True), cache.root]
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a folder read-only")
        done = subprocess.run(["chattr", "+i", *map(str, paths)], check=False, capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i not supported here: {done.stderr.decode().strip()}")
        try:
            yield Cache(cache.root)
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
    else:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield Cache(cache.root)
        finally:
            for path in paths:
                path.chmod(0o755 if path.is_dir() else 0o644)


def test_read_only_cache_reads_and_skips_writes(read_only: Cache) -> None:
    cache = read_only
    entry = cache.lookup(INDEX, "demo", now=T0 + 1)
    assert entry is not None
    assert entry.page() == make_page()
    assert cache.priorities(["demo"]) == {"demo": pytest.approx(2.0, abs=1e-6)}
    assert not cache.store(INDEX, "other", make_page("other"), fetched_at=T0)
    assert cache.write_failed
    assert not cache.store(INDEX, "demo", make_page(versions=("5.0",)), fetched_at=T0)
    cache.refresh(INDEX, "demo", now=T0 + 5)  # may or may not touch; must not raise
    assert not cache.record_stats({"demo": (1, 1.0)})
    assert cache.clear() == 0  # nothing could be removed
    info = cache.info()
    assert info.entries == 1
    entry = cache.lookup(INDEX, "demo", now=T0 + 1)
    assert entry is not None
    assert entry.versions == ("1.0", "1.1", "2.0rc1")


# --------------------------------------------------------------------------- credentials

SECRET = "s3cr3t-Pa55"
TOKEN = "tok-9f8e7d"


def test_credentials_never_reach_the_disk(cache: Cache) -> None:
    secret_index = f"https://alice:{SECRET}@pypi.example/simple/"
    token_index = f"https://{TOKEN}@other.example/simple"
    for index in (secret_index, token_index):
        assert cache.store(
            index,
            "demo",
            make_page(),
            fetched_at=T0,
            url=index + "demo/",
            etag='"e"',
        )
        cache.record_stats({"demo": (1, 0.5)})
    for path in cache.root.rglob("*"):
        for secret in (SECRET, TOKEN, "alice"):
            assert secret not in str(path)
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    # the entry is found with or without the credentials
    entry = cache.lookup(INDEX, "demo", now=T0)
    assert entry is not None
    assert entry.url == "https://pypi.example/simple/demo/"
    assert set(cache.info().projects_by_index) == {
        "https://pypi.example/simple",
        "https://other.example/simple",
    }


def test_page_with_credentials_in_file_urls_is_not_stored(cache: Cache) -> None:
    leaky = IndexFile("demo-1.0.tar.gz", f"https://bob:{SECRET}@files.example/demo-1.0.tar.gz")
    page = ProjectPage("demo", (sdist("demo", "0.9"), leaky), None)
    assert not cache.store(INDEX, "demo", page, fetched_at=T0)
    assert cache.lookup(INDEX, "demo", now=T0) is None
    assert not cache.write_failed
    # an "@" elsewhere in a URL is fine
    fine = IndexFile("demo-1.0.tar.gz", "https://files.example/@scope/demo-1.0.tar.gz")
    assert cache.store(INDEX, "demo", ProjectPage("demo", (fine,), None), fetched_at=T0)


INDEX_KEYS_EQUAL = [
    ("https://pypi.example/simple/", "https://pypi.example/simple"),
    ("https://pypi.example/simple/", "HTTPS://PyPI.Example/simple/"),
    ("https://pypi.example/simple/", "https://u:p@pypi.example/simple/"),
    ("https://pypi.example/simple/", "https://token@pypi.example/simple"),
    ("https://pypi.example/simple/", " https://pypi.example/simple/ "),
]
INDEX_KEYS_DIFFERENT = [
    ("https://pypi.example/simple/", "https://pypi.example/Simple/"),
    ("https://pypi.example/simple/", "http://pypi.example/simple/"),
    ("https://pypi.example/simple/", "https://pypi.example:8443/simple/"),
    ("https://pypi.example/simple/", "https://pypi.example/other/simple/"),
    ("file:///srv/index", "file:///srv/index2"),
]


@pytest.mark.parametrize(("a", "b"), INDEX_KEYS_EQUAL)
def test_index_key_same_index(a: str, b: str) -> None:
    assert index_key(a) == index_key(b)


@pytest.mark.parametrize(("a", "b"), INDEX_KEYS_DIFFERENT)
def test_index_key_different_indexes(a: str, b: str) -> None:
    assert index_key(a) != index_key(b)


def test_index_key_shape() -> None:
    key = index_key("https://pypi.org/simple")
    assert len(key) == 16
    assert int(key, 16) >= 0


# --------------------------------------------------------------------------- info and clear


def test_info_and_clear(cache: Cache) -> None:
    assert cache.info().entries == 0
    for name in ("demo", "other", "third"):
        cache.store(INDEX, name, make_page(name), fetched_at=T0)
    cache.store("https://mirror.example/simple", "demo", make_page(), fetched_at=T0)
    cache.record_stats({"demo": (10, 1.0)})
    unrelated = cache.root / "notes.txt"
    unrelated.write_text("mine")
    old_format = cache.root / "simple-v0" / "abcd"
    old_format.mkdir(parents=True)
    (old_format / "demo.entry").write_bytes(b"old")
    (entry_path(cache).parent / ".demo.entry.1.abcd.tmp").write_bytes(b"half")  # a crash left it

    info = cache.info()
    assert info.root == cache.root
    assert info.entries == 4
    assert info.projects_by_index == {
        "https://pypi.example/simple": 3,
        "https://mirror.example/simple": 1,
        "abcd (simple-v0, unused)": 0,
    }
    on_disk = sum(p.stat().st_size for p in cache.root.rglob("*") if p.is_file())
    assert info.bytes == on_disk - len("mine")

    assert cache.clear() == 4
    assert cache.lookup(INDEX, "demo", now=T0) is None
    assert cache.priorities(["demo"]) == {"demo": 0.0}
    assert sorted(p.name for p in cache.root.iterdir()) == ["notes.txt"]
    assert cache.info().entries == 0
    assert cache.clear() == 0
    # usable again after clearing
    assert cache.store(INDEX, "demo", make_page(), fetched_at=T0)


def test_info_and_clear_of_a_missing_root(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "nowhere")
    assert cache.info().entries == 0
    assert cache.info().bytes == 0
    assert cache.clear() == 0
    assert not cache.root.exists()


# --------------------------------------------------------------------------- priorities


def test_priorities(cache: Cache) -> None:
    assert cache.priorities(["a", "b"]) == {"a": 0.0, "b": 0.0}  # nothing known: no order
    cache.record_stats({"slow": (50_000, 2.0), "big": (7_000_000, 0.5), "Small_One": (2_000, 0.1)})
    fresh = Cache(cache.root)  # another run
    scores = fresh.priorities(["small-one", "big", "slow", "new"])
    assert sorted(scores, key=scores.__getitem__, reverse=True)[0] == "slow"
    assert scores["big"] > scores["small-one"]
    assert scores["new"] == scores["big"]  # the median of what is known
    assert set(scores) == {"small-one", "big", "slow", "new"}


def test_record_stats_merges_with_other_runs(cache: Cache) -> None:
    other = Cache(cache.root)
    cache.record_stats({"a": (1, 1.0)})
    other.record_stats({"b": (2, 2.0)})
    cache.record_stats({"a": (3, 3.0)})
    assert Cache(cache.root).priorities(["a", "b"]) == {
        "a": pytest.approx(3.0, abs=1e-6),
        "b": pytest.approx(2.0, abs=1e-6),
    }


@pytest.mark.parametrize("content", [b"", b"[1, 2]", b'{"a": "x"}', b"\xff\xfe", b'{"a": [1]}'])
def test_damaged_stats_are_ignored(cache: Cache, content: bytes) -> None:
    cache.root.mkdir(parents=True)
    (cache.root / STATS_FILE).write_bytes(content)
    assert cache.priorities(["a"]) == {"a": 0.0}
    assert cache.record_stats({"a": (5, 0.5)})
    assert Cache(cache.root).priorities(["a"]) == {"a": pytest.approx(0.5, abs=1e-6)}


# --------------------------------------------------------------------------- location


def test_default_cache_dir(tmp_path: Path) -> None:
    assert default_cache_dir({"PIPFRESH_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert default_cache_dir({"PIPFRESH_CACHE_DIR": "~/x", "HOME": str(tmp_path)}).name == "x"
    platform = default_cache_dir({"PIPFRESH_CACHE_DIR": ""})
    assert platform.name == "pipfresh"
    assert platform.is_absolute()


# --------------------------------------------------------------------------- background writes


def test_background_writes_land_in_order_after_flush(cache: Cache) -> None:
    cache.write_in_background()
    for version in ("1.0", "2.0", "3.0"):
        # The same entry three times: one writer thread keeps them in order.
        assert cache.store(INDEX, "demo", make_page(versions=(version,)), fetched_at=T0)
    cache.flush()
    entry = cache.lookup(INDEX, "demo", now=T0)
    assert entry is not None
    assert entry.versions == ("3.0",)
    assert [f.filename for f in entry.page().files] == [
        "demo-3.0-py3-none-any.whl",
        "demo-3.0.tar.gz",
    ]
    assert not cache.write_failed
    assert not list(entry_path(cache).parent.glob(".*.tmp"))


def test_background_write_failure_is_reported_after_flush(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = Cache(blocker / "cache")
    cache.write_in_background()
    assert cache.store(INDEX, "demo", make_page(), fetched_at=T0)  # queued
    cache.flush()
    assert cache.write_failed
    # After flush, writes are inline again and report their own failure.
    assert not cache.store(INDEX, "demo", make_page(), fetched_at=T0)
