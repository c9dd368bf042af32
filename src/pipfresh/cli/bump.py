"""``pipfresh bump [FILE ...]``: raise outdated version pins in dependency files."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from pipfresh.cli.exitcodes import ExitCode
from pipfresh.cli.options import add_scan_options, add_verbose, color_wanted, config_from

if TYPE_CHECKING:
    from pipfresh._bump.report import BumpReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="dependency files (default: pyproject.toml, requirements*.txt and "
        "constraints*.txt here; -r/-c includes are followed)",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "-w", "--write", action="store_true", help="rewrite the files (only the version text)"
    )
    action.add_argument(
        "--dry-run", action="store_true", help="print what --write would change, as a diff"
    )
    parser.add_argument(
        "--interactive",
        action="store_true",
        help="pick the pins to raise from a list on the terminal, then write them "
        "(with --dry-run: print their diff instead)",
    )
    parser.add_argument(
        "--consistent",
        action="store_true",
        help="in files that pin a set with == (pip-compile output, constraints), raise "
        "the pins only as far as they stay consistent with each other",
    )
    add_scan_options(parser)
    python = parser.add_argument_group("python to support")
    python.add_argument(
        "--python-version",
        metavar="X.Y",
        help="judge requirements files for this Python instead of the target interpreter's",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=("table", "json"), default="table", help="default: table")
    out.add_argument(
        "--exit-code", action="store_true", help="exit with 1 when a pin would be raised"
    )
    add_verbose(out)


def run(args: argparse.Namespace) -> int:
    from pipfresh._bump.engine import apply, bump, diff
    from pipfresh._bump.model import BumpInputError
    from pipfresh._bump.report import render_table, report_json
    from pipfresh.errors import UsageError
    from pipfresh.ui.safe import printable

    out, err = sys.stdout, sys.stderr
    if args.interactive and args.format != "table":
        raise UsageError(
            "pipfresh bump: --interactive shows a table; it cannot be used with --format"
        )
    if args.interactive and not sys.stdin.isatty():
        raise UsageError(
            "pipfresh bump --interactive needs a terminal (stdin is not one); "
            "pass -w to raise every pin, or --dry-run to see the diff"
        )
    on_request = None
    if args.verbose:

        def on_request(url: str) -> None:
            from pipfresh.auth import redact_url

            err.write(f"pipfresh: GET {printable(redact_url(url))}\n")

    try:
        report = bump(
            args.files,
            config_from(args),
            python=args.python,
            python_version=args.python_version,
            on_request=on_request,
            consistent=args.consistent,
        )
        written: tuple[object, ...] = ()
        if args.interactive:
            report = _choose(report)
        if args.dry_run:
            patch = diff(report)
        elif args.write or args.interactive:
            written = apply(report)
    except BumpInputError as exc:
        err.write(f"pipfresh: error: {printable(str(exc))}\n")
        return ExitCode.USAGE
    for warning in report.warnings:
        err.write(f"pipfresh: warning: {printable(warning)}\n")
    if args.dry_run:
        out.write(patch)
        for error in report.errors:
            err.write(
                f"pipfresh: could not check {printable(error.name)}: {printable(error.reason)}\n"
            )
    elif args.format == "json":
        out.write(report_json(report))
    else:
        from pipfresh.ui.table import terminal_width

        render_table(report, out, color=color_wanted(out), width=terminal_width(out))
        if written:
            count = len(written)
            out.write(f"wrote {count} file{'s' * (count != 1)}\n")
    out.flush()
    if report.errors:
        return ExitCode.UNCHECKED
    if args.exit_code and report.changes:
        return ExitCode.OUTDATED
    return ExitCode.OK


def _choose(report: BumpReport) -> BumpReport:
    """The report narrowed to the pins picked on the terminal (nothing when cancelled)."""
    from pipfresh._bump.choose import TEXTS, held_lines, only, rows_of
    from pipfresh.ui.pick import pick
    from pipfresh.ui.picker import pick_rows, terminal_ready
    from pipfresh.ui.safe import printable

    rows = rows_of(report)
    if not rows:
        return report
    err = sys.stderr
    if terminal_ready(sys.stdin, err):
        chosen = pick_rows(rows, held_lines(report), sys.stdin, err, TEXTS)
        if chosen is not None:
            return only(report, chosen)
    err.write("Pins that can be raised:\n")
    lines = [printable(f"{r.name} {r.before} -> {r.after} ({r.reason})") for r in rows]
    picked = pick(lines, sys.stdin.readline, err.write)
    return only(report, [rows[i].name for i in picked or ()])
