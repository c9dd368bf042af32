"""One update per environment at a time: an OS file lock in the environment's state folder.

An advisory lock the kernel releases when its holders are gone (``flock`` on POSIX,
``msvcrt.locking`` on Windows), so a lock left by a process that died never blocks.
Its descriptor is passed on to the installer, so an installer that outlives a killed
pipfresh still holds it: the next run cannot start restoring while it writes.
(Not the filelock package: 54 ms to import for these few lines.)
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from pipfresh.errors import UsageError


@contextlib.contextmanager
def held(path: Path, what: str) -> Iterator[int]:
    """Hold the lock at ``path`` for the block (yields its descriptor); raise
    :class:`UsageError` at once when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        if not _try_lock(fd):
            raise UsageError(f"another pipfresh update is running on {what} (lock {path})")
        try:
            yield fd
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - not run on the Linux CI
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


__all__ = ["held"]
