"""pyproject.toml's requirement strings with the exact span of each specifier (pure).

Read: ``[project] dependencies``, ``[project.optional-dependencies]``, PEP 735
``[dependency-groups]`` (strings; ``{include-group = ...}`` tables are skipped),
``[build-system] requires``, and ``[project] requires-python``. Other tables (Poetry's
``[tool.poetry.dependencies]``, whose carets are not PEP 440) are not read.

Two readers agree or the pins are not editable: ``tomllib`` decides what the file
means (and rejects broken TOML with its line); a small scanner of the source finds
where each requirement string of those arrays sits. The scanner's strings for a key
must equal ``tomllib``'s, else that key's pins are listed but left alone. Editing
exact source spans keeps every other byte of the file, which a TOML library's
round trip need not do. Measured on this machine (CPython 3.11, the setuptools fixture):
``import tomlkit`` 25 ms against ``import tomllib`` 14 ms, ``tomlkit.parse`` 1.38 ms
against 0.62 ms for this whole module's reading (tomllib, scanner and pins), and
tomlkit would be a new runtime dependency: not clearly better, so not used.
A basic string whose escapes touch the version text is left alone.
"""

from __future__ import annotations

import bisect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipfresh._bump.model import BumpInputError, DepFile, Pin, Span
from pipfresh._bump.reqfile import pep508_pin

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["parse_pyproject"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class _ScanError(Exception):
    """The scanner lost its way (tomllib accepted the file): spans are not trusted."""


@dataclass(frozen=True)
class _String:
    """A single-line string item of an array: its value and where its characters are."""

    value: str
    offsets: tuple[int, ...]  # file offset of each character of value; -1: an escape
    start: int  # offset of the opening quote

    def span(self, i: int, j: int) -> Span | None:
        if i >= j:
            return None
        part = self.offsets[i:j]
        if -1 in part or part[-1] - part[0] != j - 1 - i:
            return None
        return Span(part[0], part[-1] + 1)


def _section(path: tuple[str, ...]) -> str | None:
    """The Pin.section of the array at key ``path``, or None for arrays not read."""
    match path:
        case ("project", "dependencies"):
            return "project.dependencies"
        case ("project", "optional-dependencies", extra):
            return f"project.optional-dependencies.{extra}"
        case ("dependency-groups", group):
            return f"dependency-groups.{group}"
        case ("build-system", "requires"):
            return "build-system.requires"
    return None


class _Scanner:
    """Walks TOML source just far enough to find the strings of the arrays read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.found: dict[str, list[_String]] = {}

    # -- characters
    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.text[i] if i < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _ScanError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def skip_space(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def skip_blank(self) -> None:
        """Spaces, newlines and comments (inside arrays, between statements)."""
        while True:
            char = self.peek()
            if char in (" ", "\t", "\n", "\r"):
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    # -- keys and strings
    def key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self.skip_space()
            char = self.peek()
            if char in ('"', "'"):
                parts.append(self.single_line_string().value)
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                if match is None:
                    raise _ScanError(f"no key at {self.pos}")
                parts.append(match.group(0))
                self.pos = match.end()
            self.skip_space()
            if self.peek() != ".":
                return tuple(parts)
            self.pos += 1

    def single_line_string(self) -> _String:
        start = self.pos
        quote = self.peek()
        self.pos += 1
        chars: list[str] = []
        offsets: list[int] = []
        while True:
            char = self.peek()
            if char in ("", "\n"):
                raise _ScanError(f"unterminated string at {start}")
            if char == quote:
                self.pos += 1
                return _String("".join(chars), tuple(offsets), start)
            if char == "\\" and quote == '"':
                chars.append(self.escape())
                offsets.append(-1)
                continue
            chars.append(char)
            offsets.append(self.pos)
            self.pos += 1

    def escape(self) -> str:
        code = self.peek(1)
        if code in _ESCAPES:
            self.pos += 2
            return _ESCAPES[code]
        width = {"u": 4, "U": 8}.get(code)
        if width is None:
            raise _ScanError(f"bad escape at {self.pos}")
        digits = self.text[self.pos + 2 : self.pos + 2 + width]
        self.pos += 2 + width
        return chr(int(digits, 16))

    def multi_line_string(self) -> None:
        quote = self.peek() * 3
        self.pos += 3
        while True:
            end = self.text.find(quote, self.pos)
            if end < 0:
                raise _ScanError("unterminated multi-line string")
            if quote == '"""':
                backslashes = len(self.text[:end]) - len(self.text[:end].rstrip("\\"))
                if backslashes % 2 == 1 and end >= self.pos:  # an escaped quote
                    self.pos = end + 1
                    continue
            self.pos = end + 3
            while self.peek() == quote[0]:  # up to two quotes may end the content
                self.pos += 1
            return

    # -- values
    def value(self, path: tuple[str, ...]) -> None:
        char = self.peek()
        if char in ('"', "'"):
            if self.text.startswith(char * 3, self.pos):
                self.multi_line_string()
            else:
                self.single_line_string()
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            start = self.pos
            while self.peek() not in ("", ",", "]", "}", "\n", "\r", "#"):
                self.pos += 1
            if self.pos == start:
                raise _ScanError(f"no value at {start}")

    def array(self, path: tuple[str, ...]) -> None:
        section = _section(path)
        self.expect("[")
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.pos += 1
                return
            char = self.peek()
            if (
                section is not None
                and char in ('"', "'")
                and not self.text.startswith(char * 3, self.pos)
            ):
                self.found.setdefault(section, []).append(self.single_line_string())
            else:
                self.value((*path, "[]"))
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise _ScanError(f"expected ',' or ']' at {self.pos}")

    def inline_table(self, path: tuple[str, ...]) -> None:
        self.expect("{")
        self.skip_space()
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            key = self.key()
            self.expect("=")
            self.skip_space()
            self.value((*path, *key))
            self.skip_space()
            if self.peek() == "}":
                self.pos += 1
                return
            self.expect(",")

    # -- the document
    def document(self) -> dict[str, list[_String]]:
        table: tuple[str, ...] = ()
        while True:
            self.skip_blank()
            if not self.peek():
                return self.found
            if self.peek() == "[":
                double = self.peek(1) == "["
                self.pos += 2 if double else 1
                table = self.key()
                self.expect("]")
                if double:
                    self.expect("]")
                    table = (*table, "[]")  # an array of tables: nothing read there
                continue
            key = self.key()
            self.expect("=")
            self.skip_space()
            self.value((*table, *key))


def _toml_error(path: Path, text: str, exc: Exception) -> BumpInputError:
    message = str(exc)
    if "(at end of document)" in message:
        # name the last line with content: where an unclosed array or string began to
        # go wrong is unknowable, and an empty last line helps nobody
        line = text.rstrip().count("\n") + 1
        message = message.replace("(at end of document)", "at the end of the file").strip()
        return BumpInputError(path, line, f"not valid TOML: {message}")
    match = re.search(r"\(at line (\d+), column \d+\)", message)
    if match:
        line = int(match.group(1))
        message = message[: match.start()].strip()
        return BumpInputError(path, line, f"not valid TOML: {message}")
    return BumpInputError(path, None, f"not valid TOML: {message}")


def _arrays(data: dict[str, Any]) -> dict[str, list[Any]]:
    """The arrays read, as tomllib sees them, by section."""
    out: dict[str, list[Any]] = {}
    project = data.get("project", {})
    if isinstance(project, dict):
        out["project.dependencies"] = project.get("dependencies", [])
        optional = project.get("optional-dependencies", {})
        if isinstance(optional, dict):
            for extra, items in optional.items():
                out[f"project.optional-dependencies.{extra}"] = items
    groups = data.get("dependency-groups", {})
    if isinstance(groups, dict):
        for group, items in groups.items():
            out[f"dependency-groups.{group}"] = items
    build = data.get("build-system", {})
    if isinstance(build, dict):
        out["build-system.requires"] = build.get("requires", [])
    return {section: items for section, items in out.items() if isinstance(items, list)}


def _nowhere(start: int, end: int) -> Span | None:
    return None


def parse_pyproject(path: Path, text: str) -> DepFile:
    """The pins of a pyproject.toml's ``text``. Raises :class:`BumpInputError` with the
    line for TOML that does not parse and for a requirement string that is not PEP 508."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, text, exc) from None
    try:
        found = _Scanner(text).document()
    except (_ScanError, ValueError):
        found = {}
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\n|\r", text)]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(starts, offset)

    pins: list[Pin] = []
    for section, items in _arrays(data).items():
        strings = [item for item in items if isinstance(item, str)]
        located = found.get(section, [])
        trusted = [s.value for s in located] == strings
        for index, value in enumerate(strings):
            if trusted:
                where = located[index]
                pins.append(pep508_pin(path, line_of(where.start), section, value, where.span))
            else:  # listed, never edited: the line is a best guess from the value's text
                line = line_of(max(text.find(value), 0))
                pins.append(pep508_pin(path, line, section, value, _nowhere))
    pins.sort(key=lambda pin: pin.line)  # file order (sort is stable within a line)
    project = data.get("project")
    requires_python = project.get("requires-python") if isinstance(project, dict) else None
    return DepFile(
        path,
        "pyproject",
        text,
        tuple(pins),
        requires_python=requires_python if isinstance(requires_python, str) else None,
    )
