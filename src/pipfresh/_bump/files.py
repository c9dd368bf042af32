"""Which dependency files ``bump`` reads, and reading them (the file side's only I/O
besides :mod:`pipfresh._bump.write`).

With no paths, a folder's ``pyproject.toml`` and every ``requirements*.txt`` /
``constraints*.txt`` in it, sorted by name. A folder given as a path is searched the
same way. ``-r`` / ``-c`` includes are followed relative to the including file; each
file is read once however often it is included, and a file that includes itself
(directly or through others) is an error naming the line that closes the cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipfresh._bump.model import BumpInputError, DepFile, FileKind
from pipfresh._bump.reqfile import parse_requirements

__all__ = ["MAX_FILES", "MAX_FILE_BYTES", "discover", "kind_of", "read_files"]

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_FILES = 200  # a generous bound on a tree of includes


def discover(folder: Path) -> list[Path]:
    """``folder``'s pyproject.toml (first), then its requirements*/constraints* files."""
    found: list[Path] = []
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        found.append(pyproject)
    texts = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix == ".txt" and p.name.startswith(("requirements", "constraints"))
    ]
    return found + sorted(texts, key=lambda p: p.name)


def kind_of(path: Path) -> FileKind:
    """What a file named on the command line holds, from its name."""
    if path.suffix == ".toml":
        return "pyproject"
    return "constraints" if path.name.startswith("constraints") else "requirements"


def _read_text(path: Path, line_of: tuple[Path, int] | None) -> str:
    """The file decoded as UTF-8 with its line ends as they are."""
    where, line = line_of if line_of is not None else (path, None)
    try:
        if not path.is_file():
            what = "a folder" if path.is_dir() else "no such file"
            raise BumpInputError(where, line, f"{path}: {what}" if line_of else what)
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise BumpInputError(where, line, f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise BumpInputError(path, None, "larger than 16 MB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = raw[: exc.start].count(b"\n") + 1
        raise BumpInputError(path, line_no, "not UTF-8 text") from None


def _read_one(
    path: Path, kind: FileKind, text: str
) -> tuple[DepFile, list[tuple[Path, FileKind, int]]]:
    if kind == "pyproject":
        from pipfresh._bump.pyproject import parse_pyproject

        return parse_pyproject(path, text), []
    parsed = parse_requirements(path, text, kind)
    return parsed.file, [(i.path, i.kind, i.line) for i in parsed.includes]


def read_files(paths: Sequence[Path] | None, cwd: Path) -> list[DepFile]:
    """Every file named (relative paths against ``cwd``; folders searched; none: ``cwd``
    searched), includes followed, each read once, in the order first met.

    Raises :class:`BumpInputError` (one line naming file and line) for a file that is
    missing or does not parse, and for an include cycle.
    """
    roots: list[Path] = []
    for given in paths if paths else [cwd]:
        path = given if given.is_absolute() else cwd / given
        if path.is_dir():
            roots.extend(discover(path))
        else:
            roots.append(path)
    done: dict[Path, DepFile] = {}
    order: list[Path] = []

    def visit(
        path: Path, kind: FileKind, stack: tuple[Path, ...], via: tuple[Path, int] | None
    ) -> None:
        key = path.resolve()
        if key in stack:
            assert via is not None  # a root is never on the stack
            cycle = " -> ".join(p.name for p in (*stack[stack.index(key) :], key))
            raise BumpInputError(via[0], via[1], f"include cycle: {cycle}")
        if key in done:
            return
        if len(done) >= MAX_FILES:
            raise BumpInputError(path, None, f"more than {MAX_FILES} files included")
        dep, includes = _read_one(path, kind, _read_text(path, via))
        done[key] = dep
        order.append(key)
        for child, child_kind, line in includes:
            visit(child, child_kind, (*stack, key), (path, line))

    for root in roots:
        visit(root, kind_of(root), (), None)
    return [done[key] for key in order]
