"""Merging the pages of several sources (:func:`pipfresh.index.sources.merge_pages`).

The merge skips per-file work where it can (no key per file, only repeated names
looked at); every answer is checked against an oracle written here the plain way:
one dict keyed by (filename, URL) over every file, Requires-Python shared over every
file, local metadata read for every local file still without one.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipfresh.index.localmeta import fill_requires_python
from pipfresh.index.parse import version_from_filename
from pipfresh.index.sources import merge_pages
from pipfresh.models import IndexFile, ProjectPage
from support.wheels import build_wheel


def oracle(name: str, pages: list[ProjectPage]) -> ProjectPage:
    if len(pages) == 1 and not (pages[0].files and pages[0].files[0].url.startswith("file:")):
        return pages[0]
    by_key: dict[tuple[str, str], IndexFile] = {}
    for page in pages:
        for file in page.files:
            by_key.setdefault((file.filename, file.url), file)
    files = list(by_key.values())
    with_python = [f for f in files if f.requires_python is not None]
    for i, file in enumerate(files):
        if file.requires_python is not None:
            continue
        for other in with_python:
            if other.filename != file.filename:
                continue
            if file.sha256 is None or other.sha256 is None or other.sha256 == file.sha256:
                files[i] = msgspec.structs.replace(file, requires_python=other.requires_python)
                break
    files = fill_requires_python(files)
    versions = None
    if any(p.versions is not None for p in pages):
        listed = [p.versions if p.versions is not None else _listed(p) for p in pages]
        versions = tuple(dict.fromkeys(v for vs in listed for v in vs))
    return ProjectPage(name, tuple(files), versions, all(p.complete for p in pages))


def _listed(page: ProjectPage) -> tuple[str, ...]:
    found = (version_from_filename(f.filename, "demo") for f in page.files)
    return tuple(dict.fromkeys(v for v in found if v))


def file(filename: str, url: str, python: str | None = None, sha: str | None = None) -> IndexFile:
    return IndexFile.build(
        filename, url, requires_python=python, hashes=None if sha is None else {"sha256": sha}
    )


PYPI = "https://files.example/"
LOCAL = "file:///nowhere/files/"


def pypi_page(*files: IndexFile) -> ProjectPage:
    return ProjectPage("demo", files, _listed(ProjectPage("demo", files)), local_files=False)


def test_a_local_copy_takes_the_index_listings_requires_python() -> None:
    big = pypi_page(
        *(file(f"demo-1.{i}.tar.gz", f"{PYPI}demo-1.{i}.tar.gz", ">=3.8") for i in range(50)),
        file("demo-2.0-py3-none-any.whl", f"{PYPI}demo-2.0.whl", ">=3.12", sha="aa"),
    )
    local = ProjectPage("demo", (file("demo-2.0-py3-none-any.whl", f"{LOCAL}demo-2.0.whl"),))
    merged = merge_pages("demo", [big, local])
    assert merged == oracle("demo", [big, local])
    assert merged.files[:-1] == big.files
    assert merged.files[-1] == file("demo-2.0-py3-none-any.whl", f"{LOCAL}demo-2.0.whl", ">=3.12")
    assert merged.versions == big.versions


def test_a_copy_with_another_sha256_keeps_its_own_requires_python() -> None:
    big = pypi_page(file("demo-2.0-py3-none-any.whl", f"{PYPI}demo-2.0.whl", ">=3.12", sha="aa"))
    local = ProjectPage(
        "demo", (file("demo-2.0-py3-none-any.whl", f"{LOCAL}demo-2.0.whl", sha="bb"),)
    )
    merged = merge_pages("demo", [big, local])
    assert merged == oracle("demo", [big, local])
    assert merged.files[1].requires_python is None


def test_pages_sharing_no_filename_are_concatenated() -> None:
    big = pypi_page(file("demo-1.0.tar.gz", f"{PYPI}demo-1.0.tar.gz", ">=3.8"))
    other = ProjectPage(
        "demo", (file("demo-3.0.tar.gz", "https://mirror.example/demo-3.0.tar.gz"),)
    )
    merged = merge_pages("demo", [big, other])
    assert merged.files == big.files + other.files
    assert merged.versions == ("1.0", "3.0")


def test_a_url_two_sources_list_counts_once() -> None:
    shared = file("demo-1.0.tar.gz", f"{PYPI}demo-1.0.tar.gz", ">=3.8")
    big = pypi_page(shared, file("demo-1.1.tar.gz", f"{PYPI}demo-1.1.tar.gz"))
    mirror = pypi_page(file("demo-1.0.tar.gz", f"{PYPI}demo-1.0.tar.gz"), shared)
    merged = merge_pages("demo", [big, mirror])
    assert merged == oracle("demo", [big, mirror])
    assert merged.files == big.files


def test_one_page_naming_a_file_twice() -> None:
    page = ProjectPage(
        "demo",
        (
            file("demo-1.0.tar.gz", f"{LOCAL}a/demo-1.0.tar.gz"),
            file("demo-1.0.tar.gz", f"{LOCAL}b/demo-1.0.tar.gz", "<3"),
            file("demo-1.0.tar.gz", f"{LOCAL}a/demo-1.0.tar.gz", ">=3.8"),
        ),
    )
    merged = merge_pages("demo", [page])
    assert merged == oracle("demo", [page])
    assert [f.requires_python for f in merged.files] == ["<3", "<3"]


def test_a_local_wheel_without_a_listing_reads_its_own_metadata(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "demo", "2.0", requires_python=">=3.10")
    big = pypi_page(file("demo-1.0-py3-none-any.whl", f"{PYPI}demo-1.0.whl", ">=3.8"))
    local = ProjectPage("demo", (file(wheel.name, wheel.as_uri()),))
    merged = merge_pages("demo", [big, local])
    assert merged == oracle("demo", [big, local])
    assert merged.files[1].requires_python == ">=3.10"


# Few names, URLs and values, so that generated pages repeat them within and across pages.
_names = st.sampled_from(
    ["demo-1.0.tar.gz", "demo-1.1-py3-none-any.whl", "demo-2.0-py3-none-any.whl"]
)
_bases = st.sampled_from([PYPI, "https://mirror.example/", LOCAL, "file:///elsewhere/"])
_files = st.builds(
    lambda name, base, python, sha: file(name, base + name, python, sha),
    _names,
    _bases,
    st.sampled_from([None, None, ">=3.8", "<3"]),
    st.sampled_from([None, "aa", "bb"]),
)
_pages = st.builds(
    lambda files, versions, complete, local: ProjectPage(
        "demo",
        tuple(files),
        _listed(ProjectPage("demo", tuple(files))) if versions else None,
        complete,
        # As the parser marks it: False only for a page without a local file.
        local_files=local or any(f.url.startswith("file:") for f in files),
    ),
    st.lists(_files, max_size=6),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pages, min_size=1, max_size=4))
def test_merge_matches_the_plain_merge(pages: list[ProjectPage]) -> None:
    assert merge_pages("demo", pages) == oracle("demo", pages)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_many_files_and_a_few_local_copies(count: int) -> None:
    big = pypi_page(
        *(
            file(f"demo-{i}.0-py3-none-any.whl", f"{PYPI}demo-{i}.whl", f">=3.{i % 13}", sha=str(i))
            for i in range(3000)
        )
    )
    local = [
        ProjectPage("demo", (file(f"demo-{i * 7}.0-py3-none-any.whl", f"{LOCAL}{i}/x.whl"),))
        for i in range(count)
    ]
    merged = merge_pages("demo", [big, *local])
    assert merged == oracle("demo", [big, *local])
    shared = [f.requires_python for f in merged.files[3000:]]
    assert shared == [f">=3.{i * 7 % 13}" for i in range(count)]
