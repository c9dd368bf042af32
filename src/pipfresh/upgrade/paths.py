"""Where an environment keeps pipfresh's update state: names and paths only.

A module of its own so that every scan can look for an interrupted update's journal
(one ``lstat``) without importing the journal, the stash and what they need.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipfresh.models import TargetEnv

#: pipfresh's state folder in site-packages, never a distribution's file (a RECORD
#: naming it is refused).
STATE_DIR_NAME = ".pipfresh-update"
JOURNAL_NAME = "journal.json"


def site_packages(target: TargetEnv) -> str:
    """Where the target installs pure-Python packages (its scheme's purelib)."""
    found = target.paths.get("purelib")
    if found:
        return found
    for entry in target.sys_path:  # an inspection without the scheme
        if entry.endswith("site-packages") and entry.startswith(target.prefix):
            return entry
    return os.path.join(target.prefix, "site-packages")


def state_folder(target: TargetEnv) -> Path:
    return Path(site_packages(target)) / STATE_DIR_NAME


def journal_path(folder: Path) -> Path:
    return folder / JOURNAL_NAME
