"""Requires-Python of local wheels that their page does not give.

A ``file://`` index or a find-links folder lists files without ``Requires-Python``
(HTML pages and bare folders rarely carry it). pip reads it from the wheel's own
metadata before it installs, and refuses a release that does not fit; a scan that
took the file for installable everywhere would offer that release. The file is on
this machine, so reading its ``METADATA`` costs a zip directory and one member.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterable
from email.parser import HeaderParser
from urllib.parse import unquote, urlsplit

import msgspec

from pipfresh.models import IndexFile

#: The most of a METADATA member read for its headers (they come first).
MAX_HEADER_BYTES = 256 * 1024


def wheel_requires_python(path: str) -> str | None:
    """The Requires-Python of the local wheel at ``path`` ("" when it declares none;
    None when it cannot be read)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return None
        with zipfile.ZipFile(path) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                return None
            with archive.open(names[0]) as member:
                head = member.read(MAX_HEADER_BYTES)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):
        return None
    text = head.decode("utf-8", "replace").split("\n\n", 1)[0]
    return HeaderParser().parsestr(text).get("Requires-Python") or ""


def _local_path(url: str) -> str | None:
    if not url.startswith("file:"):
        return None
    path = unquote(urlsplit(url).path)
    if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
        path = path[1:]  # pragma: no cover - Windows
    return path


def fill_requires_python(files: Iterable[IndexFile]) -> list[IndexFile]:
    """``files`` with each local wheel lacking Requires-Python given its own metadata's."""
    result: list[IndexFile] = []
    for file in files:
        path = None
        if file.requires_python is None and file.filename.endswith(".whl"):
            path = _local_path(file.url)
        found = None if path is None else wheel_requires_python(path)
        result.append(msgspec.structs.replace(file, requires_python=found) if found else file)
    return result


__all__ = ["fill_requires_python", "wheel_requires_python"]
