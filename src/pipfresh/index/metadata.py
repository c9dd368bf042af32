"""A remote wheel's METADATA, fetched as cheaply as the index allows.

PEP 658 ``.metadata`` files when the index lists them; else a few HTTP range
requests into the wheel (:mod:`pipfresh.index.lazywheel`); else the whole wheel,
hash-checked, streamed to a temporary file (never whole into memory) and kept in
memory for the install only when it is small (:data:`limits.IN_MEMORY_WHEEL_BYTES`).
Every METADATA is read within :data:`limits.MAX_METADATA_BYTES`, decoded: a zip bomb
costs its project one error line.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pipfresh.errors import IndexError_
from pipfresh.index import lazywheel
from pipfresh.index.limits import (
    IN_MEMORY_WHEEL_BYTES,
    MAX_METADATA_BYTES,
    MAX_WHEEL_BYTES,
    TooLarge,
)
from pipfresh.models import IndexFile

if TYPE_CHECKING:  # aiohttp stays off the import path until a client is made
    from pipfresh.index.client import IndexClient


async def wheel_metadata(
    client: IndexClient, project: str, wheel: IndexFile, fetched: dict[str, bytes]
) -> str:
    """``wheel``'s METADATA text: PEP 658 when served, else read out of the wheel
    with a few range requests, else from the whole wheel.

    A wheel that arrived whole and small (a server ignoring Range, a wheel smaller
    than the first range) is hash-checked and kept for the install, as a download
    is. Raises :class:`TooLarge` for a METADATA past MAX_METADATA_BYTES decoded.
    """
    if wheel.has_metadata:
        declared = wheel.core_metadata or wheel.dist_info_metadata
        digest = declared.get("sha256") if isinstance(declared, dict) else None
        with contextlib.suppress(IndexError_):
            url = wheel.url + ".metadata"
            body = await client.download(
                url, project=project, sha256=digest, max_bytes=MAX_METADATA_BYTES
            )
            return body.decode("utf-8")

    async def fetch(start: int, end: int | None) -> lazywheel.Chunk | None:
        return await client.fetch_range(wheel.url, start, end, project=project, sha256=wheel.sha256)

    try:
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
        with tempfile.TemporaryDirectory(prefix="pipfresh-wheel-") as folder:
            path = Path(folder) / "wheel.whl"
            # No larger than the index says (PEP 700 size), else MAX_WHEEL_BYTES: the
            # temporary folder is no place for an endless body either.
            listed = wheel.size if wheel.size is not None and wheel.size >= 0 else None
            size = await client.download_to(
                wheel.url,
                path,
                project=project,
                sha256=wheel.sha256,
                max_bytes=MAX_WHEEL_BYTES if listed is None else listed,
            )
            if size <= IN_MEMORY_WHEEL_BYTES:
                body = path.read_bytes()
                fetched[wheel.url] = body
                return metadata_from_wheel(body)
            with open(path, "rb") as handle:
                return metadata_from_wheel(handle)
    except lazywheel.MetadataTooLarge as exc:
        raise TooLarge(f"{exc} ({wheel.filename})", project=project) from None


def metadata_from_wheel(wheel: bytes | IO[bytes]) -> str:
    """The ``*.dist-info/METADATA`` of a wheel (its bytes, or an open file), read
    within MAX_METADATA_BYTES decoded (else :class:`lazywheel.MetadataTooLarge`).
    Raises KeyError when there is no single METADATA."""
    source = io.BytesIO(wheel) if isinstance(wheel, bytes) else wheel
    with zipfile.ZipFile(source) as archive:
        members = [
            info
            for info in archive.infolist()
            if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
        ]
        if len(members) != 1:
            raise KeyError("no single .dist-info/METADATA")
        return lazywheel.read_member(archive, members[0], limit=MAX_METADATA_BYTES).decode("utf-8")


__all__ = ["metadata_from_wheel", "wheel_metadata"]
