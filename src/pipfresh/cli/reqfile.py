"""Pure: the project names a requirements file asks for (``pipfresh outdated -r FILE``).

Only names matter here: versions, extras, markers, hashes and pip's options are
read past. ``-r``/``--requirement`` includes are followed (relative to the file
that names them); ``-c`` constraints files name no requirement and are skipped, as
are editable and URL-only lines, which no index could answer.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipfresh.errors import UsageError

_NAME = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*(.*)$")
_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s*=\s*|\s+)(\S+)")


def _logical_lines(text: str) -> list[str]:
    """Lines with comments cut and backslash continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append((pending + line).strip())
        pending = ""
    if pending.strip():
        lines.append(pending.strip())
    return [line for line in lines if line]


def names_in(path: Path, *, _seen: frozenset[Path] = frozenset()) -> list[str]:
    """The project names ``path`` requires, in file order, includes expanded."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read requirements file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"requirements file {path} is not UTF-8 text") from None
    seen = _seen | {path.resolve()}
    names: list[str] = []
    for number, line in enumerate(_logical_lines(text), 1):
        include = _INCLUDE.match(line)
        if include:
            child = (path.parent / include.group(1)).resolve()
            if child in seen:
                raise UsageError(f"{path}: -r {include.group(1)} includes itself")
            names += names_in(child, _seen=seen)
            continue
        if line.startswith("-") or "://" in line.split(";")[0].split("@")[0]:
            continue  # an option (-c, -e, --index-url, ...) or a bare URL
        match = _NAME.match(line)
        if match is None:
            raise UsageError(f"{path}, line {number}: not a requirement: {line!r}")
        names.append(match.group(1))
    return names
