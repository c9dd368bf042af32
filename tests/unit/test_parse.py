"""Index page parsing: PEP 691 JSON, PEP 503 HTML, find-links, filename helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from pipfresh.errors import MalformedPage
from pipfresh.index import parse
from pipfresh.index.parse import (
    JSON_CONTENT_TYPE,
    parse_find_links_dir,
    parse_find_links_html,
    parse_project_page,
    version_from_filename,
    wheel_tags,
)
from pipfresh.models import IndexFile, ProjectPage

PAGES = Path(__file__).parent.parent / "data" / "pages"
HTML = "text/html"
PAGE_URL = "https://example.org/simple/demo/"
SHA = "a" * 64


View = tuple[str, str, "str | None", bool, "str | None", "str | None", "int | None", bool]


def view(f: IndexFile) -> View:
    """An IndexFile's meaning, independent of how the index spelled it."""
    return (
        f.filename,
        f.url,
        f.requires_python,
        f.is_yanked,
        f.upload_time,
        f.sha256,
        f.size,
        f.has_metadata,
    )


def F(
    filename: str,
    url: str,
    requires_python: str | None = None,
    *,
    yanked: bool = False,
    upload_time: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    has_metadata: bool = False,
) -> View:
    return (filename, url, requires_python, yanked, upload_time, sha256, size, has_metadata)


def jpage(*files: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps(
        {"meta": {"api-version": "1.1"}, "name": "demo", "files": files, **extra}
    ).encode()


def jfile(filename: str = "demo-1.0.tar.gz", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": filename,
        "url": f"https://files.example.org/{filename}",
        "hashes": {"sha256": SHA},
    }
    entry.update(fields)
    return entry


def hpage(*anchors: str, head: str = "") -> bytes:
    body = "\n".join(anchors)
    return (
        f"<!DOCTYPE html><html><head>{head}<title>Links for demo</title></head>"
        f"<body><h1>Links for demo</h1>\n{body}\n</body></html>"
    ).encode()


def parse_json(body: bytes, url: str = PAGE_URL) -> ProjectPage:
    return parse_project_page(body, JSON_CONTENT_TYPE, url, "demo")


def parse_html(body: bytes, url: str = PAGE_URL, content_type: str = HTML) -> ProjectPage:
    return parse_project_page(body, content_type, url, "demo")


def only(page: ProjectPage) -> IndexFile:
    assert len(page.files) == 1, page.files
    return page.files[0]


# --------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (JSON_CONTENT_TYPE, jpage(jfile())),
        ("application/vnd.pypi.simple.v1+json; charset=utf-8", jpage(jfile())),
        ("application/vnd.pypi.simple.v1+html", hpage('<a href="/f/demo-1.0.tar.gz">x</a>')),
        ("text/html", hpage('<a href="/f/demo-1.0.tar.gz">x</a>')),
        ("Text/HTML; charset=UTF-8", hpage('<a href="/f/demo-1.0.tar.gz">x</a>')),
    ],
)
def test_dispatch_on_content_type(content_type: str, body: bytes) -> None:
    page = parse_project_page(body, content_type, PAGE_URL, "Demo")
    assert page.name == "demo"
    assert only(page).filename == "demo-1.0.tar.gz"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/json", "", "application/vnd.pypi.simple.v2+json"],
)
def test_unexpected_content_type(content_type: str) -> None:
    with pytest.raises(MalformedPage) as info:
        parse_project_page(jpage(jfile()), content_type, PAGE_URL, "My_Project")
    assert info.value.project == "my-project"
    assert "unexpected content type" in str(info.value)
    assert "\n" not in str(info.value)


def test_unexpected_content_type_is_named() -> None:
    with pytest.raises(MalformedPage, match="'text/plain'"):
        parse_project_page(b"hello", "text/plain", PAGE_URL, "demo")


# --------------------------------------------------------------------------- JSON


def test_json_full_entry() -> None:
    entry = jfile(
        "demo-1.0-py3-none-any.whl",
        **{
            "requires-python": ">=3.8",
            "size": 1234,
            "upload-time": "2024-01-02T03:04:05.123456Z",
            "yanked": False,
            "core-metadata": {"sha256": SHA},
        },
    )
    assert view(only(parse_json(jpage(entry)))) == F(
        filename="demo-1.0-py3-none-any.whl",
        url="https://files.example.org/demo-1.0-py3-none-any.whl",
        requires_python=">=3.8",
        yanked=False,
        upload_time="2024-01-02T03:04:05.123456Z",
        sha256=SHA,
        size=1234,
        has_metadata=True,
    )


