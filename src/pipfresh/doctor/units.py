"""Pure: a plan split into units that can be applied in any combination.

A unit is a package of the plan together with whatever must move with it: the
packages the planner moved or added for it (reasons "needed by X 2.0", "new
dependency of X 2.0") and, transitively, anything without which the unit would leave
a requirement broken. Applying any set of units must leave the environment as
``pip check`` wants it, so consistency is decided by the analysis the plan itself
uses (:func:`pipfresh.requirements.analyse` with the target's markers, problems the
installed set already has not counted, as in :func:`pipfresh.plan.make_plan`):

1. Items are joined to the package their reason names.
2. Each unit alone is analysed; a new problem joins the unit to the plan items the
   problem names (its holder and the project it requires), until every unit is
   consistent on its own.
3. Every pair of units that a requirement links (one names a package of the other, in
   its new or its installed version, directly or through an extra it asks for) is
   analysed together, and an inconsistent pair is joined, until nothing more joins.

Why singles and pairs are enough: a requirement is between two packages, and a union
of units either moves both (as the whole plan does, which is consistent) or moves at
most one (as that unit alone does). A requirement switched on by an extra involves a
third package, the one asking for the extra, hence the pairs. Only a chain of extras
(an extra's requirement asking for another extra) reaches further; the caller can
check each state it applies with :func:`new_problems` before installing it.

No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from packaging.utils import canonicalize_name

from pipfresh.models import InstalledDist, Problem
from pipfresh.plan import Addition, Change, Plan, ProblemKey, installed_after, problem_key
from pipfresh.requirements import analyse, parse_requirement

Item = Change | Addition

# "needed by X 2.0" (a co-moved package), "new dependency of X 2.0" (an addition).
_CAUSE = re.compile(r"^(?:needed by|new dependency of) (?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True, slots=True)
class Unit:
    """Packages that move together: ``changes`` and ``additions`` of one plan.

    ``name`` is the package the unit is for (the first one the user asked to move),
    used to show and remember the unit.
    """

    name: str
    changes: tuple[Change, ...]
    additions: tuple[Addition, ...] = ()

    @property
    def canonical_names(self) -> frozenset[str]:
        return frozenset(i.canonical_name for i in _items(self.changes, self.additions))

    @property
    def plan(self) -> Plan:
        return combine([self])


def combine(units: Iterable[Unit]) -> Plan:
    """The plan that applies exactly ``units`` (nothing is left alone in it)."""
    changes = sorted((c for u in units for c in u.changes), key=lambda c: c.canonical_name)
    additions = sorted((a for u in units for a in u.additions), key=lambda a: a.canonical_name)
    return Plan(tuple(changes), (), tuple(additions))


def new_problems(
    dists: Sequence[InstalledDist], markers: Mapping[str, str], units: Iterable[Unit]
) -> tuple[Problem, ...]:
    """The requirements that applying ``units`` would break and the installed set does
    not already break (empty: ``pip check`` stays as it is)."""
    return _Checker(dists, markers).problems(combine(units))


class _Checker:
    def __init__(self, dists: Sequence[InstalledDist], markers: Mapping[str, str]) -> None:
        self._dists = dists
        self._markers = markers
        self._baseline: set[ProblemKey] = {problem_key(p) for p in analyse(dists, markers).problems}

    def problems(self, plan: Plan) -> tuple[Problem, ...]:
        after = installed_after(self._dists, plan)
        found = analyse(after, self._markers).problems
        return tuple(p for p in found if problem_key(p) not in self._baseline)


class _Groups:
    """Union-find over the plan's canonical names."""

    def __init__(self, names: Iterable[str]) -> None:
        self._parent = {name: name for name in names}

    def __contains__(self, name: str) -> bool:
        return name in self._parent

    def find(self, name: str) -> str:
        root = name
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[name] != root:  # path compression
            self._parent[name], name = root, self._parent[name]
        return root

    def join(self, first: str, second: str) -> bool:
        a, b = self.find(first), self.find(second)
        if a == b:
            return False
        self._parent[max(a, b)] = min(a, b)
        return True

    def members(self) -> list[list[str]]:
        groups: dict[str, list[str]] = {}
        for name in sorted(self._parent):
            groups.setdefault(self.find(name), []).append(name)
        return sorted(groups.values())


