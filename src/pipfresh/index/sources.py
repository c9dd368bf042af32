"""Where a project's files come from, without the network: which configured sources are
usable, local ``file://`` indexes and find-links folders, and merging answers.

Kept apart from :mod:`pipfresh.index.client` so that a scan answered from the cache
and local sources never imports aiohttp.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from pathlib import Path
from typing import TypeGuard
from urllib.parse import SplitResult, unquote, urlsplit

import msgspec

from pipfresh.auth import redact_url, unencoded_userinfo
from pipfresh.errors import ConfigError, NetworkError
from pipfresh.index.limits import MAX_PAGE_BYTES, Exceeded, TooLarge
from pipfresh.index.parse import (
    parse_find_links_dir,
    parse_project_page,
    version_from_filename,
)
from pipfresh.models import IndexFile, ProjectPage
from pipfresh.pipconfig import IndexConfig


@dataclass(frozen=True, slots=True)
class UsableSources:
    index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    warnings: tuple[str, ...]


def usable_sources(config: IndexConfig) -> UsableSources:
    """The configured indexes and find-links locations pipfresh will ask, as pip would.

    Plain-http sources on hosts that are neither trusted nor local are dropped with a
    warning; malformed URLs and an empty result are configuration errors.
    """
    warnings: list[str] = []
    for url in config.index_urls:
        if "://" not in url and not url.startswith("file:"):
            # Unlike --find-links, an index is always a URL; a path here is a mistake.
            raise ConfigError(
                f"index URL {redact_url(url)}: no scheme (use https://..., http://... "
                "or file://...; local folders go in --find-links)"
            )
    index_urls = _secure(config.index_urls, config.trusted_hosts, warnings)
    find_links = _secure(config.find_links, config.trusted_hosts, warnings)
    if not (index_urls or find_links):
        if warnings:
            raise ConfigError("no usable index: " + "; ".join(warnings))
        raise ConfigError("no index to ask: --no-index is set and there is no --find-links")
    return UsableSources(index_urls, find_links, tuple(warnings))


def _secure(
    urls: tuple[str, ...], trusted_hosts: tuple[str, ...], warnings: list[str]
) -> tuple[str, ...]:
    kept = []
    for url in urls:
        if "://" not in url and not url.startswith("file:"):
            kept.append(url)  # a find-links folder or file
            continue
        parts = check_url(url)
        host = parts.hostname or ""
        if parts.scheme == "http" and not is_trusted(url, trusted_hosts) and not is_loopback(host):
            warnings.append(
                f"ignoring {redact_url(url)}: plain http to a host that is not trusted "
                f"(use https, or --trusted-host {host} to allow it)"
            )
            continue
        kept.append(url)
    return tuple(kept)


def is_local(location: str) -> bool:
    """A ``file://`` URL or a path: read from disk, never cached."""
    return location.startswith("file:") or "://" not in location


def read_local(location: str, name: str, *, index: bool) -> ProjectPage | None:
    """A project's page from a ``file://`` index (``index=True``) or a local find-links
    location."""
    if index:
        return read_file_index(location.rstrip("/") + "/" + name + "/", name)
    if location.startswith("file:"):
        from urllib.request import url2pathname  # urllib.request costs ~15 ms to import

        return read_find_links_path(url2pathname(urlsplit(location).path), name)
    return read_find_links_path(location, name)


def is_trusted(url: str, trusted_hosts: tuple[str, ...]) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    with_port = f"{host}:{parts.port}" if parts.port else host
    return host in trusted_hosts or with_port in trusted_hosts


def merge_pages(name: str, pages: list[ProjectPage]) -> ProjectPage:
    """All files from all sources, as pip merges indexes; a file listed twice counts once.

    A file listed without its Requires-Python takes it from another index's listing of
    the same file, or, being local, from its own metadata."""
    # One source speaks one scheme: its first file tells whether it is local.
    if len(pages) == 1 and not (pages[0].files and pages[0].files[0].url.startswith("file:")):
        return pages[0]
    files, copies, starts = _distinct_files(pages)
    if copies:
        _share_requires_python(files, copies)
    # Where each page's files start in the merge (when none was dropped as listed
    # twice): only a page that may link local files is searched for them.
    spans = (
        [
            (start, start + len(page.files))
            for start, page in zip(starts, pages, strict=True)
            if page.local_files
        ]
        if starts is not None
        else [(0, len(files))]
    )
    local = [
        i
        for start, end in spans
        for i in range(start, end)
        if files[i].requires_python is None and files[i].url.startswith("file:")
    ]
    if local:
        from pipfresh.index.localmeta import fill_requires_python

        for i, filled in zip(local, fill_requires_python(files[i] for i in local), strict=True):
            files[i] = filled
    versions: tuple[str, ...] | None = None
    if any(p.versions is not None for p in pages):
        # A small local page (find-links folder, file:// index) has no versions list;
        # one derived from its filenames keeps the merged list complete.
        listed = [p.versions if p.versions is not None else _listed(p) for p in pages]
        if all(v is not None for v in listed):
            versions = tuple(dict.fromkeys(v for vs in listed for v in vs or ()))
    return ProjectPage(
        name=name,
        files=tuple(files),
        versions=versions,
        # Merged with a cached digest, the result is a digest too.
        complete=all(p.complete for p in pages),
        local_files=any(p.local_files for p in pages),
    )