def test_json_minimal_entry() -> None:
    body = jpage({"filename": "demo-1.0.tar.gz", "url": "https://h/demo-1.0.tar.gz", "hashes": {}})
    assert view(only(parse_json(body))) == F("demo-1.0.tar.gz", "https://h/demo-1.0.tar.gz")


@pytest.mark.parametrize(
    ("yanked", "expected"),
    [
        (False, False),
        (True, True),
        ("broken build", True),
        ("", True),  # a yank without a reason is still a yank
        (None, False),
    ],
)
def test_json_yanked(yanked: object, expected: bool) -> None:
    assert only(parse_json(jpage(jfile(yanked=yanked)))).is_yanked is expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, False),
        ({"core-metadata": True}, True),
        ({"core-metadata": False}, False),
        ({"core-metadata": {"sha256": SHA}}, True),
        ({"core-metadata": {}}, False),
        ({"data-dist-info-metadata": True}, True),
        ({"data-dist-info-metadata": {"sha256": SHA}}, True),
        ({"core-metadata": False, "data-dist-info-metadata": True}, True),
    ],
)
def test_json_core_metadata(fields: dict[str, Any], expected: bool) -> None:
    assert only(parse_json(jpage(jfile(**fields)))).has_metadata is expected


@pytest.mark.parametrize(
    ("requires_python", "expected"),
    [(None, None), ("", None), (">=3.8", ">=3.8"), (">=2.7, !=3.0.*", ">=2.7, !=3.0.*")],
)
def test_json_requires_python(requires_python: str | None, expected: str | None) -> None:
    page = parse_json(jpage(jfile(**{"requires-python": requires_python})))
    # an empty value means "no restriction", whichever way it is stored
    assert (only(page).requires_python or None) == expected


@pytest.mark.parametrize(
    ("url", "page_url", "expected_url", "expected_sha"),
    [
        ("https://f.org/a/demo-1.0.tar.gz", PAGE_URL, "https://f.org/a/demo-1.0.tar.gz", SHA),
        ("../../files/demo-1.0.tar.gz", PAGE_URL, "https://example.org/files/demo-1.0.tar.gz", SHA),
        ("/files/demo-1.0.tar.gz", PAGE_URL, "https://example.org/files/demo-1.0.tar.gz", SHA),
        ("demo-1.0.tar.gz", PAGE_URL, "https://example.org/simple/demo/demo-1.0.tar.gz", SHA),
        ("demo-1.0.tar.gz", "file:///srv/idx/demo/", "file:///srv/idx/demo/demo-1.0.tar.gz", SHA),
        (
            "https://f.org/demo-1.0.tar.gz#sha256=" + "b" * 64,
            PAGE_URL,
            "https://f.org/demo-1.0.tar.gz",
            SHA,
        ),
    ],
)
def test_json_urls(url: str, page_url: str, expected_url: str, expected_sha: str) -> None:
    f = only(parse_json(jpage(jfile(url=url)), url=page_url))
    assert (f.url, f.sha256) == (expected_url, expected_sha)


def test_json_fragment_hash_used_when_hashes_empty() -> None:
    entry = jfile(url="https://f.org/demo-1.0.tar.gz#sha256=" + "b" * 64, hashes={})
    f = only(parse_json(jpage(entry)))
    assert (f.url, f.sha256) == ("https://f.org/demo-1.0.tar.gz", "b" * 64)


@pytest.mark.parametrize(
    ("filename", "kept"),
    [
        ("demo-1.0-py3-none-any.whl", True),
        ("demo-1.0.tar.gz", True),
        ("demo-1.0.zip", True),
        ("demo-1.0.tar.bz2", True),
        ("demo-1.0.tgz", True),
        ("demo-1.0.tar", True),
        ("demo-1.0.tar.xz", True),
        ("demo-1.0.TAR.GZ", True),
        ("demo-1.0-py2.7.egg", False),
        ("demo-1.0.win32-py2.7.exe", False),
        ("demo-1.0.win32.msi", False),
        ("demo-1.0-1.noarch.rpm", False),
        ("demo-1.0.tar.gz.asc", False),
        ("", False),
    ],
)
def test_only_usable_files_kept(filename: str, kept: bool) -> None:
    url = f"https://f.org/{filename}"
    body = jpage(jfile(filename, url=url), jfile("demo-0.9.tar.gz"))
    assert (filename in [f.filename for f in parse_json(body).files]) is kept
    html = hpage(f'<a href="{url}">{filename}</a>', '<a href="/demo-0.9.tar.gz">x</a>')
    assert (filename in [f.filename for f in parse_html(html).files]) is kept


