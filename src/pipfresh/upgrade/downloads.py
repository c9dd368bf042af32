"""The download cache of the update: wheels by sha256, checked on every use, bounded.

``<cache dir>/wheels/<sha256>/<filename>``: a wheel is only ever stored under the hash
it was checked against, and hashed again before it is used, so a damaged or replaced
file is dropped and downloaded again rather than installed. After a successful update
the folder is trimmed to :data:`MAX_BYTES`, least recently used first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from pathlib import Path

#: The most the download cache keeps (the newest files win).
MAX_BYTES = 2 * 1024**3
WHEELS_DIR = "wheels"


#: Files this process downloaded and checked itself, with the (size, mtime) they had
#: then: :meth:`DownloadCache.get` need not hash them again (a prefetch while
#: planning, then the update's download stage, in one run).
_CHECKED: dict[str, tuple[int, int]] = {}


class DownloadCache:
    def __init__(self, root: Path, *, bounded: bool = True, max_bytes: int = MAX_BYTES) -> None:
        self.root = root
        self.bounded = bounded
        self.max_bytes = max_bytes

    def _path(self, sha256: str, filename: str) -> Path | None:
        digest = sha256.lower()
        name = os.path.basename(filename)
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest) or not name:
            return None
        return self.root / digest / name

    def get(self, sha256: str, filename: str) -> Path | None:
        """The cached file, when it is a regular file that still hashes to ``sha256``."""
        path = self._path(sha256, filename)
        if path is None:
            return None
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                return None
            if _CHECKED.get(str(path)) == (info.st_size, info.st_mtime_ns):
                return path
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        except OSError:
            return None
        if digest.hexdigest() != sha256.lower():
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: trimmed last
        self.trust(path)  # checked: not hashed again in this process
        return path

    def present(self, sha256: str, filename: str) -> bool:
        """Whether a file is stored for ``sha256`` (not checked: :meth:`get` checks)."""
        path = self._path(sha256, filename)
        return path is not None and os.path.isfile(path)

    def trust(self, path: Path) -> None:
        """``path`` was just written from a download checked against its sha256."""
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            _CHECKED[str(path)] = (info.st_size, info.st_mtime_ns)

    def destination(self, sha256: str, filename: str) -> Path:
        """Where a download of ``filename`` checked against ``sha256`` is to be written
        (its folder made)."""
        path = self._path(sha256, filename)
        if path is None:
            raise OSError(f"not a usable sha256 or file name: {filename}")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def put(self, sha256: str, filename: str, body: bytes) -> Path:
        """Store ``body`` (already checked against ``sha256``) atomically."""
        path = self._path(sha256, filename)
        if path is None:
            raise OSError(f"not a usable sha256 or file name: {filename}")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temp, "wb") as handle:
                handle.write(body)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return path

    def size(self) -> tuple[int, int]:
        """(files, bytes) held."""
        files = total = 0
        for path in self._files():
            with contextlib.suppress(OSError):
                total += path.stat().st_size
                files += 1
        return files, total

    def _files(self) -> list[Path]:
        try:
            folders = [p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()]
        except OSError:
            return []
        found: list[Path] = []
        for folder in folders:
            with contextlib.suppress(OSError):
                found += [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()]
        return found

    def prune(self) -> None:
        """Trim to :attr:`max_bytes`, least recently used first."""
        entries = []
        for path in self._files():
            with contextlib.suppress(OSError):
                info = path.stat()
                entries.append((info.st_mtime, info.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                shutil.rmtree(path.parent)
                total -= size

    def clear(self) -> int:
        """Delete every cached wheel (never following a symlink); returns how many."""
        count = len(self._files())
        if self.root.is_symlink():
            self.root.unlink()
            return 0
        shutil.rmtree(self.root, ignore_errors=True)
        return count


def download_cache(cache_root: Path) -> DownloadCache:
    return DownloadCache(cache_root / WHEELS_DIR)


__all__ = ["MAX_BYTES", "DownloadCache", "download_cache"]
