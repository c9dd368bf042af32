"""The journal of an update in progress: what to put back if pipfresh dies mid-install.

An update keeps its state inside the environment it changes, in
``<site-packages>/.pipfresh-update/`` (see :func:`state_folder`), so that any two
pipfresh processes updating one environment meet there whatever their cache folders::

    lock            held (flock) by the update, and by its installer while that runs
    journal.json    written, durably, before the first file moves; removed once the
                    update succeeded or was rolled back
    stash/          the files of the versions being replaced, moved aside

A ``journal.json`` found by a later run means that its predecessor was killed (SIGKILL,
power loss, OOM killer) while the environment may have been half-changed; it lists every
kept file and every path the new versions may have written, which is all that is needed
to restore the previous state offline (:func:`pipfresh.upgrade.stash.put_back`).

The folder and journal must belong to the current user and be writable by nobody else;
a journal that cannot be used or trusted raises :class:`CorruptJournal` (one line).
This module is data and file I/O only: no installer, no reading of the environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pipfresh.errors import CorruptJournal
from pipfresh.models import TargetEnv
from pipfresh.upgrade.paths import (
    journal_path,
    site_packages,
    state_folder,
)
from pipfresh.upgrade.stash import Kept, RealRoots, inside

#: Bumped on any change a previous pipfresh could not read correctly.
FORMAT = 2
STASH_DIR = "stash"
#: Stashes of committed updates, renamed to be deleted in the background.
TRASH_PREFIX = "trash-"
LOCK_NAME = "lock"
#: A journal larger than this is not one pipfresh wrote.
MAX_JOURNAL_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Journal:
    prefix: str  # the target's sys.prefix
    python: str  # the target's interpreter
    started: str  # ISO 8601, UTC
    pid: int  # of the pipfresh that wrote it
    before: Mapping[str, str]  # canonical name -> version, the whole environment
    metadata: tuple[str, ...]  # every .dist-info / .egg-info path before the update
    kept: tuple[Kept, ...]  # the files moved (or copied) into stash/
    clear: tuple[str, ...]  # every path the new versions may write
    planned: tuple[str, ...]  # canonical names the update changes or adds
    pipfresh_version: str
    format: int = FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "pipfresh_version": self.pipfresh_version,
            "prefix": self.prefix,
            "python": self.python,
            "started": self.started,
            "pid": self.pid,
            "before": dict(sorted(self.before.items())),
            "metadata": list(self.metadata),
            "planned": list(self.planned),
            "kept": [[k.original, k.slot, k.copy] for k in self.kept],
            "clear": list(self.clear),
        }

    @property
    def started_local(self) -> str:
        """``started`` in local time, to the minute, as users read it."""
        try:
            moment = datetime.fromisoformat(self.started)
        except ValueError:
            return self.started
        return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def make_state_folder(folder: Path) -> None:
    """Create the state folder (0700), or check that the existing one is safe to use."""
    with contextlib.suppress(FileExistsError):  # a file there: check_owned says so
        folder.mkdir(mode=0o700, exist_ok=True)
    check_owned(folder, folder=True)


def check_owned(path: Path, *, folder: bool) -> None:
    """Refuse a path not owned by this user, writable by others, or a symlink."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise CorruptJournal(str(path), exc.strerror or str(exc)) from None
    kind_ok = stat.S_ISDIR(info.st_mode) if folder else stat.S_ISREG(info.st_mode)
    if not kind_ok:
        want = "a folder" if folder else "a regular file"
        raise CorruptJournal(str(path), f"not {want} (a symlink or something else stands there)")
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise CorruptJournal(str(path), f"owned by user {info.st_uid}, not by you")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CorruptJournal(str(path), "writable by other users")