BAD_ENTRIES: list[object] = [
    {"url": "https://f.org/demo-2.0.tar.gz"},  # no filename
    {"filename": "demo-2.0.tar.gz"},  # no url
    {"filename": 7, "url": "https://f.org/demo-2.0.tar.gz"},
    {"filename": "demo-2.0.tar.gz", "url": None},
    jfile("demo-2.0.tar.gz", **{"requires-python": 3.8}),
    jfile("demo-2.0.tar.gz", **{"upload-time": 1700000000}),
    jfile("demo-2.0.tar.gz", yanked=["reason"]),
    jfile("demo-2.0.tar.gz", size="12"),
    jfile("demo-2.0.tar.gz", size=True),
    jfile("demo-2.0.tar.gz", size=1.5),
    "demo-2.0.tar.gz",
    None,
    [],
]


@pytest.mark.parametrize("bad", BAD_ENTRIES, ids=repr)
def test_json_bad_entries_are_skipped(bad: object) -> None:
    good = jfile("demo-1.0.tar.gz", size=10, yanked="old")
    page = parse_json(json.dumps({"files": [good, bad, good]}).encode())
    assert [f.filename for f in page.files] == ["demo-1.0.tar.gz", "demo-1.0.tar.gz"]
    assert page.files[0] == only(parse_json(jpage(good)))


@pytest.mark.parametrize(
    "fields",
    [
        {"hashes": ["sha256"]},
        {"hashes": {"sha256": 5}},
        {"core-metadata": "yes", "data-dist-info-metadata": [1]},
        {"core-metadata": {"sha256": 1}},
    ],
    ids=repr,
)
def test_json_fields_read_on_demand_that_are_malformed_read_as_absent(
    fields: dict[str, object],
) -> None:
    """Hashes and metadata flags are decoded only when a download asks for them; one
    that is not the PEP 691 shape reads as absent: no hash means the update refuses
    the file, no flag means the metadata comes from the wheel."""
    page = parse_json(json.dumps({"files": [jfile("demo-2.0.tar.gz", **fields)]}).encode())
    (file,) = page.files
    assert file.sha256 is None if "hashes" in fields else file.sha256 == SHA
    assert file.core_metadata is None
    assert file.dist_info_metadata is None
    assert not file.has_metadata


def test_json_hashes_and_metadata_read_on_demand() -> None:
    entry = jfile(
        "demo-2.0.tar.gz",
        hashes={"sha256": SHA, "md5": "x"},
        **{"core-metadata": {"sha256": SHA}, "data-dist-info-metadata": True},
    )
    (file,) = parse_json(json.dumps({"files": [entry]}).encode()).files
    assert file.hashes == {"sha256": SHA, "md5": "x"}
    assert file.sha256 == SHA
    assert file.core_metadata == {"sha256": SHA}
    assert file.dist_info_metadata is True
    assert file.has_metadata
    # A detached copy reads the same and no longer refers to the response body.
    copy = file.detached()
    assert (copy.hashes, copy.core_metadata, copy.url) == (
        file.hashes,
        file.core_metadata,
        file.url,
    )


REMOTE = ("https://", "http://")


def test_json_lenient_path_matches_fast_path() -> None:
    """Good entries read the same whether or not a bad entry forces the lenient path."""
    body = (PAGES / "numpy.json").read_bytes()
    fast, versions = parse._parse_json(body, PAGE_URL, "numpy", REMOTE)
    assert versions  # PEP 700 list kept from the fast path
    lenient = parse._parse_json_lenient(body, PAGE_URL, "numpy")
    assert fast == lenient
    doc = json.loads(body)
    doc["files"].insert(3, {"filename": 1})
    assert parse._parse_json(json.dumps(doc).encode(), PAGE_URL, "numpy", REMOTE)[0] == fast


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "invalid JSON"),
        (b"{", "invalid JSON"),
        (b"<html></html>", "invalid JSON"),
        (b'{"files": [}', "invalid JSON"),
        (b"[]", "no 'files' list"),
        (b'"files"', "no 'files' list"),
        (b"{}", "no 'files' list"),
        (b'{"files": null}', "no 'files' list"),
        (b'{"files": {"a": 1}}', "no 'files' list"),
        (b'{"files": [{"filename": "\xff-1.0.tar.gz", "url": "/x"}]}', "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
        (b'{"meta": {"api-version": "2.0"}, "files": []}', "API version"),
        (b'{"meta": {"api-version": "2.0"}, "files": [1]}', "API version"),
    ],
)
def test_json_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPage, match=reason) as info:
        parse_json(body)
    assert info.value.project == "demo"


