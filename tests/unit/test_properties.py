"""Property-based tests (hypothesis) for the index parsers and version selection.

Parsers: whatever bytes an index sends, under whatever content type, the only
exception that comes out is :class:`MalformedPage`; the filename helpers never raise.

Selection (:func:`pipfresh.scan.status_for`) on generated pages, checked against an
oracle written here from the spec, not from ``select.py``:

* the chosen latest (and wanted) release has a file the target can install: not
  yanked, Requires-Python admits 3.11.7, a supported wheel tag or an sdist;
* latest is the newest such release (pre-releases allowed);
* without ``--pre`` no pre-release is chosen unless the installed version is one;
* latest >= wanted >= installed where a candidate at least as new as the installed
  version exists and the other packages' ranges admit the installed version;
* wanted is admitted by every range;
* the PEP 700 quick path (a versions list) gives the same answer as the full walk.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pipfresh.errors import MalformedPage
from pipfresh.index.parse import (
    JSON_CONTENT_TYPE,
    parse_find_links_html,
    parse_project_page,
    version_from_filename,
    wheel_tags,
)
from pipfresh.models import IndexFile, InstalledDist, PackageStatus, ProjectPage
from pipfresh.requirements import Constraint
from pipfresh.scan import status_for
from pipfresh.select import Policy

PAGE_URL = "https://index.example/simple/demo/"
CONTENT_TYPES = st.sampled_from(
    [
        JSON_CONTENT_TYPE,
        "text/html",
        "application/vnd.pypi.simple.v1+html",
        "text/html; charset=utf-8",
        "text/html; charset=latin-1",
        "text/html; charset=nonsense",
        "application/json",
        "",
    ]
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- parsers


def parse_or_malformed(body: bytes, content_type: str) -> None:
    error: MalformedPage | None = None
    try:
        page = parse_project_page(body, content_type, PAGE_URL, "demo")
    except MalformedPage as exc:
        error = exc
    if error is not None:
        assert error.project == "demo"
        assert "\n" not in error.message
        return
    assert page.name == "demo"
    for file in page.files:
        assert isinstance(file, IndexFile)
        assert isinstance(file.filename, str)
        assert file.filename


@FAST
@given(st.binary(max_size=3000), CONTENT_TYPES)
def test_parsers_raise_only_malformed_page_on_any_bytes(body: bytes, content_type: str) -> None:
    parse_or_malformed(body, content_type)


@FAST
@given(st.binary(max_size=500), st.text(max_size=60))
def test_any_content_type_header_is_handled(body: bytes, content_type: str) -> None:
    parse_or_malformed(body, content_type)


@FAST
@given(st.binary(max_size=2000))
def test_find_links_html_raises_only_malformed_page(body: bytes) -> None:
    with contextlib.suppress(MalformedPage):
        parse_find_links_html(body, "text/html", PAGE_URL, "demo")


# JSON documents shaped like a page, with arbitrary values where the spec has types.
_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_filenames = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda name, version, suffix: f"{name}-{version}{suffix}",
        st.sampled_from(["demo", "Demo", "de_mo", "other", ""]),
        st.text(alphabet="0123456789.!+abcrc-_ ", max_size=12),
        st.sampled_from([".tar.gz", ".zip", "-py3-none-any.whl", ".whl", ".egg", ""]),
    ),
)
_entries = st.fixed_dictionaries(
    {"filename": _filenames, "url": st.text(max_size=40) | st.just("x.whl")},
    optional={
        "hashes": _values,
        "requires-python": _values,
        "yanked": _values,
        "upload-time": _values,
        "core-metadata": _values,
        "size": _values,
    },
)


@FAST
@given(
    st.lists(_entries, max_size=6),
    st.one_of(st.none(), st.lists(st.text(max_size=10), max_size=5), _values),
    st.one_of(st.just({"api-version": "1.1"}), _values),
)
def test_json_pages_with_arbitrary_entries(files: list[Any], versions: Any, meta: Any) -> None:
    document: dict[str, Any] = {"meta": meta, "name": "demo", "files": files}
    if versions is not None:
        document["versions"] = versions
    parse_or_malformed(json.dumps(document).encode(), JSON_CONTENT_TYPE)


@FAST
@given(st.lists(_filenames, max_size=6), st.lists(st.text(max_size=15), max_size=3))
def test_html_pages_with_arbitrary_links(filenames: list[str], attributes: list[str]) -> None:
    anchors = "".join(f'<a href="{name}" {" ".join(attributes)}>{name}</a>' for name in filenames)
    body = f"<html><body>{anchors}</body></html>".encode("utf-8", "surrogatepass")
    parse_or_malformed(body, "text/html")


@FAST
@given(st.text(max_size=60), st.text(max_size=20))
def test_filename_helpers_never_raise(filename: str, project: str) -> None:
    version = version_from_filename(filename, project)
    assert version is None or isinstance(version, str)
    assert isinstance(wheel_tags(filename), frozenset)


# --------------------------------------------------------------------------- selection

PYTHON = Version("3.11.7")
SUPPORTED = "py3-none-any"
TAGS = [SUPPORTED, "cp27-cp27m-win32", "py2-none-any"]
VERSIONS = ["0.9", "1.0", "1.1", "2.0", "2.0.0", "2.0.1", "2.1rc1", "3.0a1", "3.0", "1!0.5"]
INSTALLED = ["0.1", "1.0", "1.1", "2.0", "2.1rc1", "3.0", "9.0"]
REQUIRES_PYTHON = [None, "", ">=3.8", "<3", ">=3.12", ">=2.7.*", "not a spec"]
YANKED: list[bool | str] = [False, False, True, "broken", ""]
RANGES = [">=1.0", "<2", "<3", "!=2.0", "~=1.0", ">=2.1", "==1.1", "<2.1"]


def _file(version: str, kind: str, requires_python: str | None, yanked: bool | str) -> IndexFile:
    filename = f"demo-{version}.tar.gz" if kind == "sdist" else f"demo-{version}-{kind}.whl"
    return IndexFile(filename, f"https://f.example/{filename}", requires_python, yanked)


_files = st.builds(
    _file,
    st.sampled_from(VERSIONS),
    st.sampled_from(["sdist", *TAGS]),
    st.sampled_from(REQUIRES_PYTHON),
    st.sampled_from(YANKED),
)


def installable(file: IndexFile) -> bool:
    """The spec's rule, written out independently of select.py."""
    if file.yanked is True or isinstance(file.yanked, str):
        return False
    if file.requires_python:
        try:
            if not SpecifierSet(file.requires_python).contains(PYTHON, prereleases=True):
                return False
        except InvalidSpecifier:
            pass  # ignored, as pip ignores it
    if file.filename.endswith(".whl"):
        return file.filename.endswith(f"-{SUPPORTED}.whl")
    return True