def _distinct_files(
    pages: list[ProjectPage],
) -> tuple[list[IndexFile], list[int], list[int] | None]:
    """The pages' files in order, each (filename, URL) once; the positions of those
    whose filename is listed more than once (the only ones
    :func:`_share_requires_python` can change); where each page's files start, None
    when some file was dropped as listed twice.

    The usual merge is a large index page beside a local index holding a file or two of
    the project. Only a file whose name repeats can repeat its (filename, URL): with
    each page naming a file once, the repeated names are found from each page's
    name -> position table, and no key is built for any other file."""
    tables = [{file.filename: i for i, file in enumerate(page.files)} for page in pages]
    if any(len(table) != len(page.files) for table, page in zip(tables, pages, strict=True)):
        return _distinct_slowly(pages)
    repeated: set[str] = set()
    for j, table in enumerate(tables):
        for earlier in tables[:j]:
            small, large = (table, earlier) if len(table) <= len(earlier) else (earlier, table)
            repeated.update(name for name in small if name in large)
    files = list(chain.from_iterable(page.files for page in pages))
    starts = list(accumulate((len(page.files) for page in pages[:-1]), initial=0))
    if not repeated:
        return files, [], starts
    copies: list[int] = []
    for start, table in zip(starts, tables, strict=True):
        copies.extend(sorted(start + table[name] for name in repeated if name in table))
    keys = {(files[i].filename, files[i].url) for i in copies}
    if len(keys) == len(copies):
        return files, copies, starts
    # A URL listed by two sources: the first listing counts.
    return _distinct_slowly(pages)


def _distinct_slowly(
    pages: list[ProjectPage],
) -> tuple[list[IndexFile], list[int], list[int] | None]:
    by_key: dict[tuple[str, str], IndexFile] = {}
    for page in pages:
        for file in page.files:
            by_key.setdefault((file.filename, file.url), file)
    files = list(by_key.values())
    counts = Counter(file.filename for file in files)
    return files, [i for i, file in enumerate(files) if counts[file.filename] > 1], None


def _share_requires_python(files: list[IndexFile], copies: list[int]) -> None:
    """A mirror or find-links folder lists a file without its Requires-Python (PEP 503
    HTML pages rarely carry it): where another index lists the same file (same name,
    and the same sha256 where both say) with one, it holds for the copy too, as it is
    the same file's metadata. Otherwise the copy would look installable on every
    Python, and the newest release would be one that pip then refuses.

    ``copies`` are the positions of the files whose name is listed more than once: no
    other file can take or lend a Requires-Python."""
    known: dict[str, list[IndexFile]] = {}
    for i in copies:
        file = files[i]
        if file.requires_python is not None:
            known.setdefault(file.filename, []).append(file)
    if not known:
        return
    for i in copies:
        file = files[i]
        if file.requires_python is not None or file.filename not in known:
            continue
        digest = file.sha256
        for other in known[file.filename]:
            if digest is None or other.sha256 is None or other.sha256 == digest:
                files[i] = msgspec.structs.replace(file, requires_python=other.requires_python)
                break


def _listed(page: ProjectPage) -> tuple[str, ...] | None:
    """The versions a page's filenames carry, for a page small enough to read whole
    (None for a large one: then the merged page has no list)."""
    if len(page.files) > 2000:
        return None
    found = (version_from_filename(f.filename, page.name) for f in page.files)
    return tuple(dict.fromkeys(v for v in found if v))


def parse_find_links_filter(page: ProjectPage, name: str) -> ProjectPage | None:
    """The files of one project from a find-links page that lists many; None when it
    lists none of them (see :func:`found`)."""
    files = tuple(f for f in page.files if version_from_filename(f.filename, name) is not None)
    return ProjectPage(name=name, files=files) if files else None


def found(page: ProjectPage | None) -> TypeGuard[ProjectPage]:
    """The one definition of "this source found the project", for the network path
    and the cache path alike: an index found it when it answered with a page (even
    one listing no file: the project exists there), a find-links location only when
    it lists a file of the project. A find-links page or folder is shared by every
    project, so its mere existence says nothing about this one: counting it made a
    cold scan say "up to date" and the warm rerun "not found on any index"."""
    return page is not None