def test_json_bad_utf8_in_an_ignored_key_is_tolerated() -> None:
    # msgspec skips unknown keys without decoding them; nothing we use is affected.
    body = b'{"files": [], "name": "\xff"}'
    assert parse_json(body).files == ()


def test_json_empty_files_list_is_a_valid_page() -> None:
    assert parse_json(b'{"meta": {"api-version": "1.0"}, "name": "demo", "files": []}').files == ()


def test_json_unknown_keys_ignored() -> None:
    body = jpage(jfile(extra={"deep": [1, 2, {"x": None}]}), versions=["1.0"], alternates=[])
    assert only(parse_json(body)).filename == "demo-1.0.tar.gz"


# --------------------------------------------------------------------------- HTML


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (
            '<a href="https://f.org/p/demo-1.0.tar.gz#sha256=' + SHA + '">demo-1.0.tar.gz</a>',
            F("demo-1.0.tar.gz", "https://f.org/p/demo-1.0.tar.gz", sha256=SHA),
        ),
        (
            '<a href="../../p/demo-1.0.tar.gz">x</a>',
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz"),
        ),
        (
            '<a href="demo-1.0.tar.gz#md5=abc">x</a>',
            F("demo-1.0.tar.gz", "https://example.org/simple/demo/demo-1.0.tar.gz"),
        ),
        (
            '<a href="/p/demo-1.0.tar.gz" data-requires-python="&gt;=3.8">x</a>',
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz", ">=3.8"),
        ),
        (  # not escaped by the server: the quoted ">" must not end the tag
            '<a data-requires-python=">=3.8,<4" href="/p/demo-1.0.tar.gz">x</a>',
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz", ">=3.8,<4"),
        ),
        (
            "<a href='/p/demo-1.0.tar.gz' data-requires-python='&gt;=3.8,&lt;4&#x27;'>x</a>",
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz", ">=3.8,<4'"),
        ),
        (
            '<a href="/p/demo-1.0.tar.gz" data-requires-python="&gt;=3.8&comma;&NotEqualTilde;">',
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz", ">=3.8,\u2242\u0338"),
        ),
        (
            '<a href="/p/demo-1.0.tar.gz" data-requires-python="&amp;gt;">x</a>',
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz", "&gt;"),
        ),
        (
            '<a href="/p/demo-1.0.tar.gz" data-requires-python="">x</a>',
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz"),
        ),
        (
            "<A HREF=/p/demo-1.0.tar.gz DATA-YANKED>x</A>",
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz", yanked=True),
        ),
        (
            '<a href="/p/demo-1.0.tar.gz" data-yanked="">x</a>',
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz", yanked=True),
        ),
        (
            '<a\n  data-yanked="bad &quot;build&quot;"\n  href="/p/demo-1.0.tar.gz"\n>x</a>',
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz", yanked=True),
        ),
        (
            '<a href="/p/demo-1.0-py3-none-any.whl" data-core-metadata="sha256=' + SHA + '">x</a>',
            F(
                "demo-1.0-py3-none-any.whl",
                "https://example.org/p/demo-1.0-py3-none-any.whl",
                has_metadata=True,
            ),
        ),
        (
            '<a href="/p/demo-1.0-py3-none-any.whl" data-dist-info-metadata="true">x</a>',
            F(
                "demo-1.0-py3-none-any.whl",
                "https://example.org/p/demo-1.0-py3-none-any.whl",
                has_metadata=True,
            ),
        ),
        (  # the filename comes from the URL, percent-decoded, not from the link text
            '<a href="/p/demo-1.0%2Blocal.tar.gz?x=1&amp;y=2#sha256=' + SHA + '">other</a>',
            F(
                "demo-1.0+local.tar.gz",
                "https://example.org/p/demo-1.0%2Blocal.tar.gz?x=1&y=2",
                sha256=SHA,
            ),
        ),
        (  # the first of two duplicate attributes wins, as in browsers
            '<a href="/p/demo-1.0.tar.gz" href="/q/demo-2.0.tar.gz">x</a>',
            F("demo-1.0.tar.gz", "https://example.org/p/demo-1.0.tar.gz"),
        ),
    ],
)
def test_html_anchor(anchor: str, expected: View) -> None:
    assert view(only(parse_html(hpage(anchor)))) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # a ">" inside a quoted value, with the other quote character inside another value
        (
            '<a data-yanked="it\'s bad" data-requires-python=\'>=3.8\' href="/p/demo-1.0.tar.gz">',
            [("demo-1.0.tar.gz", ">=3.8", True)],
        ),
        # a stray quote that does not follow "=" opens no value
        (
            '<a href=/p/demo-1.0.tar.gz x">x</a><a href="/p/demo-2.0.tar.gz">',
            [("demo-1.0.tar.gz", None, False), ("demo-2.0.tar.gz", None, False)],
        ),
        # an unclosed value runs to the next quote, taking the next link's href with it
        (
            '<a href="/p/demo-1.0.tar.gz">x</a><a title="oops>y</a><a href="/p/demo-2.0.tar.gz">',
            [("demo-1.0.tar.gz", None, False)],
        ),
        # an unterminated value swallows the rest of the document, as in a browser
        (
            '<a href="/p/demo-1.0.tar.gz">x</a><a title="oops>y</a>',
            [("demo-1.0.tar.gz", None, False)],
        ),
    ],
)
def test_html_quoting_edge_cases(markup: str, expected: list[tuple[str, str | None, bool]]) -> None:
    files = parse_html(hpage(markup)).files
    assert [(f.filename, f.requires_python, f.is_yanked) for f in files] == expected


