"""``pipfresh [outdated] [NAME ...]``: the read-only scan, rendered."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipfresh.cli.exitcodes import ExitCode
from pipfresh.cli.options import FORMATS, add_scan_options, add_verbose, color_wanted, config_from

if TYPE_CHECKING:
    from pipfresh.direct import DirectSet
    from pipfresh.models import TargetEnv
    from pipfresh.scan import ScanInput

# A name with one of these endings, or with a path separator, is a file given where a
# project name was expected (`pipfresh old-reqs.txt`).
_FILE_ENDINGS = (".txt", ".in", ".toml", ".cfg", ".lock", ".py", ".whl", ".gz", ".zip")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="only check these projects (default: all)"
    )
    parser.add_argument(
        "-r",
        "--requirement",
        metavar="FILE",
        action="append",
        default=[],
        help="check the projects this requirements file names (repeatable)",
    )
    parser.add_argument(
        "--direct",
        action="store_true",
        help="only the project's direct dependencies: those its pyproject.toml and "
        "requirements*.txt here name, or with no such files, those no other installed "
        "package requires",
    )
    add_scan_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    out.add_argument("--all", action="store_true", help="list up-to-date packages too")
    out.add_argument(
        "--exit-code", action="store_true", help="exit with 1 when outdated packages are found"
    )
    add_verbose(out)


def looks_like_a_path(name: str) -> bool:
    return os.sep in name or "/" in name or name.lower().endswith(_FILE_ENDINGS)


def _names(args: argparse.Namespace) -> list[str]:
    from pipfresh.cli.reqfile import names_in
    from pipfresh.errors import UsageError

    for name in args.names:
        if looks_like_a_path(name) or Path(name).is_file():
            hint = f": to check what it requires, use -r {name}" if Path(name).is_file() else ""
            raise UsageError(f"{name!r} is a path, not a project name{hint}")
    names = list(args.names)
    for path in args.requirement:
        from_file = names_in(Path(path))
        if not from_file:
            raise UsageError(f"requirements file {path} names no project")
        names += from_file
    return names


def _command_typo(args: argparse.Namespace, scan: ScanInput) -> None:
    """`pipfresh updte`: a first word that is not installed and looks like a command
    is a usage error, not a project that could not be checked."""
    from pipfresh.cli import ALIASES, COMMANDS
    from pipfresh.errors import UsageError
    from pipfresh.suggest import close_matches

    if args.explicit_command or not args.names or not scan.unknown:
        return
    first = args.names[0]
    if first not in {e.name for e in scan.unknown}:
        return
    near = close_matches(first, COMMANDS) or ([ALIASES[first]] if first in ALIASES else [])
    if near:
        raise UsageError(
            f"unknown command {first!r} (did you mean 'pipfresh {near[0]}'?); "
            f"{first!r} is not an installed project either"
        )


def run(args: argparse.Namespace) -> int:
    from pipfresh.environment import start_inspection

    names = _names(args)
    # Started before the imports and settings of the scan, so that the target's
    # interpreter starts up on the other core meanwhile; its errors are raised where
    # the scan takes its result, after the settings' own. Leaving this block early
    # (an error, Ctrl-C) kills and reaps it.
    with start_inspection(args.python) as inspection:
        from pipfresh.scan import prepare

        scan = prepare(
            args.python, config_from(args), names=names, inspection=inspection, report_unknown=True
        )
        _command_typo(args, scan)
        direct = None
        # freeze has no place for it: that scan does not pay for reading files.
        if args.direct or args.format != "freeze":
            direct = direct_set(scan, Path.cwd(), strict=args.direct, names=bool(names))
        if args.direct and direct is not None:
            scan.dists = [d for d in scan.dists if d.canonical_name in direct.names]
        return _scan_and_render(args, scan, direct)


def direct_set(scan: ScanInput, cwd: Path, *, strict: bool, names: bool) -> DirectSet:
    """The direct dependencies (see :mod:`pipfresh.direct`). A dependency file that
    cannot be read is a usage error with ``--direct`` (``strict``); without it, the
    installed set decides, as when there are no files: marking rows must never stop
    a scan."""
    from pipfresh._bump.model import BumpInputError
    from pipfresh.direct import DirectSet, named_in_files, not_required
    from pipfresh.errors import UsageError

    try:
        found = named_in_files(cwd)
    except BumpInputError as exc:
        if strict:
            raise UsageError(f"--direct: {exc}") from None
        found = None
    if found is not None:
        return found
    dists = scan.dists
    if names or scan.excluded:
        # Only some were kept for checking; every installed one can require another.
        from pipfresh.installed import read_installed

        dists = read_installed(scan.target.sys_path)
    return DirectSet(not_required(dists, scan.target.markers, scan.requirements.extras))


def _scan_and_render(args: argparse.Namespace, scan: ScanInput, direct: DirectSet | None) -> int:
    from pipfresh.auth import redact_text
    from pipfresh.models import PackageStatus, ProjectError
    from pipfresh.scan import run as run_scan
    from pipfresh.ui import serialize
    from pipfresh.ui.progress import ProgressLine
    from pipfresh.ui.safe import printable

    err = sys.stderr
    warn_interrupted_update(scan.target)
    if args.verbose:
        log_setup(scan)
    progress = ProgressLine(err, len(scan.dists), enabled=err.isatty() and not args.verbose)
    out = sys.stdout
    known = None if direct is None else direct.names

    def on_result(result: PackageStatus | ProjectError) -> None:
        progress.update(result)
        if args.format == "jsonl" and (
            args.all or isinstance(result, ProjectError) or result.outdated
        ):
            out.write(serialize.jsonl_result(result, known))
            out.flush()
        if args.verbose and isinstance(result, ProjectError):
            err.write(f"pipfresh: {printable(result.name)}: {_safe(result.reason)}\n")

    try:
        report = run_scan(scan, on_result)
    finally:
        progress.close()
    if args.format == "jsonl":
        for unknown in scan.unknown:  # never streamed: known before the scan began
            out.write(serialize.jsonl_result(unknown))
    for warning in scan.warnings:
        err.write(f"pipfresh: warning: {_safe(warning)}\n")
    if args.format in ("jsonl", "freeze"):
        # These formats have no place for them; json and table carry them in the report.
        for problem in report.problems:
            err.write(f"pipfresh: warning: inconsistent environment: {_safe(problem.message)}\n")

    if args.format == "json":
        out.write(serialize.report_json(report, include_all=args.all, direct=known))
    elif args.format == "jsonl":
        out.write(serialize.jsonl_summary(report))
    elif args.format == "freeze":
        out.write(serialize.freeze_lines(report))
        for error in report.errors:
            err.write(
                f"pipfresh: could not check {printable(error.name)}: "
                f"{printable(redact_text(error.reason, ()))}\n"
            )
    else:
        from pipfresh.ui.table import render_table, terminal_width

        render_table(
            report,
            out,
            include_all=args.all,
            color=color_wanted(out),
            width=terminal_width(out),
            target=scan.target_level,
            direct=direct,
            only_direct=args.direct,
        )
    out.flush()
    if args.verbose:
        timings = ", ".join(f"{k} {v:.3f} s" for k, v in report.timings.items())
        err.write(f"pipfresh: timings: {timings}\n")
    if report.errors:
        return ExitCode.UNCHECKED
    if args.exit_code and report.outdated:
        return ExitCode.OUTDATED
    return ExitCode.OK


def _safe(text: str) -> str:
    from pipfresh.auth import redact_text
    from pipfresh.ui.safe import printable

    return printable(redact_text(text, ()))


def log_setup(scan: ScanInput) -> None:
    """``-v``: where the settings came from, one line each on stderr."""
    from pipfresh.auth import redact_url
    from pipfresh.ui.safe import printable

    cfg = scan.index_config
    target = scan.target
    lines = [
        f"target: {target.python} (Python {target.python_version}, {len(scan.dists)} packages)",
        "indexes: " + (", ".join(redact_url(u) for u in cfg.index_urls) or "none"),
    ]
    if cfg.find_links:
        lines.append("find-links: " + ", ".join(redact_url(u) for u in cfg.find_links))
    lines.append(f"concurrency: {scan.concurrency}, timeout: {cfg.timeout:g} s")
    settings = scan.settings
    for name in ("concurrency", "target", "cooldown", "exclude", "pre"):
        source = settings.sources.get(name, "default")
        lines.append(f"{name} = {getattr(settings, name)!r} (from {source})")
    if scan.excluded:
        lines.append("excluded: " + ", ".join(scan.excluded))
    for line in lines:
        sys.stderr.write(f"pipfresh: {printable(line)}\n")


def warn_interrupted_update(target: TargetEnv) -> None:
    """Read-only commands only say that an interrupted update awaits its restore."""
    from pipfresh.upgrade.paths import journal_path, state_folder

    if not os.path.lexists(journal_path(state_folder(target))):
        return  # the usual case, known without importing the journal and the stash
    from pipfresh.upgrade.journal import pending_warning

    warning = pending_warning(target)
    if warning is not None:
        sys.stderr.write(f"pipfresh: warning: {_safe(warning)}\n")
