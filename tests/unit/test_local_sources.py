"""Local sources (file:// indexes, find-links folders and files, file: URLs) read only
regular files: never a device or a FIFO (which would block, or never end), never a
file that a link in a find-links folder or an index leads to outside it."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from pipfresh.errors import NetworkError, NotFound
from pipfresh.index.client import IndexClient
from pipfresh.index.limits import TooLarge
from pipfresh.index.sources import read_file_index, read_find_links_path, read_regular
from pipfresh.pipconfig import CliIndexOptions, load_index_config

T = TypeVar("T")


def bounded(work: Callable[[], T]) -> T | BaseException:
    """``work()`` in a thread: a FIFO that blocks fails the test instead of hanging it."""
    out: list[T | BaseException] = []

    def run() -> None:
        try:
            out.append(work())
        except Exception as exc:  # the error is the result under test
            out.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "blocked reading a local source"
    return out[0]


def wheel(folder: Path, name: str = "demo-1.0-py3-none-any.whl") -> Path:
    path = folder / name
    path.write_bytes(b"wheel")
    return path


def test_find_links_folder_keeps_regular_files_inside_it(tmp_path: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    wheel(links)
    os.symlink(wheel(links, "real.whl"), links / "demo-1.1-py3-none-any.whl")  # inside: kept
    os.symlink(wheel(outside, "x.whl"), links / "demo-2.0-py3-none-any.whl")  # out: dropped
    os.symlink("/dev/zero", links / "demo-3.0-py3-none-any.whl")
    os.mkfifo(links / "demo-4.0-py3-none-any.whl")
    page = bounded(lambda: read_find_links_path(str(links), "demo"))
    assert not isinstance(page, BaseException), page
    assert page is not None
    assert [f.filename for f in page.files] == [
        "demo-1.0-py3-none-any.whl",
        "demo-1.1-py3-none-any.whl",
    ]


@pytest.mark.parametrize("kind", ["fifo", "device", "symlink-out"])
def test_file_index_page_must_be_a_regular_file_inside_the_index(tmp_path: Path, kind: str) -> None:
    project = tmp_path / "index" / "demo"
    project.mkdir(parents=True)
    page = project / "index.html"
    if kind == "fifo":
        os.mkfifo(page)
    elif kind == "device":
        page.symlink_to("/dev/zero")
    else:
        secret = tmp_path / "secret.html"
        secret.write_text("<html><a href='demo-1.0.tar.gz'>x</a></html>")
        page.symlink_to(secret)
    error = bounded(lambda: read_file_index(project.as_uri() + "/", "demo"))
    assert isinstance(error, NetworkError), error
    assert str(error).startswith(f"cannot read {page}: "), error
    assert "\n" not in str(error)


def test_find_links_page_file_that_is_a_fifo_is_an_error(tmp_path: Path) -> None:
    fifo = tmp_path / "links.html"
    os.mkfifo(fifo)
    error = bounded(lambda: read_find_links_path(str(fifo), "demo"))
    assert isinstance(error, NetworkError), error
    assert "not a regular file" in str(error)


def test_read_regular_bounds_the_size(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 1001)
    assert read_regular(path, 1001) == b"x" * 1001
    with pytest.raises(Exception, match="larger than 1000 bytes decoded"):
        read_regular(path, 1000)


def test_oversized_file_index_page_is_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipfresh.index import sources

    project = tmp_path / "index" / "demo"
    project.mkdir(parents=True)
    (project / "index.html").write_bytes(b" " * 2048)
    monkeypatch.setattr(sources, "MAX_PAGE_BYTES", 1024)
    with pytest.raises(TooLarge, match="page larger than 1 KB decoded"):
        read_file_index(project.as_uri() + "/", "demo")


def client(tmp_path: Path) -> IndexClient:
    config = load_index_config(
        CliIndexOptions(index_url=(tmp_path / "index").as_uri(), isolated=True),
        {"PIP_CONFIG_FILE": os.devnull},
        cwd=tmp_path,
    )
    return IndexClient(config, concurrency=2, user_agent="pipfresh-tests")


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "folder"])
def test_file_urls_that_are_not_regular_files_are_refused(tmp_path: Path, target: str) -> None:
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
        path = str(tmp_path / "fifo")
    elif target == "folder":
        path = str(tmp_path)
    else:
        path = target
    url = Path(path).as_uri()
    dest = tmp_path / "out.whl"

    async def all_three() -> list[object]:
        async with client(tmp_path) as c:
            return await asyncio.gather(
                c.download(url, project="demo", sha256=None),
                c.fetch_range(url, -100, project="demo"),
                c.download_to(url, dest, project="demo", sha256=None),
                return_exceptions=True,
            )

    results = bounded(lambda: asyncio.run(all_three()))
    assert isinstance(results, list), results
    for error in results:
        assert isinstance(error, NotFound), error
        assert str(error).startswith(f"cannot read {url}: "), error
    assert not dest.exists()


def test_file_url_download_to_copies_a_regular_file(tmp_path: Path) -> None:
    source = wheel(tmp_path)
    dest = tmp_path / "copy.whl"

    async def copy() -> int:
        async with client(tmp_path) as c:
            return await c.download_to(source.as_uri(), dest, project="demo", sha256=None)

    assert asyncio.run(copy()) == 5
    assert dest.read_bytes() == b"wheel"
