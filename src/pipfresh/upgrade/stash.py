"""Keeping the files of the distributions an update replaces aside, and putting them back.

Before the installer runs, every file that a replaced distribution's ``RECORD`` (or an
egg-info's ``installed-files.txt``) lists is moved into the update's stash folder: a
rename on the same file system, as pip's own uninstall does. The installer then finds
those projects absent and installs the new versions fresh. On any failure or interrupt,
or in a later run after a crash, :func:`put_back` deletes whatever the new versions may
have written and moves the kept files back. That restores the exact previous files with
no index and no wheel of the old version, however the old version was installed
(built from an sdist, from a wheel that has since been deleted, by pip or by uv).

The installer's own distribution (the target's pip, when it installs) is copied
instead of moved, so that it can still run.

Every path is checked to stay inside the environment (its prefix and installation
scheme) or the stash folder, so a hostile RECORD or journal cannot make pipfresh move
or delete files elsewhere. This module does file operations only: no installer, no
reading of package metadata beyond the file lists.
"""

from __future__ import annotations

import configparser
import contextlib
import csv
import errno
import functools
import io
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipfresh.errors import PipfreshError
from pipfresh.upgrade.paths import STATE_DIR_NAME

#: A RECORD longer than this is not a package a user installed (a bound on hostile input).
MAX_RECORD_BYTES = 64 * 1024 * 1024
#: Members a wheel may have for its file list to be read (a bound on hostile input).
MAX_WHEEL_MEMBERS = 200_000


class StashError(PipfreshError):
    """A distribution's files cannot be kept aside (no file list, a path outside the
    environment, an unreadable RECORD); nothing has been moved when it is raised by
    :func:`plan_kept`."""


@dataclass(frozen=True, slots=True)
class Kept:
    """One file kept aside: where it lives in the environment, and its slot (a path
    relative to the stash folder). ``copy``: copied, the original left in place."""

    original: str
    slot: str
    copy: bool = False


