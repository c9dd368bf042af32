"""Pure parsing of index responses into :class:`~pipfresh.models.ProjectPage`.

``(bytes, content type, url) -> ProjectPage`` for PEP 691 JSON and PEP 503 HTML
pages, plus the filename helpers that selection calls for every file of every page.

Speed shapes this module (see ``benchmarks/parse_formats.py``): a scan parses tens
of megabytes of index pages, so

* JSON is decoded by msgspec straight into small typed structs that skip every key
  we do not read; a page that does not fit the schema is re-read by a lenient path
  that drops bad entries one by one instead of failing the page;
* HTML is read by finding start tags with ``str.find`` and a small attribute regex
  instead of ``html.parser``, which is four times slower on multi-megabyte pages;
  the scan stays linear on any input, however broken;
* the filename helpers are plain string operations: ``packaging``'s parser
  validates far more than selection needs and costs microseconds per file.

Only :func:`parse_find_links_dir` touches the file system (it lists a folder).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from html import unescape
from urllib.parse import unquote, urljoin

import msgspec
from msgspec.structs import replace

from pipfresh.errors import MalformedPage
from pipfresh.models import IndexFile, ProjectPage

__all__ = [
    "JSON_CONTENT_TYPE",
    "parse_find_links_dir",
    "parse_find_links_html",
    "parse_project_page",
    "version_from_filename",
    "wheel_tags",
]

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
_HTML_CONTENT_TYPES = frozenset({"application/vnd.pypi.simple.v1+html", "text/html"})

# Lowercase. _sdist_stem strips the first that matches, so the compound suffixes must
# come before the plain ".tar".
_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar")
_USABLE_SUFFIXES = (".whl", *_SDIST_SUFFIXES)
_ABSOLUTE_PREFIXES = ("https://", "http://", "file:")
_REMOTE_PAGE_SCHEMES = ("https://", "http://")
_LOCAL_PAGE_SCHEMES = ("https://", "http://", "file:")

_DASH_RUNS = re.compile(r"-{2,}")


# --------------------------------------------------------------------------- names


def _canonical(name: str) -> str:
    """PEP 503 normalisation without a regex in the common case (no separator runs)."""
    s = name.lower().replace("_", "-").replace(".", "-")
    if "--" in s:
        s = _DASH_RUNS.sub("-", s)
    return s


def _sdist_stem(filename: str) -> str | None:
    lower = filename.lower()
    for suffix in _SDIST_SUFFIXES:
        if lower.endswith(suffix):
            return filename[: -len(suffix)]
    return None


def version_from_filename(filename: str, project: str) -> str | None:
    """The raw version in a wheel or sdist filename, if the file belongs to ``project``.

    ``project`` must already be canonical. The result is not validated as PEP 440:
    selection parses it and skips what does not parse. ``None`` means the file is for
    another project, is neither a wheel nor an sdist, or has no version part.
    """
    if filename[-4:].lower() == ".whl":
        parts = filename[:-4].split("-")
        if len(parts) not in (5, 6) or not parts[1]:
            return None
        if len(parts) == 6 and not parts[2][:1].isdigit():
            return None
        return parts[1] if _canonical(parts[0]) == project else None
    stem = _sdist_stem(filename)
    if stem is None:
        return None
    # The name part may be spelled with any mix of "-", "_", "." and case, so its
    # length is not known; try the same length as the canonical name first (by far
    # the common case), then every dash as the name/version boundary.
    n = len(project)
    if stem[n : n + 1] == "-" and _canonical(stem[:n]) == project:
        version = stem[n + 1 :]
    else:
        version = ""
        i = stem.find("-")
        while i > 0:
            if _canonical(stem[:i]) == project:
                version = stem[i + 1 :]
                break
            i = stem.find("-", i + 1)
    # A version starts with a digit (or PEP 440's tolerated "v"); anything else means
    # the boundary was wrong, e.g. "foo-bar-1.0" seen as project "foo".
    if not version or not (version[0].isdigit() or version[0] in "vV"):
        return None
    return version


def wheel_tags(filename: str) -> frozenset[str]:
    """Expanded, lowercased ``interpreter-abi-platform`` tags of a wheel filename.

    Compressed tag sets (``py2.py3-none-any``) are expanded into every combination;
    anything that is not a well-formed wheel name gives an empty set.
    """
    if filename[-4:].lower() != ".whl":
        return frozenset()
    parts = filename[:-4].lower().split("-")
    if len(parts) not in (5, 6):
        return frozenset()
    pys, abis, plats = parts[-3], parts[-2], parts[-1]
    if "." not in pys and "." not in abis and "." not in plats:
        if not (pys and abis and plats):
            return frozenset()
        return frozenset((f"{pys}-{abis}-{plats}",))
    py_list, abi_list, plat_list = pys.split("."), abis.split("."), plats.split(".")
    if "" in py_list or "" in abi_list or "" in plat_list:
        return frozenset()
    return frozenset(f"{p}-{a}-{x}" for p in py_list for a in abi_list for x in plat_list)


def _usable(filename: str) -> bool:
    # Indexes almost always use lowercase suffixes; lower() only on the rare miss.
    return filename.endswith(_USABLE_SUFFIXES) or filename.lower().endswith(_USABLE_SUFFIXES)


def _split_fragment(url: str) -> tuple[str, str | None]:
    """Drop a URL fragment, returning the sha256 it carried (PEP 503 ``#sha256=``)."""
    url, _, fragment = url.partition("#")
    if fragment.startswith("sha256=") and "&" not in fragment:
        return url, fragment[7:] or None
    sha256 = None
    for item in fragment.split("&"):
        key, _, value = item.partition("=")
        if key == "sha256" and value:
            sha256 = value
    return url, sha256


def _filename_from_url(url: str) -> str:
    path = url.partition("?")[0]
    name = path.rpartition("/")[2]
    return unquote(name) if "%" in name else name


# --------------------------------------------------------------------------- dispatch


def parse_project_page(
    body: bytes,
    content_type: str,
    url: str,
    project: str,
    *,
    filter_project: bool = False,
) -> ProjectPage:
    """Parse one index response for ``project`` into a :class:`ProjectPage`.

    ``url`` is the page's own (final) URL, used to resolve relative links.
    ``filter_project`` keeps only files whose name belongs to ``project``: for
    find-links pages, which may list files of many projects.

    Raises :class:`MalformedPage` when the response is not a usable project page;
    single bad entries on a good page are skipped.
    """
    canonical = _canonical(project)
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    versions: list[str] | None = None
    # A remote page may only point at the web: "file:///dev/zero" (or a FIFO, or
    # ftp:) on an index someone else runs must not make pipfresh read local files.
    # A local page (file:// index, find-links file) may link local files as well.
    allowed = _LOCAL_PAGE_SCHEMES if url.startswith("file:") else _REMOTE_PAGE_SCHEMES
    if media_type == JSON_CONTENT_TYPE:
        files, versions = _parse_json(body, url, canonical, allowed)
    elif media_type in _HTML_CONTENT_TYPES:
        files = _parse_html(_decode_html(body, params, canonical), url, canonical)
        files = _only_schemes(files, allowed)
    else:
        shown = content_type.strip()[:80] or "none"
        raise MalformedPage(f"unexpected content type {shown!r}", project=canonical)
    if filter_project:
        files = [f for f in files if version_from_filename(f.filename, canonical) is not None]
        versions = None
    return ProjectPage(
        name=canonical,
        files=tuple(files),
        versions=None if versions is None else tuple(versions),
        local_files=allowed is _LOCAL_PAGE_SCHEMES,
    )


def parse_find_links_html(body: bytes, content_type: str, url: str, project: str) -> ProjectPage:
    """A find-links HTML page: any index page, keeping only ``project``'s files."""
    return parse_project_page(body, content_type, url, project, filter_project=True)


def parse_find_links_dir(path: str, project: str) -> ProjectPage:
    """The wheels and sdists of ``project`` in a local find-links folder (not recursive).

    Raises :class:`MalformedPage` when the folder cannot be listed.
    """
    canonical = _canonical(project)
    try:
        entries = [e for e in os.scandir(path) if e.is_file()]
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise MalformedPage(
            f"cannot list find-links folder: {reason}", project=canonical, url=path
        ) from exc
    from pathlib import Path  # only find-links folders need it; keeps import time down

    files = [
        IndexFile(e.name, Path(os.path.abspath(e.path)).as_uri())
        for e in sorted(entries, key=lambda e: e.name)
        if _usable(e.name) and version_from_filename(e.name, canonical) is not None
    ]
    return ProjectPage(name=canonical, files=tuple(files))


# --------------------------------------------------------------------------- JSON


class _Meta(msgspec.Struct, gc=False):
    api_version: str = msgspec.field(default="1.0", name="api-version")


class _Page(msgspec.Struct, gc=False):
    files: list[IndexFile]
    meta: _Meta | None = None
    versions: list[str] | None = None  # PEP 700


class _RawFiles(msgspec.Struct, gc=False):
    files: list[msgspec.Raw]


_page_decoder = msgspec.json.Decoder(_Page)
_raw_files_decoder = msgspec.json.Decoder(_RawFiles)
_file_decoder = msgspec.json.Decoder(IndexFile)
_any_decoder = msgspec.json.Decoder()


def _only_schemes(files: list[IndexFile], allowed: tuple[str, ...]) -> list[IndexFile]:
    if all(f.url.startswith(allowed) for f in files):
        return files
    return [f for f in files if f.url.startswith(allowed)]


def _parse_json(
    body: bytes, page_url: str, project: str, allowed: tuple[str, ...]
) -> tuple[list[IndexFile], list[str] | None]:
    """The usable files of a JSON page whose URLs have an ``allowed`` scheme (each one
    of _ABSOLUTE_PREFIXES), and its PEP 700 versions list."""
    try:
        page = _page_decoder.decode(body)
    except msgspec.ValidationError:
        # Valid JSON that does not fit the schema somewhere: redo it entry by entry.
        return _only_schemes(_parse_json_lenient(body, page_url, project), allowed), None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        # msgspec reports bad UTF-8 inside a string it reads as UnicodeDecodeError, and
        # nesting beyond its depth limit as RecursionError.
        raise MalformedPage(f"invalid JSON: {exc}", project=project) from exc
    if page.meta is not None:
        _check_api_version(page.meta.api_version, project)
    files = page.files
    # PyPI gives absolute, fragment-free URLs on the web, so when the body has no "#"
    # at all, one comprehension over the files keeps the usable ones (old projects
    # list .egg and .exe files) whose scheme is allowed (so absolute: nothing to
    # resolve). Only when it drops a file is a second pass needed, to tell an unusable
    # file (fine) from a URL to resolve or refuse (the slow path).
    if b"#" not in body:
        usable = [
            f
            for f in files
            if f.url.startswith(allowed)
            and (f.filename.endswith(_USABLE_SUFFIXES) or _usable(f.filename))
        ]
        if len(usable) == len(files) or all(f.url.startswith(allowed) for f in files):
            return usable, page.versions
    return _only_schemes(_finish_json_files(files, 0, page_url), allowed), page.versions


def _finish_json_files(files: list[IndexFile], start: int, page_url: str) -> list[IndexFile]:
    """Drop unusable files and resolve URLs from ``start`` on (the slow, rare path)."""
    out = files[:start]
    for f in files[start:]:
        if not f.filename or not _usable(f.filename):
            continue
        url, hashes_json = f.url, f.hashes_json
        if "#" in url:
            url, fragment_sha = _split_fragment(url)
            if fragment_sha and not f.sha256:
                hashes = {**(f.hashes or {}), "sha256": fragment_sha}
                hashes_json = msgspec.Raw(msgspec.json.encode(hashes))
        if not url.startswith(_ABSOLUTE_PREFIXES):
            url = urljoin(page_url, url)
        changed = url is not f.url or hashes_json is not f.hashes_json
        out.append(replace(f, url=url, hashes_json=hashes_json) if changed else f)
    return out


def _check_api_version(version: str, project: str) -> None:
    # PEP 629: a client must refuse a major version it does not know.
    if version.partition(".")[0].strip() != "1":
        raise MalformedPage(f"unsupported repository API version {version[:20]!r}", project=project)


def _parse_json_lenient(body: bytes, page_url: str, project: str) -> list[IndexFile]:
    """The same result as the typed path for good entries; bad entries are dropped.

    An entry with a field of the wrong type is dropped whole rather than read
    without that field: a file whose ``requires-python`` cannot be read must not
    look as if it fits every interpreter.
    """
    try:
        doc = _any_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        # The typed pass can reject a page for its shape before reaching a syntax error.
        raise MalformedPage(f"invalid JSON: {exc}", project=project) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise MalformedPage("JSON page has no 'files' list", project=project)
    meta = doc.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("api-version"), str):
        _check_api_version(meta["api-version"], project)
    out: list[IndexFile] = []
    # The entries again as undecoded JSON, so each one goes through the same typed
    # decoder as on the fast path and good entries read identically on both.
    for entry in _raw_files_decoder.decode(body).files:
        try:
            out.append(_file_decoder.decode(entry))
        except msgspec.ValidationError:
            continue
    return _finish_json_files(out, 0, page_url)


