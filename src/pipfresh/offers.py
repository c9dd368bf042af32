"""The versions ``update --interactive`` offers for each package it would move.

The plan moves a package to one version (its wanted one, or latest with ``--latest``);
a user picking by hand may prefer a smaller step, as ``ncu -i`` and ``--target``
allow: the newest patch release of the installed line, or the newest minor release
of its major. Each is chosen under the scan's own rules (Python, tags, yanked,
``--pre``, cooldown, and the other installed packages' requirements), never above
the plan's version and never beyond the scan's ``--target``, so an offer is a version
the plan could have chosen with a narrower target. Picking one re-plans with that
package capped there (:func:`pipfresh.api.run_update`), so what it needs still moves
with it and a version that turns out inconsistent is dropped with its reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from packaging.specifiers import SpecifierSet

from pipfresh.models import ProjectPage, Target
from pipfresh.select import IncompletePage, Policy, parse_version, wanted_release

#: Narrowest first; a level is offered only when it is narrower than the scan's target.
_LEVELS: tuple[Target, ...] = ("patch", "minor")
_WIDTH: dict[Target, int] = {"patch": 0, "minor": 1, "latest": 2}


def offers(
    page: ProjectPage,
    policy: Policy,
    installed: str,
    planned: str,
    allowed: Sequence[SpecifierSet] = (),
) -> tuple[str, ...]:
    """Pure: the versions to offer for a package the plan moves from ``installed`` to
    ``planned``, oldest first, ending with ``planned`` itself: each above the installed
    version and below the planned one. Only ``(planned,)`` when the page cannot tell
    (a cached digest, a version that is not PEP 440)."""
    now = parse_version(installed)
    goal = parse_version(planned)
    if now is None or goal is None:
        return (planned,)
    found: dict[str, None] = {}
    for level in _LEVELS:
        if _WIDTH[level] >= _WIDTH[policy.target]:
            break
        try:
            release = wanted_release(page, dataclasses.replace(policy, target=level), now, allowed)
        except IncompletePage:
            break
        if release is not None and now < release.version < goal:
            found.setdefault(str(release.version), None)
    return (*found, planned)
