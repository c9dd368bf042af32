"""Requirements and constraints files as pip reads them, with exact source spans (pure).

pip's reading, which this follows: physical lines are ``str.splitlines()``; a line
ending in ``\\`` continues on the next unless it holds a comment; a ``#`` at the start
or after whitespace starts a comment; a requirement line is the requirement up to the
first space-separated token starting with ``-``, then per-requirement options
(``--hash``, ``--config-settings``, ``--global-option``). Lines starting with ``-`` are
options (``-r``, ``-c``, ``-e``, ``--index-url``, ...). Every logical line keeps the
file offset of each of its characters, so a specifier's span is exact even after a
continuation; a specifier cut by a continuation cannot be edited as one span and is
left alone.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pipfresh._bump.model import BumpInputError, DepFile, FileKind, LeaveAlone, Pin, Span

__all__ = ["Include", "ParsedFile", "parse_requirements", "pep508_pin", "specifier_bounds"]

_COMMENT = re.compile(r"(^|\s+)#.*$")
# The options pip accepts on a line of their own, with whether they take a value.
_LINE_OPTIONS = {
    "-i": True,
    "--index-url": True,
    "--extra-index-url": True,
    "--no-index": False,
    "-f": True,
    "--find-links": True,
    "--no-binary": True,
    "--only-binary": True,
    "--prefer-binary": False,
    "--require-hashes": False,
    "--pre": False,
    "--trusted-host": True,
    "--use-feature": True,
}
_INCLUDES = {"-r": "requirements", "--requirement": "requirements"}
_INCLUDES |= {"-c": "constraints", "--constraint": "constraints"}
_EDITABLE = ("-e", "--editable")
_REQ_OPTIONS = ("--hash", "--config-settings", "-C", "--global-option")
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_VCS = ("git+", "hg+", "svn+", "bzr+")
_ARCHIVE = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".zip")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_HASH = re.compile(r"--hash(?:=|\s+)\S+")


@dataclass(frozen=True)
class Include:
    """A ``-r`` / ``-c`` line: the file it names (resolved against the including file)."""

    path: Path
    kind: FileKind
    line: int


@dataclass(frozen=True)
class ParsedFile:
    file: DepFile
    includes: tuple[Include, ...]


@dataclass(frozen=True)
class _Logical:
    """One logical line: its text and the file offset of every character."""

    line: int
    text: str
    offsets: tuple[int, ...]

    def span(self, start: int, end: int) -> Span | None:
        """The file span of ``text[start:end]``, or None when a continuation cuts it."""
        if start >= end:
            return None
        first, last = self.offsets[start], self.offsets[end - 1]
        if last - first != end - 1 - start:
            return None
        return Span(first, last + 1)


def _physical(text: str) -> list[tuple[int, str]]:
    """(offset, line without its end) of every physical line, as ``splitlines`` cuts."""
    out: list[tuple[int, str]] = []
    offset = 0
    if text.startswith("\ufeff"):  # a UTF-8 byte-order mark, as pip skips it
        offset = 1
        text = text[1:]
    for raw in text.splitlines(keepends=True):
        body = raw.splitlines()[0] if raw.splitlines() else ""
        out.append((offset, body))
        offset += len(raw)
    return out


def _logical_lines(text: str) -> list[_Logical]:
    lines: list[_Logical] = []
    chars: list[str] = []
    offsets: list[int] = []
    first = 0
    for number, (offset, body) in enumerate(_physical(text), 1):
        if not chars:
            first = number
        comment = _COMMENT.match(body) is not None
        continues = body.endswith("\\") and not comment
        if comment and chars:
            # pip puts a space before a comment line that ends a continuation, so that
            # the comment is cut even when the line before ended in a non-space
            chars.append(" ")
            offsets.append(offset)
        if continues:
            # pip strips backslashes from both ends of a continued line
            lead = len(body) - len(body.lstrip("\\"))
            kept = body.strip("\\")
            chars.append(kept)
            offsets.extend(range(offset + lead, offset + lead + len(kept)))
            continue
        chars.append(body)
        offsets.extend(range(offset, offset + len(body)))
        lines.append(_Logical(first, "".join(chars), tuple(offsets)))
        chars, offsets = [], []
    if chars:
        lines.append(_Logical(first, "".join(chars), tuple(offsets)))
    return lines


def _strip_comment(logical: _Logical) -> tuple[int, int]:
    """The [start, end) of ``logical.text`` without its comment and outer whitespace."""
    text = logical.text
    match = _COMMENT.search(text)
    end = match.start() if match else len(text)
    start = 0
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _option_value(tokens: list[str], path: Path, line: int) -> tuple[str, str | None]:
    """(option, value) of an options line such as ``-r base.txt`` / ``--index-url=...``;
    the value is None for a flag (``--pre``)."""
    head = tokens[0]
    name, eq, value = head.partition("=")
    if not eq and len(name) > 2 and not name.startswith("--"):
        name, value = name[:2], name[2:]  # -rbase.txt
    takes_value = name in _INCLUDES or name in _EDITABLE or _LINE_OPTIONS.get(name, False)
    if name not in _INCLUDES and name not in _EDITABLE and name not in _LINE_OPTIONS:
        raise BumpInputError(path, line, f"no such option: {name}")
    if not takes_value:
        return name, None
    if value or eq:
        return name, value
    if len(tokens) < 2:
        raise BumpInputError(path, line, f"{name} needs a value")
    return name, tokens[1]


def _canonical(name: str) -> str:
    """The canonical name, or the text as written when it is no name (a path, a URL)."""
    return canonicalize_name(name) if _NAME.fullmatch(name) else name


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "~")) or "/" in text or "\\" in text


def _leave_alone(requirement: str) -> LeaveAlone | None:
    head = requirement.split(";", maxsplit=1)[0].strip()
    if head.startswith(_VCS):
        return "vcs"
    if _SCHEME.match(head):
        return "url"
    before, at, _ = head.partition("@")
    if at and not _looks_like_path(before):
        return None  # PEP 508 "name @ url": packaging reads it (pip's order too)
    if _looks_like_path(head) or head.lower().endswith(_ARCHIVE):
        return "path"
    return None


def specifier_bounds(text: str, req: Requirement) -> tuple[int, int] | None:
    """Where the specifier sits in ``text`` (a requirement string), or None when it
    has none. Located by scanning past the name and extras, then up to the marker."""
    match = _NAME.match(text)
    if match is None:  # pragma: no cover - packaging accepted a name
        return None
    pos = match.end()
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    if pos < n and text[pos] == "[":
        close = text.find("]", pos)
        pos = close + 1
        while pos < n and text[pos].isspace():
            pos += 1
    if not str(req.specifier):
        return None
    end = text.find(";", pos)
    end = n if end < 0 else end
    if pos < n and text[pos] == "(":
        pos += 1
        end = text.rfind(")", pos, end)
    while pos < end and text[pos].isspace():
        pos += 1
    while end > pos and text[end - 1].isspace():
        end -= 1
    return pos, end


def _requirement_pin(
    path: Path,
    kind: FileKind,
    logical: _Logical,
    start: int,
    end: int,
) -> Pin:
    text = logical.text
    # the requirement ends at the first space-separated token starting with "-"
    req_end = end
    pos = start
    while pos < end:
        if text[pos] == "-" and (pos == start or text[pos - 1] == " "):
            req_end = pos
            break
        pos += 1
    options = text[req_end:end]
    while req_end > start and text[req_end - 1].isspace():
        req_end -= 1
    req_text = text[start:req_end]
    line = logical.line
    try:
        option_tokens = shlex.split(options)
    except ValueError as exc:
        raise BumpInputError(path, line, f"cannot read the options: {exc}") from None
    for token in option_tokens:
        if token.startswith("-") and token.split("=")[0] not in _REQ_OPTIONS:
            raise BumpInputError(path, line, f"no such option: {token.split('=')[0]}")
    hashes = tuple(
        span
        for m in _HASH.finditer(text, req_end, end)
        if (span := logical.span(m.start(), m.end())) is not None
    )
    section = kind
    alone = _leave_alone(req_text)
    if alone is not None:
        egg = _EGG.search(req_text)
        name = egg.group(1) if egg else req_text
        return Pin(path, line, name, _canonical(name), "", None, (), None, hashes, section, alone)
    return pep508_pin(
        path,
        line,
        section,
        req_text,
        lambda i, j: logical.span(start + i, start + j),
        hashes=hashes,
    )


def pep508_pin(
    path: Path,
    line: int,
    section: str,
    req_text: str,
    span_of: Callable[[int, int], Span | None],
    *,
    hashes: tuple[Span, ...] = (),
) -> Pin:
    """The pin of one PEP 508 requirement string; ``span_of(i, j)`` is the file span of
    ``req_text[i:j]`` (None when it is not one stretch of the file)."""
    try:
        req = Requirement(req_text)
    except InvalidRequirement as exc:
        why = str(exc).splitlines()[0]
        raise BumpInputError(path, line, f"not a valid requirement: {why}") from None
    extras = tuple(sorted(req.extras))
    bracket = req_text.find("[")
    if bracket >= 0 and req.extras:
        inner = req_text[bracket + 1 : req_text.find("]", bracket)]
        extras = tuple(part.strip() for part in inner.split(",") if part.strip())
    marker = None
    semi = req_text.find(";")
    if req.marker is not None and semi >= 0:
        marker = req_text[semi + 1 :].strip()
    name = _NAME.match(req_text)
    written = name.group(0) if name else req.name
    if req.url is not None:
        direct: LeaveAlone = "vcs" if req.url.startswith(_VCS) else "url"
        return Pin(
            path, line, written, canonicalize_name(req.name), "", None, extras, marker,
            hashes, section, direct,
        )  # fmt: skip
    bounds = specifier_bounds(req_text, req)
    if bounds is None:
        return Pin(
            path, line, written, canonicalize_name(req.name), "", None, extras, marker,
            hashes, section, "unversioned",
        )  # fmt: skip
    span = span_of(bounds[0], bounds[1])
    specifier = req_text[bounds[0] : bounds[1]]
    return Pin(
        path, line, written, canonicalize_name(req.name), specifier, span, extras, marker,
        hashes, section, None if span is not None else "unparsable-version",
    )  # fmt: skip


def parse_requirements(path: Path, text: str, kind: FileKind) -> ParsedFile:
    """The pins and includes of a requirements or constraints file's ``text``.

    Raises :class:`BumpInputError` naming the line for one pip would reject.
    """
    pins: list[Pin] = []
    includes: list[Include] = []
    for logical in _logical_lines(text):
        start, end = _strip_comment(logical)
        if start == end:
            continue
        body = logical.text[start:end]
        if not body.startswith("-"):
            pins.append(_requirement_pin(path, kind, logical, start, end))
            continue
        try:
            tokens = shlex.split(body)
        except ValueError as exc:
            raise BumpInputError(path, logical.line, f"cannot read the line: {exc}") from None
        name, value = _option_value(tokens, path, logical.line)
        if value is None:
            continue  # a flag such as --pre
        if name in _INCLUDES:
            if _SCHEME.match(value):
                continue  # a remote file: nothing here to rewrite
            included_kind: FileKind = (
                "constraints" if _INCLUDES[name] == "constraints" else "requirements"
            )
            includes.append(Include((path.parent / value), included_kind, logical.line))
        elif name in _EDITABLE:
            egg = _EGG.search(value)
            shown = egg.group(1) if egg else value
            pins.append(
                Pin(path, logical.line, shown, _canonical(shown), "", None, (), None,
                    (), kind, "editable")
            )  # fmt: skip
    return ParsedFile(
        DepFile(path, kind, text, tuple(pins), tuple(i.path for i in includes)),
        tuple(includes),
    )