# --------------------------------------------------------------------------- HTML

# Start tags are found in one linear pass: the tag name, then the first ">". When the
# attribute text holds quotes that may not be balanced there (a value such as ">=3.8"
# that the server did not escape), the tag's end is found again by _tag_end, which
# skips quoted values the way an HTML tokenizer does.
_A_START = re.compile(r"<a\s", re.IGNORECASE)
_BASE_START = re.compile(r"<base\s", re.IGNORECASE)
_META_START = re.compile(r"<meta\s", re.IGNORECASE)
_ATTR = re.compile(
    r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>`]+)))?""",
)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# Markup that any HTML index page has; its absence means the body is not HTML at all.
_HTML_MARKER = re.compile(r"<(?:!doctype|html|head|body|a\s|meta|title)\b", re.IGNORECASE)


def _decode_html(body: bytes, params: str, project: str) -> str:
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    try:
        return bytes(body).decode(charset)
    except (UnicodeDecodeError, LookupError) as exc:
        raise MalformedPage(f"HTML page is not valid {charset[:40]}", project=project) from exc


def _unescape(value: str) -> str:
    """html.unescape, with a fast path for the references index pages really use."""
    quick = value.replace("&gt;", ">").replace("&lt;", "<").replace("&quot;", '"')
    quick = quick.replace("&#39;", "'").replace("&#x27;", "'")
    if "&" in quick.replace("&amp;", ""):
        return unescape(value)  # any other reference, or one without its ";"
    return quick.replace("&amp;", "&")


def _attributes(raw: str) -> dict[str, str]:
    """Attribute name (lowercased) -> unescaped value ("" for a bare attribute)."""
    attrs: dict[str, str] = {}
    for name, dq, sq, bare in _ATTR.findall(raw):
        key = name.lower()
        if key not in attrs:  # HTML: the first occurrence of an attribute wins
            value = dq or sq or bare
            attrs[key] = _unescape(value) if "&" in value else value
    return attrs


def _tag_end(text: str, begin: int) -> int:
    """Index of the ">" that ends a start tag whose attributes start at ``begin``.

    A quote opens a value only right after "="; an unterminated value runs to the end
    of the document, as in a browser, and then -1 is returned. Quotes are searched
    for only up to the next ">", and each search starts where the last one stopped,
    so every character is looked at a bounded number of times: broken markup cannot
    make this quadratic.
    """
    i = begin
    gt = dq = sq = -2  # -2: not searched yet; -1: none before gt
    while True:
        if gt < i:
            gt = text.find(">", i)
            if gt < 0:
                return -1
            dq = sq = -2
        if dq == -2 or 0 <= dq < i:
            dq = text.find('"', i, gt)
        if sq == -2 or 0 <= sq < i:
            sq = text.find("'", i, gt)
        q = sq if dq < 0 or 0 <= sq < dq else dq
        if q < 0:
            return gt
        if text[i:q].rstrip().endswith("="):
            close = text.find(text[q], q + 1)
            if close < 0:
                return -1
            i = close + 1
        else:
            i = q + 1


def _raw_tags(start: re.Pattern[str], text: str) -> Iterator[str]:
    """The raw attribute text of every start tag that ``start`` finds, in order."""
    pos = 0
    while (match := start.search(text, pos)) is not None:
        begin = match.end()
        end = text.find(">", begin)
        if end < 0:
            return
        raw = text[begin:end]
        dq, sq = raw.count('"'), raw.count("'")
        if dq % 2 or sq % 2 or (dq and sq):  # a quoted value may hold a ">"
            end = _tag_end(text, begin)
            if end < 0:
                return
            raw = text[begin:end]
        yield raw
        pos = end + 1


def _parse_html(text: str, page_url: str, project: str) -> list[IndexFile]:
    if not _HTML_MARKER.search(text):
        raise MalformedPage("response is not an HTML index page", project=project)
    if "<!--" in text:
        text = _COMMENT.sub("", text)
    # <base> and <meta> belong in the head: look only before the first link, so a
    # multi-megabyte page is not scanned twice more.
    first = _A_START.search(text)
    head = text if first is None else text[: first.start()]
    if "pypi:repository-version" in head:
        for raw in _raw_tags(_META_START, head):
            attrs = _attributes(raw)
            version = attrs.get("content")
            if attrs.get("name") == "pypi:repository-version" and version:
                _check_api_version(version, project)
    base_url = _base_href(_raw_tags(_BASE_START, head), page_url)
    files: list[IndexFile] = []
    for raw in _raw_tags(_A_START, text):
        built = _html_file(raw, base_url)
        if built is not None:
            files.append(built)
    return files


def _base_href(tags: Iterable[str], page_url: str) -> str:
    for raw in tags:
        href = _attributes(raw).get("href")
        if href:
            return urljoin(page_url, href.strip())
    return page_url


def _html_file(raw_attrs: str, base_url: str) -> IndexFile | None:
    attrs = _attributes(raw_attrs)
    href = attrs.get("href")
    if not href:
        return None
    href = href.strip()
    url, sha256 = _split_fragment(href) if "#" in href else (href, None)
    if not url.startswith(_ABSOLUTE_PREFIXES):
        url = urljoin(base_url, url)
    filename = _filename_from_url(url)
    if not filename or not _usable(filename):
        return None
    has_metadata = "data-core-metadata" in attrs or "data-dist-info-metadata" in attrs
    yanked = attrs.get("data-yanked")
    return IndexFile.build(
        filename,
        url,
        requires_python=attrs.get("data-requires-python") or None,
        yanked=False if yanked is None else (yanked or True),
        hashes={"sha256": sha256} if sha256 else None,
        core_metadata=has_metadata,
    )