def test_html_tag_without_end() -> None:
    body = b'<html><a href="/p/demo-1.0.tar.gz">x</a><a href="/p/demo-2.0.tar.gz"'
    assert [f.filename for f in parse_html(body).files] == ["demo-1.0.tar.gz"]


@pytest.mark.parametrize(
    "anchor",
    [
        "<a>no href</a>",
        '<a name="top">x</a>',
        '<a href="">empty</a>',
        '<a href="/simple/other/">a folder</a>',
        '<a href="#top">fragment only</a>',
        '<a href="/p/demo-1.0.exe">installer</a>',
        '<abbr title="demo-1.0.tar.gz">not a link</abbr>',
        '<!-- <a href="/p/demo-1.0.tar.gz">commented out</a> -->',
    ],
)
def test_html_non_file_anchors_skipped(anchor: str) -> None:
    assert parse_html(hpage(anchor)).files == ()


@pytest.mark.parametrize(
    ("head", "expected_url"),
    [
        ('<base href="https://mirror.org/files/">', "https://mirror.org/files/demo-1.0.tar.gz"),
        ('<base href="/other/">', "https://example.org/other/demo-1.0.tar.gz"),
        ('<BASE target="_top" HREF="../x/">', "https://example.org/simple/x/demo-1.0.tar.gz"),
        ('<base target="_top">', "https://example.org/simple/demo/demo-1.0.tar.gz"),
        ("", "https://example.org/simple/demo/demo-1.0.tar.gz"),
    ],
)
def test_html_base_href(head: str, expected_url: str) -> None:
    page = parse_html(hpage('<a href="demo-1.0.tar.gz">x</a>', head=head))
    assert only(page).url == expected_url


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html; charset=latin-1", '<a href="/p/d\xe9mo-1.0.tar.gz">x</a>'.encode("latin-1")),
        ('text/html; charset="utf-8"', '<a href="/p/d\xe9mo-1.0.tar.gz">x</a>'.encode()),
    ],
)
def test_html_charset(content_type: str, body: bytes) -> None:
    assert only(parse_html(body, content_type=content_type)).filename == "d\xe9mo-1.0.tar.gz"


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"", HTML, "not an HTML index page"),
        (b"   \n", HTML, "not an HTML index page"),
        (b"Service temporarily unavailable", HTML, "not an HTML index page"),
        (b'{"files": []}', HTML, "not an HTML index page"),
        (b'<a href="/p/demo-1.0.tar.gz">\xff</a>', HTML, "not valid utf-8"),
        (b"<html></html>", "text/html; charset=no-such-codec", "not valid no-such-codec"),
        (
            hpage(head='<meta name="pypi:repository-version" content="2.0">'),
            HTML,
            "API version",
        ),
    ],
)
def test_html_malformed(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(MalformedPage, match=reason) as info:
        parse_html(body, content_type=content_type)
    assert info.value.project == "demo"


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body></body></html>",
        b"<html><head><title>Links for demo</title></head></html>",
        hpage(head='<meta name="pypi:repository-version" content="1.3">'),
    ],
)
def test_html_page_without_files_is_valid(body: bytes) -> None:
    assert parse_html(body).files == ()


# --------------------------------------------------------------------------- real pages


@pytest.mark.parametrize("project", ["six", "numpy", "setuptools"])
def test_real_pages_both_formats_agree(project: str) -> None:
    url = f"https://pypi.org/simple/{project}/"
    from_json = parse_project_page(
        (PAGES / f"{project}.json").read_bytes(), JSON_CONTENT_TYPE, url, project
    )
    from_html = parse_project_page((PAGES / f"{project}.html").read_bytes(), HTML, url, project)

    def comparable(f: IndexFile) -> tuple[object, ...]:
        # HTML pages carry no size or upload time.
        return (f.filename, f.url, f.requires_python, f.is_yanked, f.sha256, f.has_metadata)

    assert from_json.files
    assert sorted(map(comparable, from_json.files)) == sorted(map(comparable, from_html.files))


