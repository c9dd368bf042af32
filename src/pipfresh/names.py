"""How pipfresh names a project in everything it prints (table, messages, JSON).

One rule, as ``pip list`` has it: an installed project is named by the ``Name`` of its
installed metadata (``pydantic_core``, ``Zope.Interface``), wherever it appears: its
own row, the "held back by" requirement on it, the reason another package moves.
A project that is not installed (a new dependency an update adds) has no installed
spelling and is named by its normalised name (PEP 503), as its index page is.

Requirement text quoted from metadata keeps its own spelling only where it is quoted
whole (``problems[].requirement``); the cut-down ranges pipfresh builds itself name
the project by this rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from packaging.utils import canonicalize_name


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def shown_name(name: str, installed: Mapping[str, _Named]) -> str:
    """Pure: the name to print for project ``name`` (any spelling), given the installed
    distributions keyed by canonical name."""
    canonical = canonicalize_name(name)
    dist = installed.get(canonical)
    return dist.name if dist is not None else canonical


# The project name at the start of a PEP 508 requirement.
_LEADING_NAME = re.compile(r"^\s*[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def renamed(requirement: str, name: str) -> str:
    """Pure: ``requirement`` (PEP 508 text) with its project named ``name``:
    ``renamed("pydantic-core==2.0", "pydantic_core")`` is ``pydantic_core==2.0``.
    Text that does not start with a name is returned as it is."""
    return _LEADING_NAME.sub(name, requirement, count=1)