def write(folder: Path, journal: Journal) -> Path:
    """Write ``journal.json`` atomically and durably: the journal is only useful if it
    is on disk, whole, before the first file is moved."""
    path = journal_path(folder)
    data = (json.dumps(journal.to_json(), indent=1) + "\n").encode()
    temp = folder / f".journal-{os.getpid()}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_folder(folder)
    return path


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def fsync_folder(folder: Path) -> None:
    # The rename itself must survive a crash, not only the file's bytes.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read(folder: Path, roots: Sequence[str] | None = None) -> Journal | None:
    """The journal in ``folder``; None when there is none. With ``roots``, every path
    it names must lie inside them."""
    path = journal_path(folder)
    try:
        # O_NONBLOCK: a FIFO planted there must not hang the run; fstat refuses it.
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise CorruptJournal(str(path), exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CorruptJournal(str(path), "not a regular file")
        check_owned(folder, folder=True)
        check_owned(path, folder=False)
        raw = handle.read(MAX_JOURNAL_BYTES + 1)
    if len(raw) > MAX_JOURNAL_BYTES:
        raise CorruptJournal(str(path), "larger than 256 MB")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptJournal(str(path), f"not JSON ({exc})") from None
    return parse(str(path), document, roots)


def parse(path: str, document: object, roots: Sequence[str] | None = None) -> Journal:
    """Validate a decoded journal; :class:`CorruptJournal` names the first problem.

    With ``roots``, every path it names must lie inside them (the environment)."""
    if not isinstance(document, dict):
        raise CorruptJournal(path, "not a JSON object")
    version = document.get("format")
    if version != FORMAT:
        if isinstance(version, int) and version > FORMAT:
            reason = f"written by a newer pipfresh (format {version}, this one reads {FORMAT})"
        else:
            reason = f"unknown format {version!r}"
        raise CorruptJournal(path, reason)

    def field(name: str, kind: type) -> Any:
        value = document.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CorruptJournal(path, f"{name!r} is missing or not a {kind.__name__}")
        return value

    def strings(name: str) -> tuple[str, ...]:
        value = field(name, list)
        if not all(isinstance(item, str) for item in value):
            raise CorruptJournal(path, f"{name!r} must list strings")
        return tuple(value)

    before = field("before", dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in before.items()):
        raise CorruptJournal(path, "'before' must map names to version strings")
    kept = []
    for entry in field("kept", list):
        if (
            not isinstance(entry, list)
            or len(entry) != 3
            or not isinstance(entry[0], str)
            or not isinstance(entry[1], str)
            or not isinstance(entry[2], bool)
        ):
            raise CorruptJournal(path, "'kept' entries must be [path, slot, copied]")
        slot = PurePosixPath(entry[1])
        # Slots stay inside stash/: a journal never points the restore elsewhere.
        if slot.is_absolute() or ".." in slot.parts or not slot.parts:
            raise CorruptJournal(path, f"kept slot {entry[1]!r} is outside {STASH_DIR}/")
        if not os.path.isabs(entry[0]) or os.path.normpath(entry[0]) != entry[0]:
            raise CorruptJournal(path, f"kept path {entry[0]!r} is not absolute and normal")
        kept.append(Kept(entry[0], entry[1], entry[2]))
    clear = strings("clear")
    if roots is not None:
        real = RealRoots(roots)
        for item in [k.original for k in kept] + list(clear):
            if not inside(os.path.normpath(item), roots):
                raise CorruptJournal(path, f"{item} is outside the environment")
            if not real.holds(item):
                raise CorruptJournal(path, f"{item} leads out of the environment (a symlink)")
    return Journal(
        prefix=field("prefix", str),
        python=field("python", str),
        started=field("started", str),
        pid=field("pid", int),
        before=dict(before),
        metadata=strings("metadata"),
        kept=tuple(kept),
        clear=clear,
        planned=strings("planned"),
        pipfresh_version=field("pipfresh_version", str),
    )


def remove(folder: Path, *, in_background: bool = False) -> None:
    """Delete the journal, then the stash: a crash halfway through leaves loose kept
    files (cleaned up by the next run), never a journal naming deleted ones.

    ``in_background`` (a committed update): the stash is renamed to a ``trash-``
    folder and deleted by a detached process, so that the update ends without waiting
    for the unlinks of every replaced file (0.4-0.6 s for a 120-package update). What
    a killed deleter leaves, the next update deletes (:func:`remove_leftovers`)."""
    with contextlib.suppress(FileNotFoundError):
        journal_path(folder).unlink()
    fsync_folder(folder)
    stash = folder / STASH_DIR
    if in_background and os.name == "posix":
        trash = folder / f"{TRASH_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
        try:
            os.rename(stash, trash)
        except FileNotFoundError:
            return
        except OSError:
            pass  # deleted here, below
        else:
            if _delete_detached(trash):
                return
            stash = trash
    shutil.rmtree(stash, ignore_errors=True)


def remove_leftovers(folder: Path) -> None:
    """Delete what earlier updates' background deleters left (killed, or still at it:
    both ignore what the other already deleted)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(TRASH_PREFIX) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)


def _delete_detached(path: Path) -> bool:
    """Start a process of its own session that deletes ``path``; whether it started.
    It inherits no file descriptor (the environment's lock stays this process's), and
    it forks once more so that the child this process waits for ends at once: no
    zombie is left to a long-lived caller of the Python API."""
    import subprocess
    import sys

    code = (
        "import os, shutil, sys\n"
        "if os.fork() == 0:\n"
        "    shutil.rmtree(sys.argv[1], ignore_errors=True)\n"
        "os._exit(0)\n"
    )
    try:
        started = subprocess.run(
            [sys.executable, "-I", "-S", "-c", code, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return started.returncode == 0


def pending_warning(target: TargetEnv) -> str | None:
    """One line when the target has a journal whose writer is gone.

    Reads only, without the lock: a read-only command must never make an update fail
    to start, so a journal is taken for a running update's while its pid lives.
    """
    folder = state_folder(target)
    try:
        record = read(folder)
    except CorruptJournal as exc:
        return (
            f"an interrupted update left a journal that cannot be used ({exc}); "
            f"'pipfresh update' will refuse to run until {journal_path(folder)} is deleted"
        )
    if record is None or pid_alive(record.pid):
        return None
    return (
        f"an interrupted update (started {record.started_local}) may have left "
        f"{target.prefix} half-updated; 'pipfresh update' will restore it"
    )


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (it may be another program
    that reused the number: good enough for a warning, never used to decide a restore)."""
    if pid <= 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


__all__ = [
    "FORMAT",
    "Journal",
    "check_owned",
    "journal_path",
    "make_state_folder",
    "parse",
    "pending_warning",
    "pid_alive",
    "read",
    "remove",
    "site_packages",
    "state_folder",
    "write",
]
