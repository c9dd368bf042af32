"""The bounds on what an index may make pipfresh hold or wait for, and decoding within them.

An index is not trusted to be small or quick: a 4 MB gzip body can decode to
gigabytes, a server can send one byte a second forever, a wheel can hold a METADATA
member that inflates to 16 GB. Each limit below has a name and a default; going
past one costs the project one error line (:class:`TooLarge`, or a deadline error
from the client), never the run.

Bodies are decoded here rather than by aiohttp: aiohttp inflates a whole chunk at
once, with no bound on what comes out, so the client reads the raw bytes and feeds
them to a :class:`BoundedDecoder`, which stops as soon as the output would pass the
limit (zlib's ``max_length``). Only the encodings the client asks for are decoded
(``gzip`` and ``deflate``, in the standard library); a server that sends ``br`` or
``zstd`` unasked is answering a question nobody put, and that project errors.
"""

from __future__ import annotations

import zlib

from pipfresh.errors import MalformedPage

__all__ = [
    "ACCEPT_ENCODING",
    "IN_MEMORY_WHEEL_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_PAGE_BYTES",
    "MAX_WHEEL_BYTES",
    "MIN_DOWNLOAD_RATE",
    "REQUEST_DEADLINE_FACTOR",
    "RUN_DEADLINE",
    "BoundedDecoder",
    "DecodeFailed",
    "Exceeded",
    "TooLarge",
    "describe_size",
]

#: Decoded bytes of one index or find-links page. The largest PyPI pages are a few
#: tens of MB of JSON; a page past this is refused rather than parsed (parsing
#: takes several times its size in memory).
MAX_PAGE_BYTES = 64 << 20
#: Decoded bytes of one METADATA file (a PEP 658 ``.metadata`` file or the member
#: of a wheel). Real ones are a few KB, with a long description up to a few MB.
MAX_METADATA_BYTES = 16 << 20
#: A wheel downloaded only to read its METADATA is kept in memory for the install
#: up to this size; a larger one is streamed to a temporary file and not kept.
IN_MEMORY_WHEEL_BYTES = 32 << 20
#: A wheel downloaded only to read its METADATA, when the index gives no size: the
#: largest real wheels (CUDA builds) are about 3 GB.
MAX_WHEEL_BYTES = 4 << 30
#: One request (headers and body) must finish within this many times ``--timeout``:
#: ``--timeout`` bounds each read, so a server dripping one byte a second would
#: otherwise never time out. A deadline that passes is not retried.
REQUEST_DEADLINE_FACTOR = 3
#: A streamed download (:meth:`IndexClient.download_to`) may run past its deadline
#: while it keeps averaging at least this many bytes a second: a large wheel on a
#: slow link is progress, a drip is not.
MIN_DOWNLOAD_RATE = 64 << 10
#: Seconds of network work one client may do for index pages and metadata; later
#: requests fail at once, each costing its project one line.
RUN_DEADLINE = 600.0
#: What the client asks for; exactly what :class:`BoundedDecoder` can decode.
ACCEPT_ENCODING = "gzip, deflate"


class TooLarge(MalformedPage):
    """An answer is larger than its limit (decoded); the project errors, the run goes on."""


