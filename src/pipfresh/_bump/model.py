"""The data both halves of ``bump`` share: pins found in files, and edits to them.

Offsets are indexes into :attr:`DepFile.text`, the file decoded as UTF-8 with its
line ends untouched (read with ``newline=""``), so that an edit replaces exactly the
characters it names and every other byte of the file stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipfresh.errors import PipfreshError

FileKind = Literal["requirements", "constraints", "pyproject"]

#: Why a pin is listed but never rewritten.
LeaveAlone = Literal["unversioned", "url", "path", "vcs", "editable", "unparsable-version"]


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` of one file."""

    start: int
    end: int


@dataclass(frozen=True)
class Pin:
    """One requirement as written in a dependency file."""

    path: Path
    line: int  # 1-based line where the requirement starts
    name: str  # as written
    canonical: str  # packaging.utils.canonicalize_name(name)
    specifier: str  # the version text as written, e.g. ">=1.2,<2"; "" when unversioned
    span: Span | None  # where ``specifier`` sits in the file text; None when it cannot be edited
    extras: tuple[str, ...]
    marker: str | None  # as written, without the ";"
    hashes: tuple[Span, ...]  # each whole ``--hash=sha256:...`` option of the requirement
    section: str  # "requirements", "constraints", "project.dependencies",
    # "project.optional-dependencies.<extra>", "dependency-groups.<group>",
    # "build-system.requires"
    leave_alone: LeaveAlone | None = None


@dataclass(frozen=True)
class DepFile:
    """A dependency file as read: its exact text and the pins in it."""

    path: Path
    kind: FileKind
    text: str
    pins: tuple[Pin, ...]
    includes: tuple[Path, ...] = ()  # files named by -r / -c, resolved
    requires_python: str | None = None  # pyproject.toml's [project] requires-python


@dataclass(frozen=True)
class Edit:
    """Replace ``span`` of ``path``'s text with ``text``."""

    path: Path
    span: Span
    text: str


class BumpInputError(PipfreshError):
    """A dependency file that cannot be read, parsed or written: one line naming the
    file and line (``str(error)``); ``message`` is that line without the place."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return str(self.args[0])
