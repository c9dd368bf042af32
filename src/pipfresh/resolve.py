"""Resolving the upgrades that the consistency check alone must drop.

:func:`pipfresh.plan.make_plan` keeps an upgrade only when the installed set stays
consistent with nothing else moving. An upgrade that needs a distribution that is not
installed, or another installed package to move with it, is handed here: resolvelib
(the resolver pip uses) searches for a consistent set in which

* every installed distribution stays installed, at its installed version unless a
  newer one is needed (never an older one); packages not installed from an index
  (editable, direct URL) never move;
* every target moves up from its installed version: to exactly its target version
  unless something needs it newer (a target's wanted version can be capped by a
  package that is itself moving), or, when another target's new version caps it,
  to the newest version between the installed one and the target that fits;
* a distribution that is not installed is added at its newest compatible version.

Candidates come from the index through a :class:`Source` (the caller's adapter on
the index client): only wheels the target can install count, chosen by the same
selection rules as the scan. The dependencies of an installed version are read from
its installed metadata (no network); those of any other version from the index
(PEP 658 or the wheel); the source caps those fetches per resolution (:data:`MAX_FETCHES`)
and raises :class:`BudgetExceeded` beyond. Requirements the
installed set already breaks are not this update's business and are ignored.

Markers and extras are evaluated for the target interpreter. An identifier is the
canonical project name, or ``name[extra,...]`` for a project asked for with extras;
such a candidate depends on the plain project at the same version, as in
resolvelib's own examples. No I/O here beyond what ``Source`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from resolvelib import AbstractProvider, BaseReporter, Resolver
from resolvelib.resolvers import RequirementInformation, ResolutionImpossible

from pipfresh.index.parse import wheel_tags
from pipfresh.models import IndexFile, InstalledDist
from pipfresh.requirements import (
    analyse,
    only_for_extras,
    parse_requirement,
    requirement_text,
)
from pipfresh.select import Policy, Release, candidates, file_installable, parse_version

#: Metadata files fetched for one resolution, at most (already known ones are free).
MAX_FETCHES = 200
#: Project pages fetched for one resolution, at most (pages already fetched are free):
#: a hostile release requiring 20,000 projects costs 1,000 requests, not 20,000.
MAX_PAGES = 1000
#: Resolver rounds allowed per resolution beyond one per project.
MAX_BACKTRACK_ROUNDS = 200


#: The identifier of the target interpreter: the resolver's one candidate for a
#: Requires-Python (the name cannot be a project's).
PYTHON = "<python>"


class BudgetExceeded(Exception):
    """More metadata (or project pages) was needed than :data:`MAX_FETCHES` (or
    :data:`MAX_PAGES`) allows."""


class Source(Protocol):
    """What the resolver needs from the index (synchronous; the caller bridges to async)."""

    def releases(self, name: str) -> Sequence[Release]:
        """Every release of ``name``, newest first (empty when the index has none)."""
        ...

    def metadata(self, name: str, version: str, wheel: IndexFile) -> tuple[str, ...]:
        """The Requires-Dist lines of ``wheel`` (version ``version`` of ``name``)."""
        ...


@dataclass(frozen=True, slots=True)
class Req:
    name: str  # canonical
    extras: frozenset[str]
    specifier: SpecifierSet
    text: str  # as shown to the user


@dataclass(frozen=True, slots=True)
class Cand:
    name: str  # canonical
    extras: frozenset[str]
    version: Version
    raw: str  # the version as installed or listed
    wheel: IndexFile | None  # None: the installed version
    installed: bool


def identifier(name: str, extras: frozenset[str]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


class Provider(AbstractProvider):  # type: ignore[type-arg]
    def __init__(
        self,
        dists: Sequence[InstalledDist],
        pins: Mapping[str, str],
        *,
        source: Source,
        policy: Policy,
        ranked_tags: Sequence[str],
        markers: Mapping[str, str],
        memo: dict[Any, Any] | None = None,
        firm: Iterable[str] | None = None,
        pinned_wheels: Mapping[str, IndexFile] | None = None,
    ) -> None:
        self.installed: dict[str, InstalledDist] = {}
        for dist in dists:
            self.installed.setdefault(dist.canonical_name, dist)
        self.pins: dict[str, Version] = {
            str(canonicalize_name(k)): Version(v) for k, v in pins.items()
        }
        # Targets that must move up; any other pinned target may stay where it is
        # when nothing newer fits beside them (it is then held back by them).
        self.firm = set(self.pins) if firm is None else {canonicalize_name(n) for n in firm}
        self.source = source
        # The wheel of each pin, when the caller already knows it: a pin that fits
        # then costs no page fetch (its other versions are listed only if needed).
        self.pinned_wheels: dict[str, IndexFile] = {
            str(canonicalize_name(k)): v for k, v in (pinned_wheels or {}).items()
        }
        self.policy = policy
        self.ranked_tags = ranked_tags
        self.markers = dict(markers)
        self.ignored = {
            (canonicalize_name(p.name), p.requirement) for p in analyse(dists, markers).problems
        }
        self._metadata: dict[tuple[str, str], tuple[str, ...]] = {}
        self._rank = {tag: i for i, tag in enumerate(ranked_tags)}
        # Dependencies per candidate and candidates per project; may be shared by the
        # providers over the same installed set, target and index (one run).
        self.memo: dict[Any, Any] = memo if memo is not None else {}

    # -- resolvelib interface ----------------------------------------------------------

    def _python_of(self, candidate: Cand) -> Req | None:
        """A candidate's Requires-Python, as a requirement on the target interpreter
        (:data:`PYTHON`): one it excludes is never chosen, and the resolver moves on to
        the next candidate, as pip does for the Requires-Python a wheel's metadata gives
        (where the index gave none)."""
        lookup = getattr(self.source, "requires_python", None)
        if lookup is None or candidate.installed:
            return None
        text = lookup(candidate.name, candidate.raw)
        if not text:
            return None
        try:
            spec = SpecifierSet(text)
        except InvalidSpecifier:
            return None  # pip ignores an invalid Requires-Python too
        return Req(PYTHON, frozenset(), spec, f"Python {text}")

    def identify(self, requirement_or_candidate: Req | Cand) -> str:
        return identifier(requirement_or_candidate.name, requirement_or_candidate.extras)

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Cand],
        candidates: Mapping[str, Iterator[Cand]],
        information: Mapping[str, Iterator[RequirementInformation[Req, Cand]]],
        backtrack_causes: Sequence[RequirementInformation[Req, Cand]],
    ) -> Any:
        if identifier == PYTHON:
            return (False, False, False, "")
        base = identifier.partition("[")[0]
        causes = {c.requirement.name for c in backtrack_causes}
        # Pins first, then what a conflict was about, then the installed set, then the rest.
        return (base not in self.pins, base not in causes, base not in self.installed, identifier)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Cand]],
    ) -> Callable[[], Iterator[Cand]]:
        name, _, rest = identifier.partition("[")
        extras = frozenset(rest.rstrip("]").split(",")) if rest else frozenset()
        reqs = list(requirements.get(identifier, ()))
        bad = {c.version for c in incompatibilities.get(identifier, ())}

        def matches() -> Iterator[Cand]:
            for cand in self._all(name, extras):
                if cand.version in bad:
                    continue
                if all(self.is_satisfied_by(r, cand) for r in reqs):
                    yield cand

        # A callable: resolvelib then walks it lazily, so an installed version that
        # satisfies everything costs no page fetch.
        return matches

    def is_satisfied_by(self, requirement: Req, candidate: Cand) -> bool:
        return requirement.name == candidate.name and requirement.specifier.contains(
            candidate.version, prereleases=True
        )

    def get_dependencies(self, candidate: Cand) -> Iterable[Req]:
        key = (candidate.name, candidate.raw, candidate.extras, candidate.installed)
        known = self.memo.get(key)
        if known is None:
            known = self.memo[key] = self._dependencies(candidate)
        return known

    def _dependencies(self, candidate: Cand) -> list[Req]:
        found: list[Req] = []
        if candidate.name == PYTHON:
            return found
        if candidate.extras:
            found.append(
                Req(candidate.name, frozenset(), SpecifierSet(f"=={candidate.version}"), "")
            )
        for line in self._requires(candidate):
            if not candidate.extras and only_for_extras(line):
                continue
            req = parse_requirement(line)
            if req is None or req.url:
                continue
            text = requirement_text(req)
            if candidate.installed and (candidate.name, text) in self.ignored:
                continue
            if candidate.extras:
                if req.marker is None or not any(
                    self._applies(req.marker, e) for e in candidate.extras
                ):
                    continue
            elif req.marker is not None and not self._applies(req.marker, ""):
                continue
            extras = frozenset(canonicalize_name(e) for e in req.extras)
            found.append(Req(canonicalize_name(req.name), extras, req.specifier, text))
        python = self._python_of(candidate)
        if python is not None:
            found.append(python)
        return found

    # -- helpers -----------------------------------------------------------------------

    def _applies(self, marker: Marker, extra: str) -> bool:
        try:
            return marker.evaluate({**self.markers, "extra": extra})
        except (UndefinedComparison, UndefinedEnvironmentName, InvalidVersion, ValueError):
            return False  # cannot be shown to apply to this target

    def _all(self, name: str, extras: frozenset[str]) -> Iterator[Cand]:
        if name == PYTHON:
            interpreter = self.policy.python_version
            yield Cand(PYTHON, frozenset(), interpreter, str(interpreter), None, True)
            return
        dist = self.installed.get(name)
        pin = self.pins.get(name)
        if pin is not None:
            wheel = self.pinned_wheels.get(name)
            if wheel is None:
                yield from self._pinned(name, extras, pin)
                return
            yield Cand(name, extras, pin, str(pin), wheel, False)
            yield from (c for c in self._pinned(name, extras, pin) if c.version != pin)
            return
        if dist is None:
            yield from self._index(name, extras)
            return
        version = parse_version(dist.version)
        if version is None:
            if dist.kind != "index":
                # Never moves, and its requirements (pip's constraints among them) hold.
                yield Cand(name, extras, Version("0"), dist.version, None, True)
            return
        yield Cand(name, extras, version, dist.version, None, True)
        if dist.kind != "index":
            return
        # Newer versions only, newest first: an update never moves a package back.
        yield from (c for c in self._index(name, extras) if c.version > version)

    def _pinned(self, name: str, extras: frozenset[str], pin: Version) -> list[Cand]:
        """A target's candidates in order: the target version; a newer one (when
        something needs it); the ones between the installed version and the target,
        newest first (when another target's new version caps it); the installed one."""
        key = ("pinned", name, extras, pin)
        order: list[Cand] | None = self.memo.get(key)
        if order is None:
            dist = self.installed.get(name)
            floor = None if dist is None else parse_version(dist.version)
            listed = self._index(name, extras)
            order = [c for c in listed if c.version == pin]
            order += [c for c in listed if c.version > pin]
            order += [c for c in listed if c.version < pin and (floor is None or c.version > floor)]
            if dist is not None and floor is not None:
                order.append(Cand(name, extras, floor, dist.version, None, True))
            self.memo[key] = order
        return order

    def _index(self, name: str, extras: frozenset[str]) -> list[Cand]:
        """The index's candidates of ``name``, newest first (built once per run: the
        resolver asks for them again at every step)."""
        key = ("index", name, extras)
        found: list[Cand] | None = self.memo.get(key)
        if found is None:
            dist = self.installed.get(name)
            installed = parse_version(dist.version) if dist is not None else None
            found = []
            for release in candidates(self.source.releases(name), self.policy, installed):
                wheel = self._best_wheel(release.files)
                if wheel is not None:  # else only an sdist: not supported
                    found.append(
                        Cand(name, extras, release.version, str(release.version), wheel, False)
                    )
            self.memo[key] = found
        return found

    def _best_wheel(self, files: Iterable[IndexFile]) -> IndexFile | None:
        """As :func:`pipfresh.plan.rank_wheels`, with the tag ranks computed once."""
        best: tuple[int, IndexFile] | None = None
        for file in files:
            if not file.filename.endswith(".whl") or not file_installable(file, self.policy):
                continue
            score = min(
                (self._rank[t] for t in wheel_tags(file.filename) if t in self._rank), default=None
            )
            if score is not None and (best is None or score < best[0]):
                best = (score, file)
        return None if best is None else best[1]

    def _requires(self, candidate: Cand) -> tuple[str, ...]:
        if candidate.installed:
            return self.installed[candidate.name].requires
        assert candidate.wheel is not None
        key = (candidate.name, candidate.raw)
        known = self._metadata.get(key)
        if known is None:
            known = self.source.metadata(candidate.name, candidate.raw, candidate.wheel)
            self._metadata[key] = known
        return known

    def requires_of(self, candidate: Cand) -> tuple[str, ...]:
        return self._requires(candidate)


def resolve(provider: Provider, *, max_rounds: int | None = None) -> dict[str, Cand]:
    """The resolved version of every project (plain identifiers only)."""
    roots = [Req(name, frozenset(), SpecifierSet(), name) for name in provider.installed]
    for name, version in provider.pins.items():
        if name not in provider.firm:
            continue
        # A firm target must move up, ideally to its pin (see Provider._all), at least
        # past the installed version.
        dist = provider.installed.get(name)
        floor = None if dist is None else parse_version(dist.version)
        spec = f">{floor}" if floor is not None and floor < version else f">={version}"
        roots.append(Req(name, frozenset(), SpecifierSet(spec), f"{name}{spec}"))
    # About one round per project is needed; the margin bounds the backtracking.
    rounds = max_rounds if max_rounds is not None else len(roots) + MAX_BACKTRACK_ROUNDS
    resolver: Resolver[Req, Cand, str] = Resolver(provider, BaseReporter())
    result = resolver.resolve(roots, max_rounds=rounds)
    return {k: v for k, v in result.mapping.items() if "[" not in k and k != PYTHON}


def describe_conflict(exc: ResolutionImpossible[Req, Cand], provider: Provider) -> str:
    """One line naming what could not be satisfied together."""
    shown: list[str] = []
    for cause in exc.causes:
        req, parent = cause.requirement, cause.parent
        if parent is None:
            line = f"{req.text} is required"
        else:
            dist = provider.installed.get(parent.name)
            name = dist.name if dist is not None else parent.name
            line = f"{name} {parent.raw} requires {req.text or req.name}"
        if line not in shown:
            shown.append(line)
    return "; ".join(shown[:4]) or "no consistent set of versions"


__all__ = [
    "MAX_FETCHES",
    "BudgetExceeded",
    "Cand",
    "Provider",
    "Req",
    "ResolutionImpossible",
    "Source",
    "describe_conflict",
    "resolve",
]