class Exceeded(Exception):
    """Raised by :class:`BoundedDecoder` once the output passes ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {describe_size(limit)} decoded")
        self.limit = limit


class DecodeFailed(Exception):
    """The body cannot be decoded: an encoding not asked for, or damaged data."""


def describe_size(size: int) -> str:
    """``64 MB`` for 64 MiB: the unit a user reads, without a false decimal."""
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MB"
    if size >= 1 << 10 and size % (1 << 10) == 0:
        return f"{size >> 10} KB"
    return f"{size} bytes"


class _Inflater:
    """One zlib stage (gzip, or deflate in its zlib or raw form), bounded."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._gzip = encoding in ("gzip", "x-gzip")
        self._zlib: zlib._Decompress | None = None
        self._head = b""  # deflate: the first bytes tell zlib from raw deflate
        self.eof = False

    def _start(self, data: bytes) -> None:
        if self._gzip:
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return
        # RFC 9110 says "deflate" is the zlib format; some servers send raw deflate,
        # which browsers (and aiohttp) accept. A zlib header is 2 bytes: CMF, FLG.
        is_zlib = (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS if is_zlib else -zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> list[bytes]:
        """Decode ``data`` in parts of at most STEP bytes; raises _Overflow when the
        output would pass ``room`` bytes."""
        if self._zlib is None:
            data = self._head + data
            if not data or (not self._gzip and len(data) < 2):
                self._head = data
                return []
            self._head = b""
            self._start(data)
        return self._drain(data, room)

    def _drain(self, data: bytes, room: int) -> list[bytes]:
        assert self._zlib is not None
        parts: list[bytes] = []
        produced = 0
        try:
            while True:
                if self.eof:
                    if not data or not self._gzip:
                        return parts  # trailing bytes after a deflate stream: ignored
                    # gzip allows several members one after another.
                    self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    self.eof = False
                # At most one byte more than allowed: that proves the excess without
                # ever inflating past the limit; STEP keeps each part small.
                want = min(room - produced + 1, STEP)
                part = self._zlib.decompress(data, want)
                produced += len(part)
                if produced > room:
                    raise _Overflow
                if part:
                    parts.append(part)
                self.eof = self._zlib.eof
                data = self._zlib.unused_data if self.eof else self._zlib.unconsumed_tail
                # A full part may leave output pending inside zlib even with no input.
                if not data and len(part) < want:
                    return parts
        except zlib.error as exc:
            raise DecodeFailed(f"damaged {self._encoding} body ({exc})") from None

    def finish(self) -> None:
        if self._head or (self._zlib is not None and not self.eof):
            raise DecodeFailed(f"{self._encoding} body was cut short")


#: Largest part one inflate call produces: memory per call stays small.
STEP = 1 << 20


class _Overflow(Exception):
    pass


class BoundedDecoder:
    """Decodes a body sent with ``Content-Encoding: content_encoding``, never producing
    more than ``limit`` bytes (None: no bound) at any stage.

    ``feed`` each chunk as it arrives and ``finish`` at the end. Raises
    :class:`Exceeded` past the limit and :class:`DecodeFailed` for an encoding that
    was not asked for, or damaged or cut-short data.
    """

    def __init__(self, content_encoding: str | None, limit: int | None) -> None:
        self.limit = limit
        names = [
            name.strip().lower() for name in (content_encoding or "").split(",") if name.strip()
        ]
        stages: list[_Inflater] = []
        for name in names:
            if name == "identity":
                continue
            if name not in ("gzip", "x-gzip", "deflate"):
                raise DecodeFailed(f"unsupported Content-Encoding {name[:20]!r} (not asked for)")
            stages.append(_Inflater(name))
        # Encodings are listed in the order they were applied: undo the last first.
        self._stages = stages[::-1]
        self._raw = 0
        self.size = 0  # decoded bytes so far

    @property
    def encoded(self) -> bool:
        return bool(self._stages)

    def feed(self, data: bytes) -> list[bytes]:
        """The decoded parts of ``data`` (each at most STEP bytes once encoded)."""
        limit = self.limit
        self._raw += len(data)
        # The raw bytes count too: an identity body is its own decoding, and a
        # compressed body larger than the decoded limit is no page either.
        if limit is not None and self._raw > limit:
            raise Exceeded(limit)
        room = limit if limit is not None else 1 << 62
        parts = [data]
        for i, stage in enumerate(self._stages):
            last = i == len(self._stages) - 1
            out: list[bytes] = []
            for part in parts:
                # Every stage is bounded: the final one by what is left of the limit,
                # an inner one (a bomb inside a bomb) by the limit per call.
                try:
                    decoded = stage.feed(part, room - self.size if last else room)
                except _Overflow:
                    raise Exceeded(room) from None
                if last:
                    self.size += sum(map(len, decoded))
                out.extend(decoded)
            parts = out
        if not self._stages:
            self.size += len(data)
        if limit is not None and self.size > limit:
            raise Exceeded(limit)
        return parts

    def finish(self) -> None:
        for stage in self._stages:
            stage.finish()
