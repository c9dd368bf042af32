"""Carrying an update out: downloads, the stash of replaced files, the one install,
verification, restore, the environment's lock and journal."""

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
