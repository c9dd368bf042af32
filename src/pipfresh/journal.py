"""The journal of an update in progress: what to put back if pipfresh dies mid-install.

An update works in ``<cache root>/updates/<digest of the target's prefix>/`` (the
digest is that of the environment's lock file, so one folder per environment)::

    new/            the planned wheels, deleted with the folder
    restore/        the wheels of the versions being replaced
    journal.json    written just before the installer runs, removed once the update
                    succeeded or was rolled back

A ``journal.json`` found by a later run means that run's predecessor was killed
(SIGKILL, power loss, OOM killer) while the environment may have been half-changed;
the folder holds everything needed to restore the previous versions offline.

This module is data and file I/O only: no installer, no reading of the environment.
A journal that cannot be used raises :class:`CorruptJournal` (one line).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipfresh.errors import CorruptJournal

#: Bumped on any change a previous pipfresh could not read correctly.
FORMAT = 1
JOURNAL_NAME = "journal.json"
RESTORE_DIR = "restore"
NEW_DIR = "new"


def prefix_digest(prefix: str) -> str:
    """The name of one environment's lock and update folder."""
    return hashlib.sha256(str(Path(prefix).resolve()).encode()).hexdigest()[:24]


def update_folder(cache_root: Path, prefix: str) -> Path:
    return cache_root / "updates" / prefix_digest(prefix)


@dataclass(frozen=True, slots=True)
class RestoreWheel:
    """A wheel of a version being replaced, relative to the update folder."""

    file: str  # e.g. "restore/aaa-1.0-py3-none-any.whl"
    sha256: str


@dataclass(frozen=True, slots=True)
class Journal:
    prefix: str  # the target's sys.prefix
    python: str  # the target's interpreter
    started: str  # ISO 8601, UTC
    pid: int  # of the pipfresh that wrote it
    before: Mapping[str, str]  # canonical name -> version, the whole environment
    restore: tuple[RestoreWheel, ...]
    added: tuple[str, ...]  # canonical names the update installs that were absent
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
            "restore": [{"file": w.file, "sha256": w.sha256} for w in self.restore],
            "added": list(self.added),
        }

    @property
    def started_local(self) -> str:
        """``started`` in local time, to the minute, as users read it."""
        try:
            moment = datetime.fromisoformat(self.started)
        except ValueError:
            return self.started
        return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def journal_path(folder: Path) -> Path:
    return folder / JOURNAL_NAME


def write(folder: Path, journal: Journal) -> Path:
    """Write ``journal.json`` atomically and durably: the journal is only useful if it
    is on disk, whole, before the installer changes anything."""
    path = journal_path(folder)
    # What the journal names must reach the disk before the journal does: after a
    # power cut, a journal pointing at empty wheels could not restore anything.
    for wheel in journal.restore:
        _fsync_file(folder / wheel.file)
    data = (json.dumps(journal.to_json(), indent=2) + "\n").encode()
    # Not tempfile: importing it costs `pipfresh outdated` time, which reads journals
    # too; the folder belongs to this process while it holds the environment's lock.
    temp = folder / f".journal-{os.getpid()}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)
    return path


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    # The rename itself must survive a crash, not only the file's bytes.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read(folder: Path) -> Journal | None:
    """The journal in ``folder``; None when there is none."""
    path = journal_path(folder)
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        # NotADirectoryError: a file stands where a folder of the path would be (a
        # --cache-dir under a regular file), so no journal can be there either.
        return None
    except OSError as exc:
        raise CorruptJournal(str(path), exc.strerror or str(exc)) from None
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptJournal(str(path), f"not JSON ({exc})") from None
    return parse(str(path), document)


def parse(path: str, document: object) -> Journal:
    """Validate a decoded journal; :class:`CorruptJournal` names the first problem."""
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

    before = field("before", dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in before.items()):
        raise CorruptJournal(path, "'before' must map names to version strings")
    restore = []
    for entry in field("restore", list):
        if not isinstance(entry, dict):
            raise CorruptJournal(path, "'restore' entries must be objects")
        file, digest = entry.get("file"), entry.get("sha256")
        if not isinstance(file, str) or not isinstance(digest, str):
            raise CorruptJournal(path, "'restore' entries need 'file' and 'sha256' strings")
        # Only wheels inside the update folder: a journal never points elsewhere.
        parts = Path(file).parts
        if Path(file).is_absolute() or ".." in parts or parts[:1] != (RESTORE_DIR,):
            raise CorruptJournal(path, f"restore wheel {file!r} is outside {RESTORE_DIR}/")
        restore.append(RestoreWheel(file, digest))
    added = field("added", list)
    if not all(isinstance(name, str) for name in added):
        raise CorruptJournal(path, "'added' must list names")
    return Journal(
        prefix=field("prefix", str),
        python=field("python", str),
        started=field("started", str),
        pid=field("pid", int),
        before=dict(before),
        restore=tuple(restore),
        added=tuple(added),
        pipfresh_version=field("pipfresh_version", str),
    )


def remove(folder: Path) -> None:
    """Delete the update folder, journal first: a crash halfway through leaves loose
    wheels (cleaned up by the next run), never a journal naming deleted wheels."""
    with contextlib.suppress(FileNotFoundError):
        journal_path(folder).unlink()
    _fsync_folder(folder)
    shutil.rmtree(folder, ignore_errors=True)


def pending_warning(cache_root: Path, prefix: str) -> str | None:
    """One line when the environment at ``prefix`` has a journal whose writer is gone.

    Reads only, without the lock: a read-only command must never make an update fail
    to start, so a journal is taken for a running update's while its pid lives.
    """
    folder = update_folder(cache_root, prefix)
    try:
        record = read(folder)
    except CorruptJournal as exc:
        return (
            f"an interrupted update left a journal that cannot be used ({exc}); "
            f"'pipfresh update' will refuse to run until {folder} is deleted"
        )
    if record is None or pid_alive(record.pid):
        return None
    return (
        f"an interrupted update (started {record.started_local}) may have left {prefix} "
        "half-updated; 'pipfresh update' will restore it"
    )


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (it may be another program
    that reused the number: good enough for a warning, never used to decide a restore)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = [
    "FORMAT",
    "Journal",
    "RestoreWheel",
    "journal_path",
    "parse",
    "pending_warning",
    "pid_alive",
    "prefix_digest",
    "read",
    "remove",
    "update_folder",
    "write",
]
