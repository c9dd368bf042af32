"""ui.safe.printable: untrusted text escaped for the terminal, ordinary Unicode kept."""

from __future__ import annotations

import json

import pytest

from pipfresh.ui.safe import printable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("requests", "requests"),
        ("2.0.0rc1", "2.0.0rc1"),
        ("café-crème", "café-crème"),
        ("日本語", "日本語"),
        ("a b", "a b"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("nul\x00byte", "nul\\x00byte"),
        ("tab\there", "tab\\x09here"),
        ("line\nbreak\r", "line\\x0abreak\\x0d"),
        ("del\x7f", "del\\x7f"),
        ("c1\x9bcsi", "c1\\x9bcsi"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("iso\u2066late", "iso\\u2066late"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("sep\u2028x", "sep\\u2028x"),
        ("private\ue000", "private\\ue000"),
        ("title\x1b]0;pwned\x07", "title\\x1b]0;pwned\\x07"),
    ],
)
def test_printable(text: str, expected: str) -> None:
    assert printable(text) == expected


def test_printable_output_has_no_control_characters_left() -> None:
    every = "".join(map(chr, range(0x3000)))
    out = printable(every)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)


def test_json_escapes_control_characters_itself() -> None:
    # The JSON outputs stay exact: json.dumps writes \u001b, never the raw byte.
    text = json.dumps({"name": "evil\x1b[2J\x00"})
    assert "\x1b" not in text
    assert "\x00" not in text
    assert json.loads(text)["name"] == "evil\x1b[2J\x00"