def test_real_numpy_page() -> None:
    page = parse_project_page(
        (PAGES / "numpy.json").read_bytes(), JSON_CONTENT_TYPE, PAGE_URL, "NumPy"
    )
    assert page.name == "numpy"
    yanked = {f.filename for f in page.files if f.is_yanked}
    assert yanked
    assert all(name.startswith("numpy-2.4.0") for name in yanked)
    old = next(f for f in page.files if f.filename == "numpy-1.13.0.zip")
    assert old.requires_python == ">=2.7,!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*"
    assert old.upload_time is not None
    assert old.size is not None
    assert old.sha256 is not None
    assert len(old.sha256) == 64


def test_real_setuptools_page_drops_eggs_and_installers() -> None:
    raw = json.loads((PAGES / "setuptools.json").read_bytes())["files"]
    assert any(f["filename"].endswith(".egg") for f in raw)
    page = parse_project_page(
        (PAGES / "setuptools.json").read_bytes(), JSON_CONTENT_TYPE, PAGE_URL, "setuptools"
    )
    names = [f.filename for f in page.files]
    assert names
    assert not [n for n in names if n.endswith((".egg", ".exe"))]
    assert "setuptools-0.6c11.zip" in names


# --------------------------------------------------------------------------- find-links


def test_find_links_html_filters_by_project() -> None:
    body = hpage(
        '<a href="demo-1.0.tar.gz">x</a>',
        '<a href="Demo_Tool-1.0.tar.gz">x</a>',
        '<a href="demo_tool-2.0-py3-none-any.whl">x</a>',
        '<a href="other-1.0.tar.gz">x</a>',
        '<a href="demo-tool-3.0-py3-none-any.whl">a wheel name may not contain "-"</a>',
    )
    page = parse_find_links_html(body, HTML, "file:///wheels/", "demo-tool")
    assert [f.filename for f in page.files] == [
        "Demo_Tool-1.0.tar.gz",
        "demo_tool-2.0-py3-none-any.whl",
    ]
    assert page.files[0].url == "file:///wheels/Demo_Tool-1.0.tar.gz"
    unfiltered = parse_project_page(body, HTML, "file:///wheels/", "demo-tool")
    assert len(unfiltered.files) == 5


def test_find_links_dir(tmp_path: Path) -> None:
    for name in [
        "demo_tool-1.0-py3-none-any.whl",
        "Demo.Tool-0.9.tar.gz",
        "demo-tool-0.8.zip",
        "demo-1.0.tar.gz",
        "demo-tool-0.7-py2.7.egg",
        "demo_tool-1.0-py3-none-any.whl.metadata",
        "README.txt",
    ]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "demo-tool-9.0.tar.gz").mkdir()  # a folder, not a file
    page = parse_find_links_dir(str(tmp_path), "Demo_Tool")
    assert page.name == "demo-tool"
    assert [f.filename for f in page.files] == [
        "Demo.Tool-0.9.tar.gz",
        "demo-tool-0.8.zip",
        "demo_tool-1.0-py3-none-any.whl",
    ]
    assert page.files[2].url == (tmp_path / "demo_tool-1.0-py3-none-any.whl").as_uri()


def test_find_links_dir_missing(tmp_path: Path) -> None:
    with pytest.raises(MalformedPage, match="cannot list find-links folder") as info:
        parse_find_links_dir(str(tmp_path / "nope"), "demo")
    assert info.value.project == "demo"


# --------------------------------------------------------------------------- filenames