def not_found_reason(index_urls: Sequence[str], find_links: Sequence[str]) -> str:
    """The message for a project no source found, naming every kind of place searched."""
    where = ", ".join(redact_url(u) for u in index_urls)
    if find_links:
        where = ", ".join(filter(None, [where, "find-links"]))
    return f"not found on any index ({where or 'none configured'})"


def open_regular(path: str | os.PathLike[str], *, follow: bool = True) -> int:
    """A read-only fd on ``path`` if it is a regular file, else OSError.

    Opened with O_NONBLOCK, so a FIFO planted where a file is expected cannot block
    (it is then refused by the fstat); ``follow=False`` refuses a symlink too.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], limit: int | None, *, follow: bool = True) -> bytes:
    """The bytes of the regular file ``path``; OSError for anything else, and
    :class:`limits.Exceeded` past ``limit`` bytes."""
    fd = open_regular(path, follow=follow)
    try:
        if limit is not None and os.fstat(fd).st_size > limit:
            raise Exceeded(limit)
        parts = []
        total = 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if limit is not None and total > limit:
                raise Exceeded(limit)
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` resolves to somewhere inside ``folder`` (resolved too)."""
    try:
        real = Path(os.path.realpath(path))
        return real.is_relative_to(os.path.realpath(folder))
    except (OSError, ValueError):
        return False


def read_file_index(page_url: str, name: str) -> ProjectPage | None:
    """A ``file://`` index: the project folder holds an index.html, as pip expects.

    Only a regular file, no larger than MAX_PAGE_BYTES, resolving inside the index
    folder is read: a device, FIFO or a symlink out of the index errors for the project.
    """
    from urllib.request import url2pathname

    folder = Path(url2pathname(unquote(urlsplit(page_url).path)))
    base = folder.parent
    index = folder / "index.html"
    try:
        if not _inside(index, base) and os.path.lexists(index):
            raise NetworkError(
                f"cannot read {index}: it leads outside the index folder {base}", project=name
            )
        body = read_regular(index, MAX_PAGE_BYTES)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except Exceeded as exc:
        raise TooLarge(f"page {exc} ({index})", project=name) from None
    except OSError as exc:
        raise NetworkError(f"cannot read {index}: {exc.strerror or exc}", project=name) from exc
    return parse_project_page(body, "text/html", index.as_uri(), name)


def read_find_links_path(path: str, name: str) -> ProjectPage | None:
    if os.path.isdir(path):
        page = parse_find_links_dir(path, name)
        # A link in the folder may point anywhere: only regular files that stay
        # inside the folder count (never a device, a FIFO, or a file elsewhere).
        kept = tuple(f for f in page.files if _regular_inside(f.url, path))
        if not kept:
            return None  # lists no file of this project: not found here (see found())
        return page if len(kept) == len(page.files) else ProjectPage(name=page.name, files=kept)
    if os.path.exists(path):
        try:
            body = read_regular(path, MAX_PAGE_BYTES)
        except Exceeded as exc:
            raise TooLarge(f"page {exc} ({path})", project=name) from None
        except OSError as exc:
            raise NetworkError(f"cannot read {path}: {exc.strerror or exc}", project=name) from exc
        page = parse_project_page(body, "text/html", Path(path).resolve().as_uri(), name)
        return parse_find_links_filter(page, name)
    return None


def _regular_inside(file_url: str, folder: str) -> bool:
    from urllib.request import url2pathname

    path = Path(url2pathname(unquote(urlsplit(file_url).path)))
    try:
        return stat.S_ISREG(path.stat().st_mode) and _inside(path, Path(folder))
    except OSError:
        return False


def check_url(url: str) -> SplitResult:
    """Split an index URL, or say in one line what is wrong with it."""
    shown = redact_url(url)
    if unencoded_userinfo(url):
        raise ConfigError(
            f"index URL {shown}: the password holds an unencoded '/', '?', '#' or '@' "
            "(percent-encode them: %2F, %3F, %23, %40)"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        # Not the ValueError's text: it may quote a piece of the authority.
        reason = "port is not a number" if "Port" in str(exc) else "not a valid URL"
        raise ConfigError(f"index URL {shown}: {reason}") from None
    if parts.scheme not in ("https", "http", "file"):
        raise ConfigError(
            f"index URL {shown}: unsupported scheme {parts.scheme!r} (use https, http or file)"
        )
    if parts.scheme != "file" and not parts.hostname:
        raise ConfigError(f"index URL {shown}: no host name")
    return parts


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
