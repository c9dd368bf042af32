"""Pure: which packages ``pipfresh update`` will change, and why the others will not.

Planning happens in two steps around the network:

1. :func:`choose_targets` takes the scan's statuses and picks, per outdated package,
   the version to move to (wanted, or latest with ``--latest``).
2. The caller fetches each target's project page and metadata, and hands
   :func:`make_plan` one :class:`Candidate` per target. :func:`make_plan` keeps a
   candidate only when it can be installed from a wheel, its previous version can be
   restored from the index, and the whole installed set stays consistent with it.

Consistency is checked, not assumed: the installed set with every planned change
applied is analysed as ``pip check`` would (:func:`pipfresh.requirements.analyse`,
markers evaluated for the target); any problem that the installed set did not
already have drops the change that causes it, and the check runs again until
nothing more is dropped (dropping one change can break another that relied on it).
A change that needs a new distribution, or another package to move with it, is
dropped here with a one-line reason naming :data:`NO_RESOLVER`; the caller
(:mod:`pipfresh.planning`) then hands such changes to the resolver
(:mod:`pipfresh.resolve`), which turns them into co-moved :class:`Change` values and
:class:`Addition` values when a consistent set exists, and names the conflict when
none does.

The :class:`Plan` is a frozen value: what ``--dry-run`` prints is what runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from pipfresh.index.parse import wheel_tags
from pipfresh.models import IndexFile, InstalledDist, PackageStatus, Problem
from pipfresh.requirements import analyse
from pipfresh.select import (
    Policy,
    file_installable,
    parse_version,
    python_release,
    requires_python_allows,
)

NO_RESOLVER = "no resolver yet"
SDIST_ONLY = "no wheel for this Python, and no sdist to build one from"


@dataclass(frozen=True, slots=True)
class Target:
    """An outdated package and the version ``update`` would move it to."""

    name: str  # as installed
    canonical_name: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A target with what the index says about it (gathered by the caller).

    ``wheel`` is the best wheel of the target version for the interpreter (None: only
    an sdist, or nothing installable); ``restore`` the wheel of the installed version
    (None: it cannot be fetched again). ``requires`` and ``requires_python`` come
    from the target wheel's metadata. ``error`` is a reason the caller could not
    gather these (a network failure, unreadable metadata).
    """

    target: Target
    wheel: IndexFile | None
    restore: IndexFile | None
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One package the update will change: from ``before`` to ``after`` (installed
    from ``wheel``). ``restore`` is the index's wheel of ``before`` when there is one:
    informational only, the rollback puts the installed files themselves back."""

    name: str
    canonical_name: str
    before: str
    after: str
    wheel: IndexFile
    restore: IndexFile | None
    requires: tuple[str, ...] = ()
    reason: str = ""  # why it moves when it was not asked for: "needed by X 2.0"


@dataclass(frozen=True, slots=True)
class Addition:
    """A distribution the update installs that is not installed now (a new dependency)."""

    name: str
    canonical_name: str
    version: str
    wheel: IndexFile
    requires: tuple[str, ...] = ()
    reason: str = ""  # "new dependency of X 2.0"


@dataclass(frozen=True, slots=True)
class Dropped:
    """A package that is outdated but will not be changed, and why (one line)."""

    name: str
    before: str
    after: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What an update will do: every change, and every outdated package left alone."""

    changes: tuple[Change, ...]
    dropped: tuple[Dropped, ...]
    additions: tuple[Addition, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing would be installed (every outdated package is left alone)."""
        return not self.changes and not self.additions


def choose_targets(
    statuses: Iterable[PackageStatus], *, latest: bool = False
) -> tuple[list[Target], list[Dropped]]:
    """Targets for the outdated packages: their wanted version (latest with ``latest``).

    A package whose wanted version is its installed one (held back entirely) is
    reported as dropped, naming who holds it back.
    """
    targets: list[Target] = []
    dropped: list[Dropped] = []
    for status in statuses:
        if status.kind != "index":
            # Never replaced by an index release: say so rather than skip it silently.
            what = "an editable install" if status.kind == "editable" else "a direct URL install"
            dropped.append(Dropped(status.name, status.installed, "", f"not updated: {what}"))
            continue
        if not status.outdated or status.latest is None:
            continue
        goal = status.latest if latest else status.wanted
        installed = parse_version(status.installed)
        version = None if goal is None else parse_version(goal)
        if goal is None or version is None or (installed is not None and version <= installed):
            holders = ", ".join(
                f"{' '.join(filter(None, (h.name, h.version)))} requires {h.requirement}"
                for h in status.held_back_by
            )
            reason = f"held back by {holders}" if holders else "no newer version can be chosen"
            dropped.append(Dropped(status.name, status.installed, status.latest, reason))
            continue
        targets.append(Target(status.name, canonicalize_name(status.name), status.installed, goal))
    return targets, dropped


def rank_wheels(
    files: Iterable[IndexFile],
    policy: Policy,
    ranked_tags: Sequence[str],
    *,
    installed: bool = False,
) -> IndexFile | None:
    """The installable wheel among ``files`` whose best supported tag ranks highest in
    ``ranked_tags`` (the target's tags, best first); None when there is none.

    ``installed``: the version is the one installed now (to restore it), so a yanked
    file or one whose Requires-Python no longer matches still counts.
    """
    rank = {tag: i for i, tag in enumerate(ranked_tags)}
    best: tuple[int, IndexFile] | None = None
    for file in files:
        if not file.filename.endswith(".whl"):
            continue
        if not installed and not file_installable(file, policy):
            continue
        score = min((rank[t] for t in wheel_tags(file.filename) if t in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, file)
    return None if best is None else best[1]


def make_plan(
    dists: Sequence[InstalledDist],
    markers: Mapping[str, str],
    python_version: str,
    candidates: Iterable[Candidate],
    dropped: Iterable[Dropped] = (),
) -> Plan:
    """The consistent plan for ``candidates``; see the module docstring."""
    interpreter = python_release(python_version)
    dropped_list = list(dropped)
    kept: dict[str, Change] = {}
    for cand in candidates:
        target = cand.target
        reason: str | None = None
        if cand.error is not None:
            reason = cand.error
        elif cand.wheel is None:
            reason = SDIST_ONLY
        elif not requires_python_allows(cand.requires_python, interpreter):
            # The index did not say so (a mirror's HTML page, a find-links folder): an
            # older release may fit, which is the resolver's to find.
            reason = f"{target.after} requires Python {cand.requires_python} ({NO_RESOLVER})"
        if reason is not None or cand.wheel is None:
            dropped_list.append(Dropped(target.name, target.before, target.after, reason or ""))
            continue
        kept[target.canonical_name] = Change(
            target.name,
            target.canonical_name,
            target.before,
            target.after,
            cand.wheel,
            cand.restore,
            cand.requires,
        )
    baseline = {problem_key(p) for p in analyse(dists, markers).problems}
    while kept:
        problems = analyse(apply(dists, kept.values()), markers).problems
        new = [p for p in problems if problem_key(p) not in baseline]
        if not new:
            break
        removed = False
        dropped_now: set[str] = set()
        for problem in new:
            if {canonicalize_name(problem.name), canonicalize_name(problem.project)} & dropped_now:
                # A change this round already involved may be what causes it: the next
                # round sees whether the problem is still there, and whose it is.
                continue
            culprit, reason = _blame(problem, kept)
            if culprit is None or culprit not in kept:
                continue
            change = kept.pop(culprit)
            dropped_now.add(culprit)
            dropped_list.append(Dropped(change.name, change.before, change.after, reason))
            removed = True
        if not removed:  # pragma: no cover - every new problem involves a change
            break
    order = sorted(kept.values(), key=lambda c: c.canonical_name)
    return Plan(tuple(order), tuple(sorted(dropped_list, key=lambda d: d.name.lower())))


def apply(dists: Sequence[InstalledDist], changes: Iterable[Change]) -> list[InstalledDist]:
    """The installed set as it would be after ``changes``."""
    by_name = {c.canonical_name: c for c in changes}
    result: list[InstalledDist] = []
    for dist in dists:
        change = by_name.get(dist.canonical_name)
        if change is None:
            result.append(dist)
        else:
            result.append(dataclasses.replace(dist, version=change.after, requires=change.requires))
    return result


def installed_after(dists: Sequence[InstalledDist], plan: Plan) -> list[InstalledDist]:
    """The installed set as ``plan`` leaves it: changes applied, additions installed."""
    result = apply(dists, plan.changes)
    result += [
        InstalledDist(a.name, a.canonical_name, a.version, requires=a.requires)
        for a in plan.additions
    ]
    return result


def chain(first: Plan, then: Plan) -> Plan:
    """One plan doing ``first`` and then ``then`` (planned on the set ``first`` leaves).

    A package both move goes from ``first``'s before (restored from its wheel) to
    ``then``'s after; a dependency ``first`` adds and ``then`` moves is added at the
    later version. An outdated package ``then`` leaves alone keeps the latest reason
    given for it, and one that moves in either is no longer listed as left alone.
    """
    changes = {c.canonical_name: c for c in first.changes}
    additions = {a.canonical_name: a for a in first.additions}
    for change in then.changes:
        earlier = changes.get(change.canonical_name)
        added = additions.get(change.canonical_name)
        if earlier is not None:
            changes[change.canonical_name] = dataclasses.replace(
                change,
                name=earlier.name,
                before=earlier.before,
                restore=earlier.restore,
                reason=earlier.reason,
            )
        elif added is not None:
            additions[change.canonical_name] = dataclasses.replace(
                added, version=change.after, wheel=change.wheel, requires=change.requires
            )
        else:
            changes[change.canonical_name] = change
    for addition in then.additions:
        additions.setdefault(addition.canonical_name, addition)
    dropped = {canonicalize_name(d.name): d for d in first.dropped}
    dropped.update((canonicalize_name(d.name), d) for d in then.dropped)
    moved = changes.keys() | additions.keys()
    return Plan(
        tuple(sorted(changes.values(), key=lambda c: c.canonical_name)),
        tuple(
            sorted((d for n, d in dropped.items() if n not in moved), key=lambda d: d.name.lower())
        ),
        tuple(sorted(additions.values(), key=lambda a: a.canonical_name)),
    )


ProblemKey = tuple[str, str, str | None]


def problem_key(problem: Problem) -> ProblemKey:
    # Without the holder's version: a problem the installed set already has is not
    # blamed on the change that upgrades its holder and keeps the requirement.
    return (canonicalize_name(problem.name), problem.requirement, problem.installed)


def _blame(problem: Problem, kept: Mapping[str, Change]) -> tuple[str | None, str]:
    """Which planned change a new problem comes from, and the reason shown for dropping it."""
    holder = canonicalize_name(problem.name)
    required = canonicalize_name(problem.project)
    if holder in kept:
        change = kept[holder]
        if problem.installed is None:
            return holder, (
                f"{change.name} {change.after} needs {problem.requirement}, which is not "
                f"installed ({NO_RESOLVER}: new dependencies are not added)"
            )
        if required in kept:
            shown = f"{problem.project} {kept[required].after} would be installed"
        else:
            shown = f"{problem.project} {problem.installed} is installed"
        return holder, (
            f"{change.name} {change.after} needs {problem.requirement}, but {shown} ({NO_RESOLVER})"
        )
    if required in kept:
        return required, (
            f"{problem.name} {problem.version} requires {problem.requirement} ({NO_RESOLVER})"
        )
    return None, ""


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data (the ``plan`` member of ``update --format json``)."""
    return {
        "changes": [
            {
                "name": c.name,
                "before": c.before,
                "after": c.after,
                "file": c.wheel.filename,
                "sha256": c.wheel.sha256,
                "restore_file": None if c.restore is None else c.restore.filename,
                "restore_sha256": None if c.restore is None else c.restore.sha256,
                "reason": c.reason,
            }
            for c in plan.changes
        ],
        "additions": [
            {
                "name": a.name,
                "version": a.version,
                "file": a.wheel.filename,
                "sha256": a.wheel.sha256,
                "reason": a.reason,
            }
            for a in plan.additions
        ],
        "dropped": [
            {"name": d.name, "before": d.before, "after": d.after, "reason": d.reason}
            for d in plan.dropped
        ],
    }


def stage_message(stage: str, plan: Plan, installer: str) -> str:
    """What an update is doing, in one line (shown on a terminal as each stage starts)."""
    moving = len(plan.changes) + len(plan.additions)
    if stage == "download":
        return (
            f"downloading {moving} wheel{'s' * (moving != 1)} and {len(plan.changes)} of the "
            "versions they replace (for a rollback)"
        )
    if stage == "install":
        return f"installing {moving} package{'s' * (moving != 1)} with {installer}"
    if stage == "verify":
        return "checking the installed versions and requirements"
    if stage == "rollback":
        return "the update failed: restoring the previous versions"
    return stage


def plan_lines(plan: Plan) -> list[str]:
    """The plan as plain text lines (the table of ``update`` and ``--dry-run``)."""
    lines: list[str] = []
    if plan.changes or plan.additions:
        rows = [(c.name, c.before, c.after, c.reason) for c in plan.changes]
        rows += [(a.name, "(new)", a.version, a.reason) for a in plan.additions]
        width = max(len("Package"), *(len(r[0]) for r in rows))
        before = max(len("Installed"), *(len(r[1]) for r in rows))
        lines.append(f"{'Package':<{width}}  {'Installed':<{before}}     Target")
        for name, old, new, why in rows:
            line = f"{name:<{width}}  {old:<{before}}  -> {new}"
            lines.append(f"{line}  ({why})" if why else line)
    else:
        lines.append("Nothing to update.")
    if plan.dropped:
        lines.append("")
        lines.append("Not updated:")
        lines.extend(
            f"  {d.name} {d.before} -> {d.after}: {d.reason}"
            if d.after
            else f"  {d.name} {d.before}: {d.reason}"
            for d in plan.dropped
        )
    return lines