@pytest.mark.parametrize(
    ("filename", "project", "expected"),
    [
        ("requests-2.31.0-py3-none-any.whl", "requests", "2.31.0"),
        ("requests-2.31.0.tar.gz", "requests", "2.31.0"),
        ("python-dateutil-2.8.2.tar.gz", "python-dateutil", "2.8.2"),
        ("python_dateutil-2.8.2-py2.py3-none-any.whl", "python-dateutil", "2.8.2"),
        ("Python.DateUtil-2.8.2.tar.gz", "python-dateutil", "2.8.2"),
        ("python__dateutil-2.8.2.zip", "python-dateutil", "2.8.2"),
        ("zope.interface-6.0.tar.gz", "zope-interface", "6.0"),
        ("zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl", "zope-interface", "6.0"),
        ("Django-4.2.tar.gz", "django", "4.2"),
        ("foo-1.0.tar.bz2", "foo", "1.0"),
        ("foo-1.0.tgz", "foo", "1.0"),
        ("foo-1.0.tar.xz", "foo", "1.0"),
        ("foo-1.0.tar", "foo", "1.0"),
        ("foo-1.0.ZIP", "foo", "1.0"),
        ("foo-1.0-1.tar.gz", "foo", "1.0-1"),  # implicit post-release
        ("foo-v1.0.tar.gz", "foo", "v1.0"),
        ("foo-1.0-1-py3-none-any.whl", "foo", "1.0"),  # build tag
        ("foo-1.0+local.1-py3-none-any.whl", "foo", "1.0+local.1"),
        # files of other projects, or not parseable
        ("foo-bar-1.0.tar.gz", "foo", None),
        ("foo-1.0.tar.gz", "foo-bar", None),
        ("foobar-1.0.tar.gz", "foo", None),
        ("foo_bar-1.0-py3-none-any.whl", "foo", None),
        ("foo-1.0-py2.7.egg", "foo", None),
        ("foo-1.0.exe", "foo", None),
        ("foo.tar.gz", "foo", None),
        ("foo-.tar.gz", "foo", None),
        ("foo-1.0.whl", "foo", None),
        ("foo-1.0-py3-none.whl", "foo", None),
        ("foo-1.0-x-py3-none-any.whl", "foo", None),  # a build tag starts with a digit
        ("foo--py3-none-any.whl", "foo", None),
        ("", "foo", None),
    ],
)
def test_version_from_filename(filename: str, project: str, expected: str | None) -> None:
    assert version_from_filename(filename, project) == expected


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("foo-1.0-py3-none-any.whl", {"py3-none-any"}),
        ("foo-1.0-py2.py3-none-any.whl", {"py2-none-any", "py3-none-any"}),
        (
            "numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            {"cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"},
        ),
        (
            "foo-1.0-1-CP38.cp39-ABI3-Win_AMD64.whl",
            {"cp38-abi3-win_amd64", "cp39-abi3-win_amd64"},
        ),
        ("foo-1.0-py3-none-any.WHL", {"py3-none-any"}),
        ("foo-1.0-py3-none-any.tar.gz", set()),
        ("foo-1.0-none-any.whl", set()),
        ("foo-1.0-py3.-none-any.whl", set()),
        ("foo-1.0-py3--any.whl", set()),
        ("foo-1.0-a-b-py3-none-any.whl", set()),
        ("", set()),
    ],
)
def test_wheel_tags(filename: str, expected: set[str]) -> None:
    assert wheel_tags(filename) == expected


def _real_wheel_names() -> list[str]:
    names = []
    for path in PAGES.glob("*.json"):
        names += [f["filename"] for f in json.loads(path.read_bytes())["files"]]
    return sorted(n for n in names if n.endswith(".whl"))


@pytest.mark.parametrize("filename", _real_wheel_names())
def test_wheel_helpers_agree_with_packaging_on_real_names(filename: str) -> None:
    name, version, _, tags = parse_wheel_filename(filename)
    assert wheel_tags(filename) == {str(t) for t in tags}
    assert version_from_filename(filename, name) == str(version)


_name = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._]{0,8}[A-Za-z0-9])?", fullmatch=True)
_version = st.from_regex(
    r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}((a|b|rc|\.post|\.dev)[0-9])?", fullmatch=True
)
_tag_part = st.lists(st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True), min_size=1, max_size=3)


_build = st.one_of(st.none(), st.from_regex(r"[0-9][a-z0-9]{0,3}", fullmatch=True))


@settings(max_examples=300)
@given(st.tuples(_name, _version, _build, _tag_part, _tag_part, _tag_part))
def test_wheel_helpers_agree_with_packaging(
    parts: tuple[str, str, str | None, list[str], list[str], list[str]],
) -> None:
    name, version, build, pys, abis, plats = parts
    filename = "-".join(
        [name, version, *([build] if build else []), *(".".join(p) for p in (pys, abis, plats))]
    )
    filename += ".whl"
    try:
        canonical, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return
    assert wheel_tags(filename) == {str(t) for t in tags}
    found = version_from_filename(filename, canonical)
    assert found is not None
    assert found == version


@settings(max_examples=300)
@given(_name, _version, st.sampled_from(parse._SDIST_SUFFIXES))
def test_sdist_version_roundtrip(name: str, version: str, suffix: str) -> None:
    filename = f"{name}-{version}{suffix}"
    assert version_from_filename(filename, parse._canonical(name)) == version


# --------------------------------------------------------------------------- robustness

