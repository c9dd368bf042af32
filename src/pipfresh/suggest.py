"""Pure: "did you mean" for a word that names nothing (a project, a command)."""

from __future__ import annotations

from collections.abc import Iterable


def close_matches(word: str, choices: Iterable[str], *, limit: int = 3) -> list[str]:
    """The choices that look like a typo of ``word``, closest first (case, ``-``/``_``
    and ``.`` differences ignored, as in project names)."""
    import difflib

    def key(text: str) -> str:
        return text.lower().replace("_", "-").replace(".", "-")

    by_key: dict[str, str] = {}
    for choice in choices:
        by_key.setdefault(key(choice), choice)
    found = difflib.get_close_matches(key(word), list(by_key), n=limit, cutoff=0.6)
    return [by_key[k] for k in found]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x' or 'y'?)``, or '' when nothing is close."""
    found = close_matches(word, choices)
    if not found:
        return ""
    return " (did you mean " + " or ".join(f"'{m}'" for m in found) + "?)"