def inside(path: str, roots: Iterable[str]) -> bool:
    """``path`` (absolute, normalised) is one of ``roots`` or below one."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


class _Within:
    """:func:`inside` for one set of roots, asked of many paths."""

    def __init__(self, roots: Iterable[str]) -> None:
        self.roots = frozenset(roots)
        self.prefixes = tuple(root.rstrip(os.sep) + os.sep for root in self.roots)

    def __call__(self, path: str) -> bool:
        return path in self.roots or path.startswith(self.prefixes)


class RealRoots:
    """Where a path really is: ``roots`` and the folders on the way resolved, so that a
    symlink inside the environment never leads a delete or a restore out of it (a
    venv's own ``lib64 -> lib`` still resolves inside). Parents are resolved once each:
    an undo names thousands of files in a few folders."""

    def __init__(self, roots: Iterable[str]) -> None:
        self.roots = tuple(dict.fromkeys(os.path.realpath(r) for r in roots))
        self._parents: dict[str, bool] = {}
        self._real: dict[str, str] = {}

    def holds(self, path: str) -> bool:
        """``path``'s folder, symlinks resolved, is inside the roots (``path`` itself
        may be a symlink: it is then removed or replaced, never followed)."""
        parent = os.path.dirname(path)
        known = self._parents.get(parent)
        if known is None:
            known = inside(self._realpath(parent), self.roots)
            self._parents[parent] = known
        return known

    def _realpath(self, folder: str) -> str:
        """``os.path.realpath`` of a normalised absolute path, each folder on the way
        resolved once: a folder's real path is its parent's plus its name, unless it
        is a symlink (one lstat per folder instead of one per folder per path)."""
        found = self._real.get(folder)
        if found is None:
            parent, name = os.path.split(folder)
            if not name or parent == folder:
                found = os.path.realpath(folder)
            else:
                joined = os.path.join(self._realpath(parent), name)
                found = os.path.realpath(joined) if os.path.islink(joined) else joined
            self._real[folder] = found
        return found


def covered(path: str, kept: set[str] | frozenset[str]) -> bool:
    """``path`` is one of the ``kept`` paths, or inside one of them (a folder kept whole)."""
    if path in kept:
        return True
    if os.name == "nt":  # drive roots ("C:\\") are their own parents
        while (parent := os.path.dirname(path)) != path:
            if parent in kept:
                return True
            path = parent
        return False
    # Normalised absolute paths: each parent is a prefix up to a separator. An update
    # asks this of every file it keeps or clears (tens of thousands): slicing costs a
    # fraction of os.path.dirname.
    end = len(path)
    while (end := path.rfind(os.sep, 0, end)) > 0:
        if path[:end] in kept:
            return True
    return end == 0 and os.sep in kept


def environment_roots(prefix: str, paths: Mapping[str, str]) -> tuple[str, ...]:
    """The folders an installer may write to: the prefix and every scheme path."""
    found = [os.path.normpath(os.path.abspath(prefix))]
    found += [os.path.normpath(os.path.abspath(p)) for p in paths.values() if p]
    return tuple(dict.fromkeys(found))


def record_files(metadata_dir: str) -> list[str]:
    """Absolute, normalised paths of the files one installed distribution owns.

    From ``RECORD`` (paths relative to the folder holding the ``.dist-info``), or an
    egg-info's ``installed-files.txt`` (relative to the ``.egg-info``), plus every file
    inside the metadata folder itself. Raises :class:`StashError` when there is no
    such list: the files could not all be put back.
    """
    folder = Path(metadata_dir)
    if folder.name.lower().endswith(".dist-info"):
        listing, base = folder / "RECORD", folder.parent
    elif folder.name.lower().endswith(".egg-info") and folder.is_dir():
        listing, base = folder / "installed-files.txt", folder
    else:
        raise StashError(f"{folder.name}: no RECORD, so its files cannot be kept for a rollback")
    try:
        with open(listing, "rb") as f:
            raw = f.read(MAX_RECORD_BYTES + 1)
    except OSError as exc:
        raise StashError(
            f"{folder.name}: cannot read {listing.name} ({exc.strerror or exc}), so its "
            "files cannot be kept for a rollback"
        ) from None
    if len(raw) > MAX_RECORD_BYTES:
        raise StashError(f"{folder.name}: {listing.name} is larger than 64 MB")
    text = raw.decode("utf-8", "replace")
    if listing.name == "RECORD":
        names = [row[0] for row in csv.reader(io.StringIO(text)) if row and row[0]]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    files = [os.path.normpath(os.path.join(base, name)) for name in names]
    for dirpath, _dirs, filenames in os.walk(folder):
        files += [os.path.normpath(os.path.join(dirpath, n)) for n in filenames]
    return list(dict.fromkeys(files))


def plan_kept(
    owned: Sequence[tuple[str, Sequence[str]]],
    roots: Sequence[str],
    *,
    copied: Iterable[str] = (),
) -> list[Kept]:
    """The slots for every existing file of ``owned`` (name, files) pairs; the names in
    ``copied`` are copied rather than moved. Pure but for looking at the files.

    A folder holding nothing but one distribution's files (and the bytecode of its
    modules) is kept as one entry, moved with one rename, as pip's uninstall stashes
    folders: replacing numpy is then a few renames rather than a thousand.

    Raises :class:`StashError` for a file outside ``roots`` or inside pipfresh's own
    state folder.
    """
    copy_names = set(copied)
    kept: list[Kept] = []
    real = RealRoots(roots)
    within = _Within(roots)
    for i, (name, files) in enumerate(owned):
        existing: list[str] = []
        for path in files:
            if not within(path):
                raise StashError(f"{name}: its RECORD names {path}, outside the environment")
            if not real.holds(path):
                raise StashError(
                    f"{name}: its RECORD names {path}, which a symlink leads out of the environment"
                )
            if STATE_DIR_NAME in path and STATE_DIR_NAME in path.split(os.sep):
                raise StashError(f"{name}: its RECORD names {path}, in pipfresh's state folder")
            try:
                # One lstat answers "there at all" and "a real folder" (a symlink to a
                # folder is a file here): a RECORD lists thousands of files.
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    continue  # a folder
            except (OSError, ValueError):
                continue  # listed but never written (a .pyc)
            existing.append(path)
        copy = name in copy_names
        whole = () if copy else _whole_folders(existing, roots)
        folders = set(whole)
        entries = [*whole, *(p for p in existing if not covered(p, folders))]
        kept += [Kept(path, f"{i:05d}/{j:06d}", copy) for j, path in enumerate(entries)]
    return kept


def _whole_folders(files: Sequence[str], roots: Sequence[str]) -> tuple[str, ...]:
    """The largest folders below the environment's roots in which every entry is one of
    ``files`` or bytecode compiled from one of them."""
    owned = set(files)
    owned.update(_compiled(files))
    candidates: set[str] = set()
    for path in files:
        folder = os.path.dirname(path)
        while folder not in candidates and _movable(folder, roots):
            candidates.add(folder)
            folder = os.path.dirname(folder)
    chosen: set[str] = set()
    for folder in sorted(candidates, key=len):
        if covered(folder, chosen):
            continue  # below a folder already kept whole
        if _only(folder, owned):
            chosen.add(folder)
    return tuple(sorted(chosen))


def _compiled(files: Sequence[str]) -> Iterator[str]:
    """The ``__pycache__`` files compiled from the modules among ``files`` (each cache
    folder listed once)."""
    stems: dict[str, set[str]] = {}
    for path in files:
        if path.endswith(".py"):
            folder, name = os.path.split(path)
            stems.setdefault(folder, set()).add(name[:-3])
    for folder, names in stems.items():
        cache = os.path.join(folder, "__pycache__")
        try:
            entries = os.listdir(cache)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".pyc") and entry.split(".", 1)[0] in names:
                yield os.path.join(cache, entry)


def _movable(folder: str, roots: Sequence[str]) -> bool:
    """Below a root, holding none (site-packages, bin and the prefix are never moved),
    and not a symlink (``lib64 -> lib`` is the environment's, not a distribution's)."""
    return (
        inside(folder, roots)
        and not any(inside(root, (folder,)) for root in roots)
        and not os.path.islink(folder)
    )


def _only(folder: str, owned: set[str]) -> bool:
    """Every file, link and folder below ``folder`` belongs to ``owned`` (folders by
    what they hold; an empty folder is not the distribution's)."""
    seen = False
    for dirpath, dirs, names in os.walk(folder):
        if STATE_DIR_NAME in dirs:
            return False
        for entry in names:
            if os.path.join(dirpath, entry) not in owned:
                return False
            seen = True
        for entry in dirs:
            full = os.path.join(dirpath, entry)
            if os.path.islink(full) and full not in owned:
                return False  # os.walk lists a link to a folder here, and does not follow it
    return seen


def keep_aside(
    kept: Sequence[Kept], stash: Path, *, roots: Sequence[str] = (), sync: bool = True
) -> None:
    """Move (or copy) every kept file into ``stash``, then remove the folders that the
    moves left empty. On an error, whatever was moved stays recorded in ``kept`` and
    :func:`put_back` brings it back."""
    made: set[Path] = set()
    for item in kept:
        dest = stash / item.slot
        if dest.parent not in made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.add(dest.parent)
        if item.copy:
            shutil.copy2(item.original, dest, follow_symlinks=False)
        else:
            _move(item.original, str(dest))
    if sync:
        _sync_folders([stash, *made])
    _prune_empty((os.path.dirname(k.original) for k in kept if not k.copy), stop=roots)


def put_back(
    kept: Sequence[Kept],
    stash: Path,
    clear: Iterable[str],
    roots: Sequence[str],
) -> list[str]:
    """Undo an update: delete every path in ``clear`` (what the new versions may have
    written, with the bytecode of their modules), then return every kept file to its
    place. Idempotent, so a run interrupted halfway is finished by the next. Returns
    the paths that could not be handled, each with why (empty: all done)."""
    problems: list[str] = []
    cleared: list[str] = []
    stash_root = os.path.normpath(os.path.abspath(stash))
    # A kept path whose slot is empty was never moved (pipfresh died while keeping
    # files aside, before any installer ran) or is back already: it holds the old
    # version, so what the new versions would have written there is not deleted.
    untouched = {k.original for k in kept if not os.path.lexists(os.path.join(stash_root, k.slot))}
    real = RealRoots(roots)
    for path in clear:
        if not inside(path, roots) or not real.holds(path):
            problems.append(f"{path}: outside the environment, left alone")
            continue
        if covered(path, untouched):
            continue
        for victim in (path, *_bytecode_of(path)):
            try:
                if os.path.isdir(victim) and not os.path.islink(victim):
                    continue
                os.unlink(victim)
                cleared.append(victim)
            except FileNotFoundError:
                pass
            except OSError as exc:
                problems.append(f"{victim}: {exc.strerror or exc}")
    for item in kept:
        source = os.path.normpath(os.path.join(stash_root, item.slot))
        if (
            not inside(source, (stash_root,))
            or not inside(item.original, roots)
            or not real.holds(item.original)
        ):
            problems.append(f"{item.original}: not a path this update kept, left alone")
            continue
        if not os.path.lexists(source):
            continue  # never moved, or already back
        try:
            os.makedirs(os.path.dirname(item.original), exist_ok=True)
            if item.copy:
                temporary = f"{item.original}.pipfresh-restore"
                shutil.copy2(source, temporary, follow_symlinks=False)
                os.replace(temporary, item.original)
                os.unlink(source)
            elif os.path.isdir(source) and not os.path.islink(source):
                _merge_back(source, item.original)
            else:
                if os.path.isdir(item.original) and not os.path.islink(item.original):
                    shutil.rmtree(item.original)  # the new version made a folder there
                _move(source, item.original)
        except OSError as exc:
            problems.append(f"{item.original}: {exc.strerror or exc}")
    _prune_empty((os.path.dirname(p) for p in cleared), stop=roots)
    return problems


def wheel_files(
    wheel: Path, paths: Mapping[str, str], project: str, *, headers_base: str | None = None
) -> list[str]:
    """The absolute paths installing ``wheel`` may create in an environment with the
    scheme ``paths`` (purelib, platlib, scripts, data, include): its members, mapped as
    installers map ``.data/`` folders, and its console and GUI scripts."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_WHEEL_MEMBERS:
                raise StashError(f"{wheel.name}: more than {MAX_WHEEL_MEMBERS} files")
            names = [i.filename for i in infos if not i.filename.endswith("/")]
            info_dir = _dist_info_dir(names, wheel.name)
            root_is_purelib = _root_is_purelib(archive, info_dir)
            scripts = _entry_point_scripts(archive, info_dir)
    except (OSError, zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise StashError(f"{wheel.name}: cannot read the wheel ({exc})") from None
    root = paths.get("purelib" if root_is_purelib else "platlib") or paths.get("purelib", "")
    data_prefix = info_dir[: -len(".dist-info")] + ".data/"
    found: list[str] = []
    for name in names:
        if name.startswith("/") or ".." in name.split("/"):
            raise StashError(f"{wheel.name}: member {name!r} points outside its folder")
        if name.startswith(data_prefix):
            scheme, _, rest = name[len(data_prefix) :].partition("/")
            if scheme == "headers":
                base = headers_base or os.path.join(paths.get("include", ""), project)
            else:
                base = paths.get(scheme, "")
            if not base or not rest:
                continue
            found.append(os.path.normpath(os.path.join(base, rest)))
        else:
            found.append(os.path.normpath(os.path.join(root, name)))
    bindir = paths.get("scripts")
    if bindir:
        for script in scripts:
            found.append(os.path.join(bindir, script))
            if os.name == "nt":
                found.append(os.path.join(bindir, f"{script}.exe"))
    return list(dict.fromkeys(found))


#: What pip puts before a name for the folder it moves an uninstalled project's folder
#: into, of the same length ("pip" -> "~ip", "~-p", ...: pip's AdjacentTempDirectory).
_ADJACENT = "~-."


def installer_leftovers(sites: Iterable[str], originals: Iterable[str], since: float) -> list[str]:
    """Folders an installer stopped halfway left beside the projects it was replacing:
    entries of ``sites`` (site-packages folders) named as pip names the stash of its
    uninstall for one of the top-level names of ``originals`` (``~ip`` for ``pip``),
    made at ``since`` (epoch seconds) or later. pip removes them when it finishes or
    rolls back; stopped by a signal, it cannot. Pure but for looking at the folders."""
    tops: dict[str, set[str]] = {}
    for site in sites:
        prefix = site.rstrip(os.sep) + os.sep
        names = {p[len(prefix) :].split(os.sep, 1)[0] for p in originals if p.startswith(prefix)}
        if names:
            tops[site] = names
    found: list[str] = []
    for site, names in tops.items():
        found += _made_since(site, since, functools.partial(_pips_stash, tops=names))
    return sorted(found)


def _pips_stash(name: str, tops: set[str]) -> bool:
    """``name`` is how pip names its uninstall stash of one of ``tops``."""
    rest = name.lstrip(_ADJACENT)
    if not name.startswith("~") or not rest or name in tops:
        return False
    return any(len(n) == len(name) and n.endswith(rest) for n in tops)


def _made_since(folder: str, since: float, named: Callable[[str], bool]) -> list[str]:
    """The entries of ``folder`` whose name ``named`` picks, made (ctime) at ``since``
    or later: what an installer left there during this update, not the user's."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    found: list[str] = []
    for entry in entries:
        if not named(entry.name):
            continue
        try:
            made = entry.stat(follow_symlinks=False).st_ctime
        except OSError:
            continue
        if made >= since:
            found.append(entry.path)
    return found


#: How the Rust tempfile crate that uv writes with names a file it then renames into
#: place (".tmp" and six letters or digits).
_INSTALLER_TEMPORARY = re.compile(r"\.tmp[A-Za-z0-9]{6}")


def _is_temporary(name: str) -> bool:
    return _INSTALLER_TEMPORARY.fullmatch(name) is not None


def installer_temporaries(folders: Iterable[str], since: float) -> list[str]:
    """Files an installer killed halfway left at the top of ``folders`` (the scheme's
    scripts and site-packages folders): uv writes a script into ``bin/.tmpXXXXXX`` and
    renames it, and a SIGKILL in between leaves the temporary file, which no RECORD
    and no wheel lists. Only those made at ``since`` (epoch seconds) or later. Pure
    but for looking at the folders."""
    found: list[str] = []
    for folder in dict.fromkeys(folders):
        found += _made_since(folder, since, _is_temporary)
    return sorted(found)


def remove_stash(stash: Path) -> None:
    """Delete the stash folder (after a successful update or a completed restore)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(stash)


# ----- helpers -------------------------------------------------------------------------


def _move(source: str, dest: str) -> None:
    try:
        os.replace(source, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # Another file system (a bin folder mounted apart): copy, then delete.
        if os.path.isdir(source) and not os.path.islink(source):
            shutil.copytree(source, dest, symlinks=True)
            shutil.rmtree(source)
        else:
            shutil.copy2(source, dest, follow_symlinks=False)
            os.unlink(source)


def count_files(path: Path) -> int:
    """How many files a slot holds: 1 for a file, what is below for a folder, 0 when absent."""
    if not os.path.lexists(path):
        return 0
    if not path.is_dir() or path.is_symlink():
        return 1
    return sum(len(names) for _, _, names in os.walk(path))


def _merge_back(source: str, dest: str) -> None:
    """Return a kept folder to ``dest``: one rename when nothing is there any more,
    else entry by entry (what the new version left beyond its listed files, such as
    bytecode, is replaced). Something else where the folder goes is an error: it is
    nobody's file that pipfresh knows of, so it is not removed."""
    if os.path.lexists(dest) and not (os.path.isdir(dest) and not os.path.islink(dest)):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder, in the way", dest)
    if not os.path.lexists(dest):
        _move(source, dest)
        return
    for entry in os.listdir(source):
        from_path, to_path = os.path.join(source, entry), os.path.join(dest, entry)
        if os.path.isdir(from_path) and not os.path.islink(from_path):
            _merge_back(from_path, to_path)
            continue
        if os.path.isdir(to_path) and not os.path.islink(to_path):
            shutil.rmtree(to_path)
        _move(from_path, to_path)
    os.rmdir(source)


def _bytecode_of(path: str) -> Iterator[str]:
    """The ``__pycache__`` files compiled from ``path``, a module of a new version."""
    if not path.endswith(".py"):
        return
    folder, name = os.path.split(path)
    cache = os.path.join(folder, "__pycache__")
    stem = name[:-3] + "."
    try:
        entries = os.listdir(cache)
    except OSError:
        return
    for entry in entries:
        if entry.startswith(stem) and entry.endswith(".pyc"):
            yield os.path.join(cache, entry)


def _prune_empty(folders: Iterable[str], *, stop: Sequence[str]) -> None:
    """Remove the folders (and their parents) that are now empty."""
    for folder in sorted(set(folders), key=len, reverse=True):
        current = folder
        while current and current not in stop and current != os.path.dirname(current):
            try:
                os.rmdir(current)
            except OSError:
                break  # not empty (the usual case: site-packages itself), or gone
            current = os.path.dirname(current)


def _sync_folders(folders: Iterable[Path]) -> None:
    """fsync the folders the moves wrote into, so that a power cut after the moves
    leaves them where the journal says (a rename is durable once its folder is synced;
    what a moved folder holds did not change)."""
    if os.name == "nt":
        return
    for dirpath in folders:
        try:
            fd = os.open(dirpath, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _dist_info_dir(names: Sequence[str], wheel_name: str) -> str:
    tops = {n.split("/", 1)[0] for n in names}
    found = sorted(t for t in tops if t.endswith(".dist-info"))
    if len(found) != 1:
        raise StashError(f"{wheel_name}: expected one .dist-info folder, found {len(found)}")
    return found[0]


def _root_is_purelib(archive: zipfile.ZipFile, info_dir: str) -> bool:
    try:
        text = archive.read(f"{info_dir}/WHEEL")[:65536].decode("utf-8", "replace")
    except KeyError:
        return True
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "root-is-purelib":
            return value.strip().lower() == "true"
    return True


def _entry_point_scripts(archive: zipfile.ZipFile, info_dir: str) -> list[str]:
    try:
        text = archive.read(f"{info_dir}/entry_points.txt")[:1048576].decode("utf-8", "replace")
    except KeyError:
        return []
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    names: list[str] = []
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section):
            names += [n.strip() for n in parser.options(section) if n.strip()]
    # A script name with a separator would write outside the scripts folder.
    return [n for n in names if "/" not in n and "\\" not in n and n not in (".", "..")]


__all__ = [
    "Kept",
    "StashError",
    "count_files",
    "covered",
    "environment_roots",
    "inside",
    "keep_aside",
    "plan_kept",
    "put_back",
    "record_files",
    "remove_stash",
    "wheel_files",
]