_CONTENT_TYPES = st.sampled_from(
    [JSON_CONTENT_TYPE, HTML, "application/vnd.pypi.simple.v1+html", "text/html; charset=ascii"]
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = [
    "filename",
    "url",
    "hashes",
    "requires-python",
    "yanked",
    "upload-time",
    "size",
    "core-metadata",
    "data-dist-info-metadata",
]


def _check(body: bytes, content_type: str) -> None:
    try:
        page = parse_project_page(body, content_type, PAGE_URL, "demo")
    except MalformedPage as exc:
        error_project = exc.project
    else:
        assert isinstance(page, ProjectPage)
        assert all(isinstance(f, IndexFile) for f in page.files)
        return
    assert error_project == "demo"


@settings(max_examples=500)
@given(st.binary(max_size=2000), _CONTENT_TYPES)
def test_arbitrary_bytes_never_crash(body: bytes, content_type: str) -> None:
    _check(body, content_type)


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("<a href=\"'>/#&;x- \n.whltargz")), max_size=300))
def test_arbitrary_markup_never_crashes(text: str) -> None:
    _check(text.encode(), HTML)


@settings(max_examples=300)
@given(st.lists(st.dictionaries(st.sampled_from(_FIELDS), _json_values, max_size=6), max_size=5))
def test_arbitrary_json_entries_never_crash(entries: list[dict[str, Any]]) -> None:
    _check(json.dumps({"files": entries}).encode(), JSON_CONTENT_TYPE)


# The URLs a JSON page may hold, for the one-pass filter and the slow path alike.
_JSON_URLS = st.sampled_from(
    [
        "https://files.example/demo-1.0.tar.gz",
        "http://files.example/demo-1.0.tar.gz",
        "../../files/demo-1.0.tar.gz",
        "file:///dev/zero",
        "FILE:///etc/passwd",
        "ftp://x/demo.whl",
        "https://files.example/demo-1.0.tar.gz#sha256=" + SHA,
    ]
)
_JSON_FILENAMES = st.sampled_from(
    ["demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl", "demo-1.0.egg", "DEMO-1.0.ZIP", ""]
)


@settings(max_examples=300)
@given(
    st.lists(st.tuples(_JSON_FILENAMES, _JSON_URLS), max_size=6),
    st.sampled_from([PAGE_URL, "file:///srv/simple/demo/"]),
)
def test_json_one_pass_filter_matches_the_slow_path(
    entries: list[tuple[str, str]], page_url: str
) -> None:
    """The one comprehension that keeps usable files with an allowed scheme gives what
    resolving every URL and then dropping the disallowed schemes gives."""
    doc = {"meta": {"api-version": "1.1"}, "files": [{"filename": f, "url": u} for f, u in entries]}
    page = parse_project_page(json.dumps(doc).encode(), JSON_CONTENT_TYPE, page_url, "demo")
    allowed = ("https://", "http://", "file:") if page_url.startswith("file:") else REMOTE
    decoded = [IndexFile.build(f, u) for f, u in entries]
    slow = [f for f in parse._finish_json_files(decoded, 0, page_url) if f.url.startswith(allowed)]
    assert [view(f) for f in page.files] == [view(f) for f in slow]


def test_json_remote_page_drops_local_urls_and_resolves_relative_ones() -> None:
    doc = {
        "files": [
            {"filename": "demo-1.0.tar.gz", "url": "file:///dev/zero"},
            {"filename": "demo-1.1.tar.gz", "url": "../../files/demo-1.1.tar.gz"},
            {"filename": "demo-1.2.egg", "url": "https://files.example/demo-1.2.egg"},
            {"filename": "demo-1.3.tar.gz", "url": "https://files.example/demo-1.3.tar.gz"},
        ]
    }
    page = parse_project_page(json.dumps(doc).encode(), JSON_CONTENT_TYPE, PAGE_URL, "demo")
    assert [f.url for f in page.files] == [
        "https://example.org/files/demo-1.1.tar.gz",
        "https://files.example/demo-1.3.tar.gz",
    ]


@pytest.mark.parametrize(
    ("page_url", "local"), [(PAGE_URL, False), ("file:///srv/simple/demo/", True)]
)
def test_only_a_local_page_may_link_local_files(page_url: str, local: bool) -> None:
    doc = {"files": [{"filename": "demo-1.0.tar.gz", "url": "file:///srv/demo-1.0.tar.gz"}]}
    page = parse_project_page(json.dumps(doc).encode(), JSON_CONTENT_TYPE, page_url, "demo")
    assert page.local_files is local
    assert len(page.files) == (1 if local else 0)
    html = parse_project_page(b'<a href="x/demo-1.0.tar.gz">x</a>', HTML, page_url, "demo")
    assert html.local_files is local
