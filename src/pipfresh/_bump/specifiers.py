"""A new specifier in the style written (pure).

:func:`new_specifier` rewrites only the version text of each clause; operators, the
order of clauses, commas and every space stay as written. The rule, clause by clause,
for a proposed release ``P``:

``==V``
    becomes ``==P`` (the version exactly as the index gives it) unless ``V == P``.
``==V.*`` (and ``!=`` never)
    becomes ``==`` P's first *n* release segments ``.*`` (n as written) when it
    excludes ``P``; a wildcard names no minimum, so one that admits ``P`` is kept.
``===V``
    becomes ``===P`` unless the text is already ``P``'s.
``>=V`` and ``~=V``
    become P cut or padded with zeros to the number of release segments written
    (``>=1.2`` -> ``>=2.0`` for 2.0.1, ``~=1.2.3`` -> ``~=2.0.1``, ``>=1`` -> ``>=2``),
    when that is above ``V``; ``>=2.0`` stays for 2.0.5 (nothing older is named at
    the precision written). A pre-release or dev ``P`` keeps its suffix
    (``>=1.2`` -> ``>=2.1rc1`` for 2.1.0rc1), so the bound still admits it. For
    ``~=`` at least two segments are kept (PEP 440 needs them).
``<V``
    when it excludes ``P``, moves to the next release after ``P`` at the level it caps:
    the position of ``V``'s last non-zero release segment (``<2`` and ``<2.0`` cap a
    major: ``<3`` / ``<3.0`` for 2.0.1, which is the issue's "next major after
    latest"; ``<1.5`` caps a minor: ``<1.8`` for 1.7.2). Written segment count and a
    written pre/dev suffix (``<3.0a0``, ``<3.dev0``) are kept.
``<=V``
    when it excludes ``P``, becomes ``<=P`` (P's release padded to the segments
    written; an inclusive cap cut shorter would exclude ``P`` again).
``>V`` and ``!=V``
    are the user's exclusions and are kept as written.

The result is ``None`` when nothing changes: the specifier already admits ``P`` and
names no older minimum, or it is empty, or a clause kept as written (``>``, ``!=``)
excludes ``P``, which a bump must not undo (:func:`blocking_clause` names it). A string
result always parses and admits ``P`` (pre-releases allowed), and has as many clauses,
in the same order, as ``old``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import Version

__all__ = ["blocking_clause", "new_specifier"]

_CLAUSE = re.compile(r"^(\s*)(~=|===|==|!=|<=|>=|<|>)(\s*)(.*?)(\s*)$", re.DOTALL)


@dataclass(frozen=True)
class _Clause:
    lead: str
    op: str
    gap: str
    version: str
    trail: str

    def with_version(self, version: str) -> str:
        return f"{self.lead}{self.op}{self.gap}{version}{self.trail}"

    def text(self) -> str:
        return self.with_version(self.version)


def _clauses(old: str) -> list[_Clause | str]:
    """The clauses of ``old``; an empty part (a trailing comma, which packaging accepts)
    stays as its text."""
    SpecifierSet(old)  # raises InvalidSpecifier (a ValueError) for text pip would reject
    out: list[_Clause | str] = []
    for part in old.split(","):
        if not part.strip():
            out.append(part)
            continue
        match = _CLAUSE.match(part)
        if match is None:  # pragma: no cover - SpecifierSet accepted it
            raise ValueError(f"not a specifier clause: {part!r}")
        out.append(_Clause(*match.groups()))
    return out


def _epoch(proposed: Version) -> str:
    return f"{proposed.epoch}!" if proposed.epoch else ""


def _release(values: tuple[int, ...]) -> str:
    return ".".join(str(v) for v in values)


def _fit(release: tuple[int, ...], count: int) -> tuple[int, ...]:
    """``release`` cut or padded with zeros to ``count`` segments."""
    return (release + (0,) * count)[:count]


def _suffix(version: Version) -> str:
    """The pre-release and dev parts of a version, normalised (``rc1``, ``.dev0``)."""
    text = ""
    if version.pre is not None:
        text += f"{version.pre[0]}{version.pre[1]}"
    if version.dev is not None:
        text += f".dev{version.dev}"
    return text


def _written_count(version: str) -> int:
    return len(Version(version.removesuffix(".*")).release)


def _lower(clause: _Clause, proposed: Version) -> str:
    """``>=`` / ``~=``: raise the minimum at the precision written."""
    count = _written_count(clause.version)
    if clause.op == "~=":
        count = max(count, 2)
    text = _epoch(proposed) + _release(_fit(proposed.release, count)) + _suffix(proposed)
    if Version(text) > Version(clause.version):
        return clause.with_version(text)
    return clause.text()


def _upper(clause: _Clause, proposed: Version) -> str:
    """``<``: move the cap past ``proposed`` at the level it caps."""
    written = Version(clause.version)
    count = len(written.release)
    level = max((i for i, v in enumerate(written.release) if v), default=0)
    base = list(_fit(proposed.release, max(count, level + 1)))
    base = base[: level + 1]
    base[level] += 1
    release = tuple(base) + (0,) * (count - len(base))
    return clause.with_version(_epoch(proposed) + _release(release) + _suffix(written))


def _inclusive_upper(clause: _Clause, proposed: Version) -> str:
    count = max(_written_count(clause.version), len(proposed.release))
    text = _epoch(proposed) + _release(_fit(proposed.release, count)) + _suffix(proposed)
    if proposed.post is not None:
        text += f".post{proposed.post}"
    return clause.with_version(text)


def _wildcard(clause: _Clause, proposed: Version) -> str:
    count = _written_count(clause.version)
    return clause.with_version(_epoch(proposed) + _release(_fit(proposed.release, count)) + ".*")


def _admits(text: str, proposed: Version) -> bool:
    return Specifier(text.strip()).contains(proposed, prereleases=True)


def _rewrite(clause: _Clause | str, proposed: Version) -> str:
    if isinstance(clause, str):
        return clause
    op, version = clause.op, clause.version
    admitted = _admits(clause.text(), proposed)
    if op == "==" and version.endswith(".*"):
        return clause.text() if admitted else _wildcard(clause, proposed)
    if op == "==":
        return clause.text() if admitted else clause.with_version(str(proposed))
    if op == "===":
        return clause.text() if version == str(proposed) else clause.with_version(str(proposed))
    if op in (">=", "~="):
        return _lower(clause, proposed)
    if op == "<":
        return clause.text() if admitted else _upper(clause, proposed)
    if op == "<=":
        return clause.text() if admitted else _inclusive_upper(clause, proposed)
    return clause.text()  # ">" and "!=": the user's exclusions


def new_specifier(old: str, proposed: Version) -> str | None:
    """``old`` with each clause's version text moved to admit ``proposed``, or None when
    nothing changes (see the module docstring for the rule).

    Raises :class:`ValueError` (``packaging``'s ``InvalidSpecifier``) when ``old`` is
    not a specifier.
    """
    if not old.strip():
        return None
    clauses = _clauses(old)
    new = ",".join(_rewrite(clause, proposed) for clause in clauses)
    if new == old or not SpecifierSet(new).contains(proposed, prereleases=True):
        return None
    return new


def blocking_clause(old: str, proposed: Version) -> str | None:
    """The clause of ``old`` (stripped) that a bump keeps and that excludes ``proposed``
    (a ``!=`` of that release, a ``>`` at or above it, a minimum above it), or None."""
    if not old.strip():
        return None
    for clause in _clauses(old):
        if isinstance(clause, str):
            continue
        rewritten = _rewrite(clause, proposed)
        if not _admits(rewritten, proposed):
            return clause.text().strip()
    return None
