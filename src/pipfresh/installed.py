"""Installed distributions, read from ``*.dist-info`` / ``*.egg-info`` on a target's
``sys.path`` in this process (the first one on the path wins, as in pip).

Only the header part of METADATA is read (Name, Version, Requires-Dist): a scan reads
hundreds of these and email.parser is slow. PEP 610 ``direct_url.json`` marks
editable and direct-URL installs, which are never looked up on an index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from pipfresh.auth import redact_url
from pipfresh.models import InstalledDist, Kind

# ---------------------------------------------------------------------------
# Installed distributions
# ---------------------------------------------------------------------------

_WANTED_HEADERS = frozenset({"name", "version", "requires-dist"})
_WANTED_INITIALS = frozenset("nNvVrR")


def read_installed(sys_path: Sequence[str]) -> list[InstalledDist]:
    """Every distribution on ``sys_path``, the first one of each name winning, as in pip.

    Within one path entry the ``.dist-info``/``.egg-info`` folders come first, then the
    projects that legacy ``.egg-link`` files there point to (pip's order). A
    distribution whose metadata cannot be read, or lacks a name or version, is skipped.
    Zip files and wheels on the path are not looked into (pip skips wheels too).
    """
    seen: set[str] = set()
    found: list[InstalledDist] = []
    for entry in sys_path:
        for dist in _dists_in(entry):
            if dist.canonical_name not in seen:
                seen.add(dist.canonical_name)
                found.append(dist)
    return found


def _dists_in(entry: str) -> Iterator[InstalledDist]:
    try:
        names = sorted(os.listdir(entry))
    except OSError:  # missing, a file (zip/egg), or unreadable
        return
    egg_links = []
    for name in names:
        lower = name.lower()
        if lower.endswith(".dist-info"):
            dist = _read_dist_info(os.path.join(entry, name), entry)
        elif lower.endswith(".egg-info"):
            dist = _read_egg_info(os.path.join(entry, name), entry)
        elif lower.endswith(".egg-link"):
            egg_links.append(os.path.join(entry, name))
            continue
        else:
            continue
        if dist is not None:
            yield dist
    if entry.lower().endswith(".egg") and "EGG-INFO" in names:
        dist = _read_egg_info(os.path.join(entry, "EGG-INFO"), entry)
        if dist is not None:
            yield dist
    for link in egg_links:
        yield from _dists_from_egg_link(link, entry)


def _read_dist_info(folder: str, location: str) -> InstalledDist | None:
    headers = _read_headers(os.path.join(folder, "METADATA"))
    if headers is None:
        return None
    kind, url = _direct_url(os.path.join(folder, "direct_url.json"))
    return _make_dist(
        headers, location, tuple(headers.get("requires-dist", ())), kind, url, metadata_dir=folder
    )


def _read_egg_info(path: str, location: str) -> InstalledDist | None:
    """An ``.egg-info`` folder (PKG-INFO + requires.txt) or a single PKG-INFO-style file."""
    if os.path.isdir(path):
        headers = _read_headers(os.path.join(path, "PKG-INFO"))
        requires = _requires_txt(os.path.join(path, "requires.txt"))
    else:
        headers = _read_headers(path)
        requires = ()
    if headers is None:
        return None
    return _make_dist(headers, location, requires, "index", None, metadata_dir=path)


def _make_dist(
    headers: Mapping[str, list[str]],
    location: str,
    requires: tuple[str, ...],
    kind: Kind,
    url: str | None,
    *,
    metadata_dir: str,
) -> InstalledDist | None:
    name = (headers.get("name") or [""])[0]
    version = (headers.get("version") or [""])[0]
    if not name or not version:
        return None
    return InstalledDist(
        name=name,
        canonical_name=canonicalize_name(name),
        version=version,
        kind=kind,
        location=location,
        requires=requires,
        url=url,
        metadata_dir=metadata_dir,
    )


def _read_headers(path: str) -> dict[str, list[str]] | None:
    """The Name/Version/Requires-Dist headers of a core metadata file.

    Only the header block is read (it ends at the first empty line; the long description
    after it can be large). Folded lines are joined. Bytes that are not UTF-8 are
    replaced rather than fatal: a mis-encoded author name must not hide a package.
    """
    headers: dict[str, list[str]] = {}
    current: list[str] | None = None
    try:
        with open(path, "rb") as f:
            for raw in f:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    break
                if line[0] in " \t":
                    if current is not None:
                        current[-1] = f"{current[-1]} {line.strip()}".strip()
                    continue
                if line[0] not in _WANTED_INITIALS:
                    current = None  # most lines are Classifier and the like
                    continue
                key, colon, value = line.partition(":")
                if not colon:
                    current = None
                    continue
                key = key.strip().lower()
                if key in _WANTED_HEADERS:
                    current = headers.setdefault(key, [])
                    current.append(value.strip())
                else:
                    current = None
    except OSError:
        return None
    return headers


def _requires_txt(path: str) -> tuple[str, ...]:
    """requires.txt of an egg-info, as Requires-Dist strings.

    Its ``[extra]``, ``[:marker]`` and ``[extra:marker]`` sections become markers.
    """
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ()
    requires = []
    condition = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            condition = _section_marker(line[1:-1].strip())
            continue
        requires.append(f"{line}; {condition}" if condition else line)
    return tuple(requires)


def _section_marker(section: str) -> str:
    extra, _, marker = section.partition(":")
    parts = []
    if extra.strip():
        parts.append(f'extra == "{extra.strip()}"')
    if marker.strip():
        parts.append(f"({marker.strip()})" if parts else marker.strip())
    return " and ".join(parts)


def _direct_url(path: str) -> tuple[Kind, str | None]:
    """The install kind that a PEP 610 ``direct_url.json`` records."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return "index", None
    except OSError:
        return "direct_url", None
    try:
        data = json.loads(raw)
    except ValueError:
        # The file says "not from an index" even when its content is unreadable;
        # looking the project up on an index could replace a local build.
        return "direct_url", None
    if not isinstance(data, dict):
        return "direct_url", None
    url = data.get("url")
    shown = redact_url(url) if isinstance(url, str) else None
    dir_info = data.get("dir_info")
    if isinstance(dir_info, dict) and dir_info.get("editable") is True:
        return "editable", shown
    return "direct_url", shown


def _dists_from_egg_link(link: str, location: str) -> Iterator[InstalledDist]:
    """Distributions of a legacy ``setup.py develop`` install, all of them editable."""
    try:
        with open(link, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return
    target = next((line.strip() for line in lines if line.strip()), "")
    if not target:
        return
    project = os.path.normpath(os.path.join(location, target))
    url = Path(project).as_uri() if os.path.isabs(project) else None
    for dist in _dists_in_linked(project):
        yield InstalledDist(
            name=dist.name,
            canonical_name=dist.canonical_name,
            version=dist.version,
            kind="editable",
            location=location,
            requires=dist.requires,
            url=url,
        )


def _dists_in_linked(project: str) -> Iterator[InstalledDist]:
    try:
        names = sorted(os.listdir(project))
    except OSError:
        return
    for name in names:
        lower = name.lower()
        if lower.endswith(".egg-info"):
            dist = _read_egg_info(os.path.join(project, name), project)
        elif lower.endswith(".dist-info"):
            dist = _read_dist_info(os.path.join(project, name), project)
        else:
            continue
        if dist is not None:
            yield dist
