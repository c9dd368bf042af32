"""A remote wheel's METADATA, fetched as cheaply as the index allows.

PEP 658 ``.metadata`` files when the index lists them; else a few HTTP range
requests into the wheel (:mod:`pipfresh.index.lazywheel`); else the whole wheel,
hash-checked and kept so the install need not download it again.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
from typing import TYPE_CHECKING

from pipfresh.errors import IndexError_
from pipfresh.index import lazywheel
from pipfresh.models import IndexFile

if TYPE_CHECKING:  # aiohttp stays off the import path until a client is made
    from pipfresh.index.client import IndexClient


async def wheel_metadata(
    client: IndexClient, project: str, wheel: IndexFile, fetched: dict[str, bytes]
) -> str:
    """``wheel``'s METADATA text: PEP 658 when served, else read out of the wheel
    with a few range requests, else from the whole wheel.

    A wheel that arrived whole (a server ignoring Range, a wheel smaller than the
    first range) is hash-checked and kept for the install, as a download is.
    """
    if wheel.has_metadata:
        declared = wheel.core_metadata or wheel.dist_info_metadata
        digest = declared.get("sha256") if isinstance(declared, dict) else None
        with contextlib.suppress(IndexError_):
            body = await client.download(wheel.url + ".metadata", project=project, sha256=digest)
            return body.decode("utf-8")

    async def fetch(start: int, end: int | None) -> lazywheel.Chunk | None:
        return await client.fetch_range(wheel.url, start, end, project=project, sha256=wheel.sha256)

    # The index's own failures (network, HTTP status, hash) propagate: a download
    # would meet them too. Only what the ranges could not read falls back to it.
    try:
        found = await lazywheel.fetch_metadata(fetch)
    except lazywheel.LazyWheelError:
        found = None
    if found is not None:
        if found.whole is not None:
            fetched[wheel.url] = found.whole
        return found.text
    body = await client.download(wheel.url, project=project, sha256=wheel.sha256)
    fetched[wheel.url] = body
    return metadata_from_wheel(body)


def metadata_from_wheel(body: bytes) -> str:
    """The ``*.dist-info/METADATA`` of a wheel (raises KeyError when there is none)."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = [
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if len(names) != 1:
            raise KeyError("no single .dist-info/METADATA")
        return archive.read(names[0]).decode("utf-8")


__all__ = ["metadata_from_wheel", "wheel_metadata"]
