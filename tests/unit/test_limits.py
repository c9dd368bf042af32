"""BoundedDecoder: the same bytes as zlib for every encoding the client asks for, fed in
any chunking, and never more than the limit produced for a bomb."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest

from pipfresh.index.limits import STEP, BoundedDecoder, DecodeFailed, Exceeded, describe_size

DATA = os.urandom(50_000) + bytes(3 * STEP + 123)  # incompressible, then very compressible


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODED = {
    "gzip": gzip.compress(DATA),
    "x-gzip": gzip.compress(DATA),
    "deflate": zlib.compress(DATA),
    "deflate-raw": raw_deflate(DATA),
    "identity": DATA,
    "": DATA,
}


def decode(encoding: str, body: bytes, limit: int | None, chunk: int) -> bytes:
    header = "deflate" if encoding == "deflate-raw" else encoding
    decoder = BoundedDecoder(header, limit)
    parts: list[bytes] = []
    for start in range(0, len(body), chunk):
        out = decoder.feed(body[start : start + chunk])
        assert all(len(p) <= STEP for p in out) or not decoder.encoded
        parts.extend(out)
    decoder.finish()
    return b"".join(parts)


@pytest.mark.parametrize("encoding", sorted(ENCODED))
@pytest.mark.parametrize("chunk", [1, 7, 65536, 1 << 30])
def test_decodes_exactly_in_any_chunking(encoding: str, chunk: int) -> None:
    if chunk == 1 and encoding in ("identity", ""):
        chunk = 4096  # byte by byte through an identity body only costs time
    assert decode(encoding, ENCODED[encoding], None, chunk) == DATA


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw"])
def test_a_body_of_exactly_the_limit_is_accepted_one_more_byte_is_not(encoding: str) -> None:
    assert decode(encoding, ENCODED[encoding], len(DATA), 65536) == DATA
    with pytest.raises(Exceeded) as caught:
        decode(encoding, ENCODED[encoding], len(DATA) - 1, 65536)
    assert str(caught.value) == f"larger than {describe_size(len(DATA) - 1)} decoded"


def test_a_bomb_never_inflates_past_the_limit() -> None:
    body = gzip.compress(bytes(256 << 20), 9)  # 256 MB in about 250 KB
    decoder = BoundedDecoder("gzip", 1 << 20)
    produced = 0

    def feed_all() -> None:
        nonlocal produced
        for start in range(0, len(body), 65536):
            produced += sum(map(len, decoder.feed(body[start : start + 65536])))

    with pytest.raises(Exceeded):
        feed_all()
    assert produced <= 1 << 20


def test_several_gzip_members_are_one_body() -> None:
    body = gzip.compress(b"one ") + gzip.compress(b"two")
    assert decode("gzip", body, None, 3) == b"one two"


def test_stacked_encodings_are_undone_last_first() -> None:
    body = zlib.compress(gzip.compress(DATA))
    assert decode("gzip, deflate", body, None, 1000) == DATA


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
def test_an_encoding_not_asked_for_is_refused(encoding: str) -> None:
    with pytest.raises(DecodeFailed, match="unsupported Content-Encoding"):
        BoundedDecoder(encoding, None)


def test_a_cut_short_body_is_an_error() -> None:
    with pytest.raises(DecodeFailed, match="gzip body was cut short"):
        decode("gzip", ENCODED["gzip"][:-20], None, 65536)


def test_an_identity_body_past_the_limit() -> None:
    with pytest.raises(Exceeded):
        decode("identity", DATA, 1000, 65536)


@pytest.mark.parametrize(
    ("size", "text"), [(64 << 20, "64 MB"), (16 << 10, "16 KB"), (1000, "1000 bytes")]
)
def test_describe_size(size: int, text: str) -> None:
    assert describe_size(size) == text
