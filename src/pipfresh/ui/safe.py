"""Make untrusted text safe to print on a terminal.

Names, versions, filenames and error reasons come from indexes, wheels and installed
metadata: an ESC in any of them could recolour the terminal, move the cursor, rewrite
its title, or (with a bidi override) show text in another order than it is.
"""

from __future__ import annotations

import unicodedata

# Cc: C0, DEL and C1 controls; Cf: format characters (bidi overrides and isolates,
# zero-width joiners, soft hyphen...); Cs: lone surrogates; Co: private use; Cn:
# unassigned; Zl/Zp: line and paragraph separators, which some terminals break on.
_UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every control, format or otherwise invisible code point written as
    a Python-style escape (``\\x1b``, ``\\u202e``); ordinary Unicode (accented letters,
    CJK) is left alone, and so is the space. Pure; the common ASCII case costs one
    check."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        _escape(c)
        if c != " " and (not c.isprintable() or unicodedata.category(c) in _UNSAFE_CATEGORIES)
        else c
        for c in text
    )