def _cause(item: Item) -> str | None:
    match = _CAUSE.match(item.reason)
    return None if match is None else canonicalize_name(match["name"])


def _required_names(own: Iterable[str], lines: Mapping[str, tuple[str, ...]]) -> set[str]:
    """The projects named by ``own`` requirement lines and, for a requirement asking for
    extras, by the lines of the package it names (``lines``: name -> every version's)."""
    names: set[str] = set()
    for line in own:
        req = parse_requirement(line)
        if req is None:
            continue
        target = canonicalize_name(req.name)
        names.add(target)
        if req.extras:
            for further in lines.get(target, ()):
                named = parse_requirement(further)
                if named is not None:
                    names.add(canonicalize_name(named.name))
    return names


def split(plan: Plan, dists: Sequence[InstalledDist], markers: Mapping[str, str]) -> list[Unit]:
    """``plan`` as units any combination of which is consistent; see the module docstring.

    Units come in the plan's order of their first package. A plan whose pieces cannot
    be made consistent on their own (it should not happen: the plan is consistent)
    comes back as one unit, which is always safe.
    """
    items = {i.canonical_name: i for i in _items(plan.changes, plan.additions)}
    if not items:
        return []
    groups = _Groups(items)
    for name, item in items.items():
        cause = _cause(item)
        if cause is not None and cause in groups:
            groups.join(name, cause)
    checker = _Checker(dists, markers)
    installed = {d.canonical_name: d for d in reversed(dists)}
    # Who each item names in a requirement, in its new version and its installed one.
    lines: dict[str, tuple[str, ...]] = {d: installed[d].requires for d in installed}
    for name, item in items.items():
        lines[name] = (*lines.get(name, ()), *item.requires)
    names = {name: _required_names(lines[name], lines) for name in items}

    def check(members: Iterable[str]) -> tuple[Problem, ...]:
        return checker.problems(_plan_of(items, members))

    while True:
        joined = False
        for members in groups.members():
            for problem in check(members):
                for named in (problem.name, problem.project):
                    other = canonicalize_name(named)
                    if other in groups and groups.join(members[0], other):
                        joined = True
        if joined:
            continue
        current = groups.members()
        if any(check(members) for members in current):
            return [_unit(items, list(items))]
        for first, second in combinations(current, 2):
            linked = any(names[a] & set(second) for a in first) or any(
                names[b] & set(first) for b in second
            )
            if linked and check([*first, *second]):
                groups.join(first[0], second[0])
                joined = True
        if not joined:
            break
    order = {name: i for i, name in enumerate(items)}
    units = [_unit(items, members) for members in groups.members()]
    return sorted(units, key=lambda u: min(order[n] for n in u.canonical_names))


def _plan_of(items: Mapping[str, Item], members: Iterable[str]) -> Plan:
    chosen = [items[m] for m in members]
    return Plan(
        tuple(i for i in chosen if isinstance(i, Change)),
        (),
        tuple(i for i in chosen if isinstance(i, Addition)),
    )


def _unit(items: Mapping[str, Item], members: Sequence[str]) -> Unit:
    chosen = [items[m] for m in members]
    changes = tuple(sorted((i for i in chosen if isinstance(i, Change)), key=_key))
    additions = tuple(sorted((i for i in chosen if isinstance(i, Addition)), key=_key))
    # Named for the package the user asked for: a change with no reason of its own.
    asked = [c for c in changes if _cause(c) is None] or _items(changes, additions)
    return Unit(asked[0].name, changes, additions)


def _items(changes: Iterable[Change], additions: Iterable[Addition]) -> list[Item]:
    return [*changes, *additions]


def _key(item: Item) -> str:
    return item.canonical_name
