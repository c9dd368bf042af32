"""Upgrades that broke an environment's tests, remembered in its state folder.

``<site-packages>/.pipfresh-update/broken.json`` (next to the update's journal and
lock, so it goes with the environment and never follows another one), one entry per
project: the version that broke the tests, the version it was reverted to, the date
and the first failing line. The scan marks them; ``update`` skips that version (not a
newer one) unless asked to retry. The file is checked as the journal is: a regular
file owned by this user, writable by nobody else; one that cannot be trusted or read
is taken as empty (it is a hint, never needed to restore anything).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from pipfresh.errors import CorruptJournal
from pipfresh.models import PackageStatus, TargetEnv

# pipfresh.upgrade (the executor, ~130 ms of imports) is imported only where a memory
# file exists: every scan looks for one.

FILE_NAME = "broken.json"
FORMAT = 1
#: A memory file larger than this is not one pipfresh wrote.
MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Broken:
    """One upgrade that broke the tests: ``name`` from ``before`` to ``version``."""

    name: str
    version: str
    before: str
    date: str  # YYYY-MM-DD, UTC
    failure: str = ""

    def mark(self) -> str:
        return f"broke tests on {self.date}"


def memory_path(folder: Path) -> Path:
    return folder / FILE_NAME


def load(folder: Path) -> dict[str, Broken]:
    """Canonical name -> what broke; empty when there is no usable file."""
    from pipfresh.upgrade import journal

    path = memory_path(folder)
    try:
        journal.check_owned(path, folder=False)
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except (CorruptJournal, OSError):
        return {}
    if len(raw) > MAX_BYTES:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return {}
    entries = document.get("broken")
    found: dict[str, Broken] = {}
    if not isinstance(entries, dict):
        return found
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            continue
        fields = [entry.get(k) for k in ("name", "version", "before", "date")]
        failure = entry.get("failure", "")
        if all(isinstance(v, str) for v in fields) and isinstance(failure, str):
            name, version, before, date = (str(v) for v in fields)
            found[canonicalize_name(str(key))] = Broken(name, version, before, date, failure)
    return found


def remember(folder: Path, broken: Iterable[Broken], *, cleared: Iterable[str] = ()) -> None:
    """Add ``broken`` (replacing older entries of those projects) and drop ``cleared``
    (projects now upgraded with the tests green). Written atomically, 0600."""
    from pipfresh.upgrade import journal

    journal.make_state_folder(folder)
    current = load(folder)
    for name in cleared:
        current.pop(canonicalize_name(name), None)
    for entry in broken:
        current[canonicalize_name(entry.name)] = entry
    document = {
        "format": FORMAT,
        "broken": {
            key: {
                "name": b.name,
                "version": b.version,
                "before": b.before,
                "date": b.date,
                "failure": b.failure,
            }
            for key, b in sorted(current.items())
        },
    }
    path = memory_path(folder)
    temp = folder / f".broken-{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1)
            f.write("\n")
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def mark_broken(target: TargetEnv, statuses: list[PackageStatus]) -> list[PackageStatus]:
    """``statuses`` with ``broke_tests`` set where the version the scan proposes (wanted
    or latest) is the one remembered as having broken the tests."""
    from pipfresh.upgrade.paths import state_folder

    folder = state_folder(target)
    if not os.path.lexists(folder / FILE_NAME):
        return statuses  # the usual case, known without importing the journal
    broken = load(folder)
    if not broken:
        return statuses
    marked: list[PackageStatus] = []
    for status in statuses:
        entry = broken.get(canonicalize_name(status.name))
        if entry is not None and entry.version in (status.wanted, status.latest):
            marked.append(dataclasses.replace(status, broke_tests=entry.date))
        else:
            marked.append(status)
    return marked


def skipped(broken: Mapping[str, Broken], planned: Mapping[str, str]) -> list[Broken]:
    """The remembered upgrades that ``planned`` (canonical name -> version) would try
    again: the same version that broke the tests (a newer one is tried)."""
    return [
        broken[name]
        for name, version in sorted(planned.items())
        if name in broken and broken[name].version == version
    ]
