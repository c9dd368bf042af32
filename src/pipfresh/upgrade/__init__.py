"""Carrying an update out: downloads, the stash of replaced files, the one install,
verification, restore, the environment's lock and journal."""

from __future__ import annotations

from typing import TYPE_CHECKING

# The executor is imported on first use: a scan reads only the journal (to warn about
# an interrupted update), and importing the executor with it cost every scan ~15 ms
# of CPU for planning, installers and downloads it never runs.
if TYPE_CHECKING:
    from pipfresh.upgrade.executor import (
        ChangeResult,
        Outcome,
        Terminated,
        environment_lock,
        execute,
        outcome_document,
        recover_interrupted,
        release,
        revert,
        verify,
    )

__all__ = [
    "ChangeResult",
    "Outcome",
    "Terminated",
    "environment_lock",
    "execute",
    "outcome_document",
    "recover_interrupted",
    "release",
    "revert",
    "verify",
]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'pipfresh.upgrade' has no attribute {name!r}")
    from pipfresh.upgrade import executor

    value = getattr(executor, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
