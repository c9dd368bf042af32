"""``pipfresh bump``, the index side: look the pins' projects up and decide each pin.

The pages come through the scan's own machinery: the same settings, pip's index
configuration and credentials, the cache (fresh entries answer, stale ones make the
requests conditional, and a digest of each answer is stored), the same
:class:`~pipfresh.index.client.IndexClient` with its concurrency bound, and
``--offline``. What a pin may move to is :mod:`pipfresh._bump.eligible`'s; how its
specifier is rewritten is the file side's (:func:`pipfresh._bump.specifiers.new_specifier`).

Pins of one project, in one file or several, are bumped together: to the newest
release every one of them may take, so the files keep agreeing with each other.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from packaging.version import Version

from pipfresh._bump.eligible import (
    Choice,
    Rules,
    current_minimum,
    newest_eligible,
    python_floor,
    short_python,
)
from pipfresh._bump.model import BumpInputError, DepFile, Edit, Pin, Span
from pipfresh._bump.report import BumpReport, PinResult
from pipfresh.errors import IndexError_, UsageError
from pipfresh.models import ProjectError, ProjectPage
from pipfresh.select import IncompletePage, Release, bump_level, python_release
from pipfresh.settings import UpgradeConfig

if TYPE_CHECKING:
    from pipfresh.scan import Setup

Propose = Callable[[str, Version], "str | None"]
T = TypeVar("T")
# What a decision asks the cache to keep of a page: every release from this version up
# (None: the whole page, when the walk went to its end).
Keep = Version | None

_PYTHON_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")
_HASH_SEPARATOR = re.compile(r"^[ \t]*(\\\r?\n[ \t]*)?$")


@dataclass(frozen=True, slots=True)
class ProjectPlan:
    """The decision for the pins of one project."""

    results: tuple[PinResult, ...]
    keep: Keep


def _floor_of(pin: Pin, file: DepFile, default: Version | None) -> tuple[Version | None, bool]:
    """(the oldest Python a new minimum must support, whether the project declared it)."""
    if file.kind == "pyproject" and file.requires_python:
        return python_floor(file.requires_python, pin.marker, default), True
    return python_floor(None, pin.marker, default), False


def _skip_reasons(choice: Choice, declared: bool) -> tuple[str, ...]:
    whose = "the project supports" if declared else "the target Python is"
    return tuple(
        f"skipped {s.version}: requires Python {s.requires_python}, "
        f"{whose} {short_python(s.python)}"
        for s in choice.skipped
    )


def _where(pin: Pin, root: Path | None) -> str:
    path = pin.path
    if root is not None:
        with contextlib.suppress(ValueError):
            path = path.relative_to(root)
    return f"{path}:{pin.line}"


def hash_edit(pin: Pin, text: str, release: Release) -> Edit | str:
    """The edit that replaces a pin's ``--hash`` options with the sha256 of every file
    of ``release`` (sorted, as pip-compile writes them), laid out as the old ones
    were; or why it cannot be made."""
    digests = sorted({f.sha256 for f in release.files if f.sha256})
    if not digests:
        return (
            f"the index gives no sha256 for {release.version}: its --hash lines cannot be refreshed"
        )
    first, last = pin.hashes[0], pin.hashes[-1]
    separator = " "
    if len(pin.hashes) > 1:
        between = text[first.end : pin.hashes[1].start]
        if not _HASH_SEPARATOR.match(between):
            return "its --hash options are mixed with other text: not rewritten"
        separator = between
    new = separator.join(f"--hash=sha256:{d}" for d in digests)
    return Edit(pin.path, Span(first.start, last.end), new)


def plan_project(
    pins: Sequence[tuple[Pin, DepFile]],
    page: ProjectPage,
    rules: Rules,
    default_python: Version | None,
    propose: Propose,
    *,
    root: Path | None = None,
) -> ProjectPlan:
    """Pure: what to do with every pin of one project, given its page.

    Each pin's newest eligible release is found; the project then moves to the
    oldest of them, so every pin takes the same release. Raises IncompletePage when
    ``page`` is a cached digest that cannot answer.
    """
    choices: list[tuple[Pin, DepFile, Choice, Version | None, bool]] = []
    for pin, file in pins:
        floor, declared = _floor_of(pin, file, default_python)
        current = current_minimum(pin.specifier)
        choices.append((pin, file, newest_eligible(page, rules, current, floor), current, declared))
    movable = [c.release for _, _, c, _, _ in choices if c.release is not None]
    target = min(movable, key=lambda r: r.version) if movable else None
    keep: Keep = target.version if target is not None else None
    if any(c.release is None and current is None for _, _, c, current, _ in choices):
        keep = None
    elif target is None:
        currents = [current for _, _, _, current, _ in choices if current is not None]
        keep = min(currents) if currents else None
    results: list[PinResult] = []
    for pin, file, choice, _current, declared in choices:
        others = tuple(_where(p, root) for p, _ in pins if p is not pin)
        result = PinResult(
            path=pin.path,
            line=pin.line,
            name=pin.name,
            section=pin.section,
            now=pin.specifier,
            latest=None if choice.latest is None else str(choice.latest),
            skipped=_skip_reasons(choice, declared),
            together=others,
        )
        if target is None:
            results.append(result)
            continue
        note = None
        if choice.release is not None and choice.release.version > target.version:
            note = f"held at {target.version} to match the other pins of {pin.name}"
        results.append(propose_at(pin, file, result, target, propose, note=note))
    return ProjectPlan(tuple(results), keep)


def propose_at(
    pin: Pin,
    file: DepFile,
    result: PinResult,
    target: Release,
    propose: Propose,
    *,
    note: str | None = None,
) -> PinResult:
    """Pure: ``result`` with the pin proposed at ``target`` (its specifier rewritten in
    the style written, its hashes refreshed), or with why it stays as written."""
    current = current_minimum(pin.specifier)
    try:
        proposed = propose(pin.specifier, target.version)
    except ValueError:
        proposed = None
    if proposed is None or proposed == pin.specifier or pin.span is None:
        blocking = _blocking(pin.specifier, target.version)
        if blocking is not None:
            note = f"{blocking} excludes {target.version}: kept as written"
        return _with(result, note=note)
    edits = [Edit(pin.path, pin.span, proposed)]
    if pin.hashes:
        made = hash_edit(pin, file.text, target)
        if isinstance(made, str):
            return _with(result, note=made)
        edits.append(made)
    moved = current is not None and target.version > current
    return _with(
        result,
        proposed=proposed,
        version=str(target.version),
        bump=bump_level(current, target.version) if moved or current is None else None,
        note=note,
        edits=tuple(edits),
    )


def _blocking(specifier: str, version: Version) -> str | None:
    from pipfresh._bump.specifiers import blocking_clause

    try:
        return blocking_clause(specifier, version)
    except ValueError:
        return None


def _with(result: PinResult, **changes: object) -> PinResult:
    from dataclasses import replace

    return replace(result, **changes)  # type: ignore[arg-type]


def parse_python_version(text: str) -> Version:
    """``--python-version 3.9`` (or 3.9.2): the Python requirements files are judged for."""
    if not _PYTHON_VERSION.match(text.strip()):
        raise UsageError(f"--python-version: expected a version like 3.12, got {text!r}")
    return python_release(text.strip())


def _default_python(
    python: str | None, python_version: str | None, cwd: Path, environ: Mapping[str, str]
) -> Version:
    if python_version is not None:
        return parse_python_version(python_version)
    from pipfresh.environment import find_interpreter, inspect_target

    target = inspect_target(find_interpreter(python, cwd=cwd, environ=environ))
    return python_release(target.python_version)


def _needs_default(files: Iterable[DepFile]) -> bool:
    return any(
        pin.leave_alone is None
        for file in files
        if file.kind != "pyproject" or not file.requires_python
        for pin in file.pins
    )


def bump(
    paths: Sequence[str | os.PathLike[str]] = (),
    config: UpgradeConfig | None = None,
    *,
    python: str | None = None,
    python_version: str | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    on_request: Callable[[str], None] | None = None,
    consistent: bool = False,
) -> BumpReport:
    """Read the dependency files (default: ``pyproject.toml``, ``requirements*.txt`` and
    ``constraints*.txt`` in ``cwd``), look their pins up and propose new specifiers.

    Nothing is written: :func:`apply` writes what the report proposes. A file that
    cannot be used raises :class:`~pipfresh._bump.model.BumpInputError`; bad settings
    a :class:`~pipfresh.errors.PipfreshError`. ``python`` (an interpreter, venv or
    version, as the scan takes it) or ``python_version`` ("3.12") is the Python that
    requirements files and projects without ``requires-python`` are judged for.
    ``consistent``: a file's ``==`` pins move only as far as they stay consistent
    with each other (:mod:`pipfresh.bump.consistent`).
    """
    from pipfresh._bump.files import read_files
    from pipfresh._bump.specifiers import new_specifier
    from pipfresh.scan import excluded_by, load_setup

    started = time.perf_counter()
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    files = tuple(read_files([Path(p) for p in paths], cwd))
    setup = load_setup(config, environ, cwd)
    settings = setup.settings
    not_after = None
    if settings.cooldown:
        not_after = (now or datetime.now(timezone.utc)) - timedelta(days=settings.cooldown)
    rules = Rules(pre=bool(settings.pre), target=settings.target or "latest", not_after=not_after)
    default = None
    if python_version is not None or _needs_default(files):
        default = _default_python(python, python_version, cwd, environ)
    by_project: dict[str, list[tuple[Pin, DepFile]]] = {}
    fixed: dict[Pin, PinResult] = {}
    for file in files:
        for pin in file.pins:
            reason = pin.leave_alone
            if reason is None and excluded_by(pin.canonical, settings.exclude):
                fixed[pin] = _alone(pin, "excluded")
            elif reason is not None:
                fixed[pin] = _alone(pin, reason)
            else:
                by_project.setdefault(pin.canonical, []).append((pin, file))

    pages: dict[str, ProjectPage] = {}  # whole pages, for --consistent's resolver

    def decide(name: str, page: ProjectPage) -> tuple[ProjectPlan, Keep]:
        plan = plan_project(by_project[name], page, rules, default, new_specifier, root=cwd)
        if consistent:
            if page.complete:
                pages[name] = page
            # The resolver walks releases below the proposal too: the cache keeps the
            # whole page, so that the next --consistent run finds it there.
            return plan, None
        return plan, plan.keep

    warnings: list[str] = []
    looked_up = lookup(setup, list(by_project), decide, on_request=on_request, warnings=warnings)
    decided: dict[Pin, PinResult] = dict(fixed)
    errors: list[ProjectError] = []
    for name, answer in looked_up.items():
        pins = by_project[name]
        if isinstance(answer, str):
            errors.append(ProjectError(pins[0][0].name, answer))
            decided.update((pin, _unchecked(pin)) for pin, _ in pins)
        else:
            decided.update(zip((p for p, _ in pins), answer.results, strict=True))
    if consistent:
        from pipfresh._bump.consistent import make_consistent

        decided, more, unresolved = make_consistent(
            setup,
            files,
            decided,
            pages=pages,
            rules=rules,
            default=default,
            propose=new_specifier,
            on_request=on_request,
        )
        warnings += more
        known = {e.name for e in errors}
        errors += [e for e in unresolved if e.name not in known]
    if setup.cache is not None and setup.cache.refused:
        warnings.append(setup.cache.refused)
    return BumpReport(
        files=files,
        pins=tuple(decided[pin] for file in files for pin in file.pins),
        errors=tuple(sorted(errors, key=lambda e: e.name.lower())),
        python=None if default is None else str(default),
        warnings=tuple(warnings),
        seconds=time.perf_counter() - started,
        root=cwd,
    )


def _alone(pin: Pin, reason: str) -> PinResult:
    return PinResult(
        pin.path,
        pin.line,
        pin.name,
        pin.section,
        pin.specifier,
        not_checked=reason,  # type: ignore[arg-type]
    )


def _unchecked(pin: Pin) -> PinResult:
    return PinResult(pin.path, pin.line, pin.name, pin.section, pin.specifier)


def lookup(
    setup: Setup,
    names: Sequence[str],
    decide: Callable[[str, ProjectPage], tuple[T, Keep]],
    *,
    on_request: Callable[[str], None] | None = None,
    warnings: list[str] | None = None,
) -> dict[str, T | str]:
    """``decide`` applied to the page of each canonical name, or why the page could not
    be had (one line). The cache and local sources answer first, as in the scan; a
    cached digest that cannot answer (IncompletePage) sends the name to the network,
    or offline is reported as such."""
    from pipfresh.scan import OFFLINE_PARTIAL, page_from_cache

    now = time.time()
    answers: dict[str, T | str] = {}
    todo: list[str] = []
    for name in names:
        page = page_from_cache(setup.settings, setup.sources, setup.cache, name, now)
        if isinstance(page, str):
            answers[name] = page
            continue
        if page is not None:
            try:
                answers[name] = decide(name, page)[0]
                continue
            except IncompletePage:
                if setup.settings.offline:
                    answers[name] = OFFLINE_PARTIAL
                    continue
        todo.append(name)
    if todo:
        import asyncio

        fetched = asyncio.run(
            _fetch(setup, todo, decide, now=now, on_request=on_request, warnings=warnings)
        )
        answers.update(fetched)
    return {name: answers[name] for name in names}


async def _fetch(
    setup: Setup,
    names: Sequence[str],
    decide: Callable[[str, ProjectPage], tuple[T, Keep]],
    *,
    now: float,
    on_request: Callable[[str], None] | None,
    warnings: list[str] | None,
) -> dict[str, T | str]:
    import asyncio

    from pipfresh import __version__
    from pipfresh.index.client import IndexClient
    from pipfresh.scan import remember, stale_entries

    cache = setup.cache
    async with IndexClient(
        setup.index_config,
        concurrency=setup.concurrency,
        user_agent=f"pipfresh/{__version__}",
        on_request=on_request,
    ) as client:
        if warnings is not None:
            warnings.extend(client.warnings)

        async def one(name: str) -> tuple[str, T | str]:
            stale = stale_entries(cache, setup.sources, name, now)
            try:
                page, answers = await client.fetch(name, stale)
                try:
                    value, keep = decide(name, page)
                except IncompletePage:
                    # The cached digest a 304 confirmed does not hold this answer.
                    page, answers = await client.fetch(name, conditional=False)
                    value, keep = decide(name, page)
            except IndexError_ as exc:
                return name, exc.message
            finally:
                for entry in stale.values():
                    entry.close()
            if cache is not None:
                remember(cache, name, answers, latest=keep, wanted=None, now=now)
            return name, value

        if cache is not None:
            cache.write_in_background()
        try:
            return dict(await asyncio.gather(*(one(n) for n in names)))
        finally:
            if cache is not None:
                cache.flush()
                cache.record_stats({n: (st.bytes, st.seconds) for n, st in client.stats.items()})


def rewritten(report: BumpReport) -> dict[Path, tuple[str, str]]:
    """{path: (old text, new text)} for every file the report changes."""
    from pipfresh._bump.write import apply_edits

    by_path: dict[Path, list[Edit]] = {}
    for edit in report.edits:
        by_path.setdefault(edit.path, []).append(edit)
    return {
        file.path: (file.text, apply_edits(file.text, by_path[file.path]))
        for file in report.files
        if file.path in by_path
    }


def diff(report: BumpReport) -> str:
    """What :func:`apply` would change, as a unified diff."""
    from pipfresh._bump.write import unified_diff

    return "".join(
        unified_diff(Path(report.shown(path)), old, new)
        for path, (old, new) in rewritten(report).items()
    )


def apply(report: BumpReport) -> tuple[Path, ...]:
    """Write what the report proposes, every file atomically, and return the paths
    written. A file changed on disk since it was read is refused before any is
    written (BumpInputError), and so is a file that cannot be replaced (not a regular
    file, not writable, its folder not writable): every check comes before the first
    write."""
    from pipfresh._bump.write import WriteError, write_atomically

    changes = rewritten(report)
    for path, (old, _) in changes.items():
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                on_disk = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise BumpInputError(path, None, f"cannot read it again: {exc}") from None
        if on_disk != old:
            raise BumpInputError(path, None, "changed since it was read; run bump again")
    try:
        write_atomically({path: new for path, (_, new) in changes.items()})
    except WriteError as exc:
        # Only a failure between two renames leaves some files written: name them.
        done = f" (already written: {', '.join(map(str, exc.written))})" if exc.written else ""
        raise BumpInputError(exc.path, None, exc.message + done) from None
    return tuple(changes)