def version_of(file: IndexFile) -> Version:
    raw = file.filename.removeprefix("demo-").removesuffix(".tar.gz")
    return Version(raw.split("-", 1)[0])


def candidates(page: ProjectPage) -> set[Version]:
    return {version_of(f) for f in page.files if installable(f)}


def scan(
    files: list[IndexFile],
    installed: str,
    ranges: list[str],
    *,
    pre: bool,
    listed: bool,
) -> tuple[ProjectPage, PackageStatus]:
    versions = tuple(dict.fromkeys(f.filename.split("-")[1].removesuffix(".tar.gz") for f in files))
    page = ProjectPage("demo", tuple(files), versions if listed else None)
    constraints = [
        Constraint(f"holder{i}", "1.0", f"demo{r}", "demo", SpecifierSet(r))
        for i, r in enumerate(ranges)
    ]
    policy = Policy(PYTHON, frozenset({SUPPORTED}), pre=pre)
    status = status_for(InstalledDist("demo", "demo", installed), page, policy, constraints)
    return page, status


_selection_inputs = (
    st.lists(_files, max_size=12),
    st.sampled_from(INSTALLED),
    st.lists(st.sampled_from(RANGES), max_size=3),
    st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(*_selection_inputs)
def test_selection_invariants(
    files: list[IndexFile], installed: str, ranges: list[str], listed: bool
) -> None:
    page, status = scan(files, installed, ranges, pre=True, listed=listed)
    possible = candidates(page)
    if status.latest is None:
        assert not possible
        assert status.wanted is None
        return
    latest = Version(status.latest)
    # chosen: installable, and the newest installable
    assert latest in possible
    assert latest == max(possible)
    assert status.held_back_by == () or status.wanted != status.latest
    if status.wanted is None:
        return
    wanted = Version(status.wanted)
    specs = [SpecifierSet(r) for r in ranges]
    installed_version = Version(installed)
    admitted = all(s.contains(installed_version, prereleases=True) for s in specs)
    if wanted != installed_version:
        # a real move: to an installable release every range admits
        assert wanted in possible
        assert all(s.contains(wanted, prereleases=True) for s in specs)
    if latest >= installed_version and admitted:
        assert latest >= wanted >= installed_version


@settings(max_examples=300, deadline=None)
@given(*_selection_inputs)
def test_no_pre_release_without_pre(
    files: list[IndexFile], installed: str, ranges: list[str], listed: bool
) -> None:
    _, status = scan(files, installed, ranges, pre=False, listed=listed)
    installed_pre = Version(installed).is_prerelease
    for chosen in (status.latest, status.wanted):
        if chosen is not None and chosen != installed and not installed_pre:
            assert not Version(chosen).is_prerelease, chosen


@settings(max_examples=300, deadline=None)
@given(*_selection_inputs[:3], st.booleans())
def test_versions_list_gives_the_same_answer_as_the_full_walk(
    files: list[IndexFile], installed: str, ranges: list[str], pre: bool
) -> None:
    _, quick = scan(files, installed, ranges, pre=pre, listed=True)
    _, full = scan(files, installed, ranges, pre=pre, listed=False)
    assert (quick.latest, quick.wanted, quick.bump) == (full.latest, full.wanted, full.bump)


def test_oracle_version_parsing_covers_the_pool() -> None:
    for raw in VERSIONS + INSTALLED:
        try:
            Version(raw)
        except InvalidVersion:  # pragma: no cover - the pools are hand-written
            raise AssertionError(raw) from None
