"""pip's constraints files (``constraint`` in pip's config, ``PIP_CONSTRAINT``, ``-c``).

A constraints file limits which versions may be installed without asking for any.
pipfresh gives their lines for installed projects to the rest of the scan and the
update as the requirements of one pseudo-distribution, named after the files: the
wanted version, the plan and the resolver then honour them as they honour any
installed package's requirement, and the report says who holds a package back
("held back by constraints.txt (torch<=2.14.1)"). Its canonical name starts with
``<``, which no project's can.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pipfresh.errors import ConfigError
from pipfresh.models import InstalledDist

#: The pseudo-distribution has no version: reports then show only its name.
PSEUDO_VERSION = ""
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_INCLUDES = 50


def read_constraints(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(line, "file:line") of every requirement in the files, following ``-c`` and
    ``-r`` includes relative to the including file. Raises :class:`ConfigError` with
    one line for a file that cannot be read or a line pip would reject."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    todo = [os.path.abspath(p) for p in paths]
    while todo:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        if len(seen) > MAX_INCLUDES:
            raise ConfigError(f"constraints: more than {MAX_INCLUDES} files included")
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the constraints file {path}: {exc.strerror or exc}"
            ) from None
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError(f"constraints file {path}: larger than 16 MB")
        text = raw.decode("utf-8", "replace")
        for number, line in _logical_lines(text):
            where = f"{path}:{number}"
            if line.startswith(("-c", "--constraint", "-r", "--requirement")):
                _, _, rest = line.partition(" ") if " " in line else (line, "", line[2:])
                include = rest.strip().lstrip("=").strip()
                if include:
                    todo.append(os.path.join(os.path.dirname(path), include))
                continue
            if line.startswith("-"):
                continue  # an option line (--index-url, --hash ...): not a constraint
            try:
                Requirement(line)
            except InvalidRequirement as exc:
                why = str(exc).splitlines()[0]  # packaging adds the line and a caret
                raise ConfigError(f"constraints file {where}: {why}: {line!r}") from None
            found.append((line, where))
    return found


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Lines without comments, continuations joined, with their first line's number."""
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw
        if line.lstrip().startswith("#"):
            line = ""
        elif " #" in line or "\t#" in line:
            line = line.split(" #", 1)[0].split("\t#", 1)[0]
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            yield start, whole


def constraints_dist(paths: Sequence[str], installed: Iterable[str]) -> InstalledDist | None:
    """The pseudo-distribution carrying the constraints on ``installed`` projects
    (constraints on other projects ask for nothing and are left out)."""
    if not paths:
        return None
    present = set(installed)
    lines = [
        line
        for line, _ in read_constraints(paths)
        if canonicalize_name(Requirement(line).name) in present
    ]
    shown = ", ".join(dict.fromkeys(Path(p).name for p in paths))
    return InstalledDist(
        name=shown,
        canonical_name=f"<{shown}>",
        version=PSEUDO_VERSION,
        kind="direct_url",  # never looked up on an index, never moved
        requires=tuple(lines),
    )


__all__ = ["constraints_dist", "read_constraints"]
