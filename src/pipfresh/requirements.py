"""Pure: what the installed distributions require of each other, judged for one target.

Every installed distribution's ``Requires-Dist`` lines are evaluated against the
target's marker environment (not pipfresh's own interpreter). A line guarded by
``extra == "x"`` counts only while extra ``x`` of its distribution is in use, that is
when some counted requirement asks for ``thatdist[x]``; extras switch on further
requirements, which can switch on further extras, so the set is grown to a fixpoint.

The result is, per project, the version ranges that the others allow (what keeps
"wanted" below "latest"), and the requirements the installed set already breaks
(what ``pip check`` would complain about). Lines that do not parse are skipped: one
broken metadata file must not stop a scan. No I/O here.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pipfresh.models import InstalledDist, Problem
from pipfresh.names import shown_name
from pipfresh.select import parse_version


@dataclass(frozen=True, slots=True)
class Constraint:
    """One installed distribution's requirement on another project."""

    holder: str  # the requiring distribution, as named in its metadata
    holder_version: str
    requirement: str  # without its marker, e.g. "mpmath<1.4,>=1.1.0"
    project: str  # the required project, named as installed (pipfresh.names)
    specifier: SpecifierSet

    def allows(self, version: Version) -> bool:
        # Whether pre-releases are candidates at all is decided by the selection
        # rules; a range only says where a version may lie.
        return self.specifier.contains(version, prereleases=True)

    def excluding(self, version: Version) -> str:
        """The requirement cut down to the clauses that rule ``version`` out:
        ``mpmath<1.4,>=1.1.0`` against 1.4.1 gives ``mpmath<1.4``."""
        clauses = sorted(
            str(s) for s in self.specifier if not s.contains(version, prereleases=True)
        )
        return self.project + ",".join(clauses or [str(self.specifier)])


@dataclass(frozen=True, slots=True)
class Analysis:
    """The installed set's requirements, for one target."""

    constraints: Mapping[str, tuple[Constraint, ...]]  # canonical name -> who limits it
    problems: tuple[Problem, ...]  # requirements already broken
    extras: Mapping[str, frozenset[str]]  # canonical name -> extras in use (normalised)

    def on(self, canonical_name: str) -> tuple[Constraint, ...]:
        return self.constraints.get(canonical_name, ())


EMPTY = Analysis({}, (), {})


@lru_cache(maxsize=16384)
def parse_requirement(line: str) -> Requirement | None:
    """A Requires-Dist line, or None when it is not valid PEP 508.

    Memoised: the same lines (``typing-extensions>=4``) recur across distributions
    and across scans made by one process.
    """
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


# `extra == "x"` as one conjunct of a marker without `or`: false for the dist itself.
_EXTRA_CLAUSE = re.compile(r"""\bextra\s*==\s*(?:"[^"]+"|'[^']+')""")
_OR = re.compile(r"\bor\b")


@lru_cache(maxsize=16384)
def only_for_extras(line: str) -> bool:
    """True when a line surely applies only under some extra, told from its text alone.

    Most Requires-Dist lines of a large environment are extras' (often 80%) and most
    extras are not in use; recognising them without parsing keeps the analysis cheap.
    Any doubt (an ``or``, an unusual spelling) answers False, and the line is parsed.
    """
    marker = line.partition(";")[2]
    return bool(_EXTRA_CLAUSE.search(marker)) and not _OR.search(marker)


def requirement_text(req: Requirement) -> str:
    """The requirement as a user reads it: name, extras and range or URL, no marker."""
    text = req.name
    if req.extras:
        text += "[" + ",".join(sorted(req.extras)) + "]"
    if req.url:
        return f"{text} @ {req.url}"
    return text + str(req.specifier)


class Markers:
    """Marker results for one target, memoised per (marker, extra)."""

    def __init__(self, environment: Mapping[str, str]) -> None:
        self._environment = dict(environment)
        self._seen: dict[tuple[str, str], bool] = {}

    def true(self, marker: Marker | None, extra: str) -> bool:
        if marker is None:
            # Unconditional lines belong to the distribution itself, not to an extra.
            return extra == ""
        key = (str(marker), extra)
        known = self._seen.get(key)
        if known is None:
            environment = {**self._environment, "extra": extra}
            try:
                known = marker.evaluate(environment)
            except (UndefinedComparison, UndefinedEnvironmentName, InvalidVersion, ValueError):
                # A marker that cannot be judged for this target cannot be shown to apply.
                known = False
            self._seen[key] = known
        return known


def analyse(dists: Iterable[InstalledDist], markers: Mapping[str, str]) -> Analysis:
    """Evaluate every installed requirement for the target whose marker environment is
    ``markers``; see the module docstring."""
    installed: dict[str, InstalledDist] = {}
    for dist in dists:
        installed.setdefault(dist.canonical_name, dist)
    evaluate = Markers(markers)
    in_use: dict[str, set[str]] = {name: set() for name in installed}
    counted: list[tuple[InstalledDist, Requirement]] = []
    seen: set[tuple[str, int]] = set()
    # Each distribution once as itself (extra ""), then once per extra switched on.
    pending: deque[tuple[str, str]] = deque((name, "") for name in installed)
    while pending:
        name, extra = pending.popleft()
        for index, line in enumerate(installed[name].requires):
            if (name, index) in seen or (not extra and only_for_extras(line)):
                continue
            req = parse_requirement(line)
            if req is None or not evaluate.true(req.marker, extra):
                continue
            seen.add((name, index))
            counted.append((installed[name], req))
            target = canonicalize_name(req.name)
            active = in_use.get(target)
            if active is None:
                continue
            for raw_extra in req.extras:
                wanted = canonicalize_name(raw_extra)  # PEP 685: extras compare normalised
                if wanted not in active:
                    active.add(wanted)
                    pending.append((target, wanted))

    constraints: dict[str, list[Constraint]] = {}
    problems: list[Problem] = []
    for holder, req in counted:
        target = canonicalize_name(req.name)
        if target == holder.canonical_name:
            # `pkg[extra]` asking for pkg itself only switches extras on; its version
            # moves with the holder, so it limits nothing.
            continue
        text = requirement_text(req)
        required = installed.get(target)
        if required is None:
            problems.append(Problem(holder.name, holder.version, text, req.name, None))
            continue
        if req.url or not req.specifier:
            continue
        # The range is named as the project is installed (pipfresh.names), not as
        # this holder happens to spell it: "held back by" reads like the row it is on.
        project = shown_name(req.name, installed)
        constraint = Constraint(holder.name, holder.version, text, project, req.specifier)
        constraints.setdefault(target, []).append(constraint)
        version = parse_version(required.version)
        # A version that is not PEP 440 cannot be judged against a range; pip cannot
        # either, so it is not reported as a conflict.
        if version is not None and not constraint.allows(version):
            problems.append(
                Problem(holder.name, holder.version, text, required.name, required.version)
            )
    problems.sort(key=lambda p: (p.name.lower(), p.requirement))
    return Analysis(
        constraints={k: tuple(v) for k, v in constraints.items()},
        problems=tuple(problems),
        extras={k: frozenset(v) for k, v in in_use.items() if v},
    )
