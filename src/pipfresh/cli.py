"""Command line: arguments -> settings -> run -> render -> exit code. No business logic."""

from __future__ import annotations

import argparse
import enum
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pipfresh import __version__

if TYPE_CHECKING:
    from pipfresh.environment import PendingInspection
    from pipfresh.models import TargetEnv
    from pipfresh.settings import UpgradeConfig


class ExitCode(enum.IntEnum):
    """Every exit status pipfresh uses (documented in the README)."""

    OK = 0
    OUTDATED = 1  # outdated packages found and --exit-code given
    USAGE = 2  # bad arguments, settings or target environment
    UNCHECKED = 3  # some projects could not be checked
    ROLLED_BACK = 4  # an update failed and was rolled back
    NOT_RESTORED = 5  # an update failed and the previous versions could not all be restored
    INTERRUPTED = 130
    INTERNAL = 70  # a bug in pipfresh


COMMANDS = ("outdated", "update", "cache")
CACHE_ACTIONS = ("info", "clear")
FORMATS = ("table", "json", "jsonl", "freeze")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, naming what was wrong, instead of argparse's usage block.
        sys.stderr.write(f"pipfresh: error: {message} (see 'pipfresh --help')\n")
        raise SystemExit(ExitCode.USAGE)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not 0 <= value < 100_000:
        raise argparse.ArgumentTypeError(f"must be 0 or more days, got {text!r}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pipfresh",
        description="Find outdated packages in a Python environment, fast.",
        epilog=(
            "Exit status: 0 ok; 1 outdated packages found (with --exit-code); 2 usage error; "
            "3 some projects could not be checked, or an update stopped before changing "
            "anything; 4 an update failed and was rolled back; 5 it could not be rolled back. "
            "Index settings default to pip's "
            "configuration (config files and PIP_* variables)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"pipfresh {__version__}")
    parser.add_argument(
        "names",
        nargs="*",
        metavar="[outdated|update] NAME",
        help="only check (or update) these packages (the command word 'outdated' is optional)",
    )
    target = parser.add_argument_group("target environment")
    target.add_argument(
        "--python",
        metavar="PATH|VERSION",
        help="interpreter, virtual environment folder or version (e.g. 3.12) to scan",
    )
    select = parser.add_argument_group("selection")
    # default=None, not False: a config file may turn --pre on when the flag is absent.
    select.add_argument(
        "--pre",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="include pre-releases (--no-pre: not even when a config file says pre = true)",
    )
    moves = parser.add_argument_group(
        "what may move (defaults from PIPFRESH_* variables, [tool.pipfresh] in "
        "pyproject.toml, then the user config file)"
    )
    moves.add_argument(
        "--target",
        choices=("latest", "minor", "patch"),
        help="how far from the installed version: any (latest, the default), "
        "the same major (minor) or the same major.minor (patch)",
    )
    moves.add_argument(
        "--exclude",
        metavar="NAME",
        action="append",
        default=[],
        help="do not check projects matching this name or glob (repeatable, e.g. 'types-*')",
    )
    moves.add_argument(
        "--cooldown",
        metavar="DAYS",
        type=_days,
        help="ignore releases uploaded less than DAYS ago (releases of unknown age count)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    out.add_argument("--all", action="store_true", help="list up-to-date packages too")
    out.add_argument(
        "--exit-code", action="store_true", help="exit with 1 when outdated packages are found"
    )
    out.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    net = parser.add_argument_group("index (defaults from pip's configuration)")
    net.add_argument("-i", "--index-url", metavar="URL")
    net.add_argument("--extra-index-url", metavar="URL", action="append", default=[])
    net.add_argument("--no-index", action="store_true", help="use only --find-links")
    net.add_argument("-f", "--find-links", metavar="URL|PATH", action="append", default=[])
    net.add_argument("--trusted-host", metavar="HOST", action="append", default=[])
    net.add_argument("--cert", metavar="PATH", help="CA bundle to verify TLS with")
    net.add_argument("--client-cert", metavar="PATH", help="client certificate (PEM) for TLS")
    net.add_argument("--timeout", metavar="SECONDS", type=_positive_float)
    net.add_argument("--isolated", action="store_true", help="ignore pip's config and PIP_*")
    net.add_argument(
        "-c",
        "--constraint",
        metavar="FILE",
        action="append",
        default=[],
        dest="constraints",
        help="a pip constraints file (repeatable; added to pip's 'constraint' setting)",
    )
    net.add_argument(
        "--concurrency",
        metavar="N",
        type=_whole,
        help="most requests in flight (env PIPFRESH_CONCURRENCY; default 16)",
    )
    upd = parser.add_argument_group("update (pipfresh update [NAME ...])")
    upd.add_argument(
        "--latest",
        action="store_true",
        help="move to the latest versions, not the wanted ones (conflicts are dropped)",
    )
    upd.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    upd.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    upd.add_argument(
        "--interactive",
        action="store_true",
        help="pick the packages to update from a numbered list (needs a terminal)",
    )
    upd.add_argument(
        "--installer",
        choices=("auto", "uv", "pip"),
        default="auto",
        help="auto (default): uv when on PATH, else pip",
    )
    upd.add_argument(
        "--break-system-packages",
        action="store_true",
        help="allow changing an externally managed (PEP 668) environment",
    )
    cache = parser.add_argument_group("cache (also: pipfresh cache info | clear)")
    cache.add_argument("--cache-dir", metavar="PATH", help="cache folder (env PIPFRESH_CACHE_DIR)")
    cache.add_argument(
        "--max-age",
        metavar="DURATION",
        type=_duration,
        help="how long an answer stays fresh when the index says nothing: 600, 10m, 24h "
        "(env PIPFRESH_MAX_AGE; default 10m)",
    )
    cache.add_argument("--refresh", action="store_true", help="ask the indexes again")
    cache.add_argument(
        "--offline", action="store_true", help="answer from the cache only, never connect"
    )
    cache.add_argument("--no-cache", action="store_true", help="neither read nor write it")
    return parser


def _duration(text: str) -> float:
    from pipfresh.errors import UsageError
    from pipfresh.settings import parse_duration

    try:
        return parse_duration(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _color_wanted(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        sys.stderr.write("\npipfresh: interrupted\n")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `pipfresh | head`: the reader left; exit quietly as other CLI tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK


def _main(argv: list[str]) -> int:
    # Intermixed: names may come after options (`pipfresh update -y requests`), which
    # plain parse_args refuses once the command word has been matched.
    args = build_parser().parse_intermixed_args(argv)
    # `pipfresh outdated foo` and `pipfresh foo` mean the same; a leading command word
    # is taken off the names (argparse cannot have an optional positional before them).
    args.command = "outdated"
    if args.names and args.names[0] in COMMANDS:
        args.command = args.names.pop(0)
    from pipfresh.errors import PipfreshError, RollbackFailed, RolledBack, UpdateAborted

    try:
        if args.command != "update":
            _refuse_update_options(args)
        if args.command == "cache":
            return _cache_command(args)
        if args.command == "update":
            _check_update_options(args)
        # Started before the imports and settings of the scan, so that the target's
        # interpreter starts up on the other core meanwhile; its errors are raised
        # where the scan takes its result, after the settings' own. Leaving this block
        # early (an error, Ctrl-C) kills and reaps it.
        with _start_inspection(args) as inspection:
            if args.command == "update":
                return _update(args, inspection)
            return _run(args, inspection)
    except (UpdateAborted, RolledBack, RollbackFailed) as exc:
        from pipfresh.auth import redact_text

        output = getattr(exc, "output", "")
        if output and not args.verbose:
            sys.stderr.write(output if output.endswith("\n") else output + "\n")
        sys.stderr.write(f"pipfresh: error: {redact_text(str(exc), ())}\n")
        if isinstance(exc, RolledBack):
            return ExitCode.ROLLED_BACK
        if isinstance(exc, RollbackFailed):
            return ExitCode.NOT_RESTORED
        return ExitCode.UNCHECKED
    except PipfreshError as exc:
        from pipfresh.auth import redact_text

        sys.stderr.write(f"pipfresh: error: {redact_text(str(exc), ())}\n")
        return ExitCode.USAGE
    except Exception as exc:  # a bug: one line, the traceback only with --verbose
        if args.verbose:
            import traceback

            traceback.print_exc()
        sys.stderr.write(
            f"pipfresh: internal error: {type(exc).__name__}: {exc} "
            "(please report it; --verbose shows the traceback)\n"
        )
        return ExitCode.INTERNAL


def _refuse_update_options(args: argparse.Namespace) -> None:
    from pipfresh.errors import UsageError

    given = [
        flag
        for flag, on in (
            ("--latest", args.latest),
            ("-y", args.yes),
            ("--dry-run", args.dry_run),
            ("--interactive", args.interactive),
            ("--installer", args.installer != "auto"),
            ("--break-system-packages", args.break_system_packages),
        )
        if on
    ]
    if given:
        raise UsageError(f"{', '.join(given)}: only for 'pipfresh update'")


def _start_inspection(args: argparse.Namespace) -> PendingInspection:
    from pipfresh.environment import start_inspection

    return start_inspection(args.python)


def _config(args: argparse.Namespace) -> UpgradeConfig:
    from pipfresh.settings import UpgradeConfig

    return UpgradeConfig(
        concurrency=args.concurrency,
        verbose=args.verbose,
        pre=args.pre,
        target=args.target,
        cooldown=args.cooldown,
        exclude=tuple(args.exclude),
        index_url=args.index_url,
        extra_index_urls=tuple(args.extra_index_url),
        no_index=args.no_index,
        find_links=tuple(args.find_links),
        trusted_hosts=tuple(args.trusted_host),
        cert=args.cert,
        client_cert=args.client_cert,
        timeout=args.timeout,
        isolated=args.isolated,
        constraints=tuple(args.constraints),
        cache_dir=args.cache_dir,
        max_age=args.max_age,
        refresh=args.refresh,
        offline=args.offline,
        no_cache=args.no_cache,
    )


def _run(args: argparse.Namespace, inspection: PendingInspection) -> int:
    from pipfresh.auth import redact_text
    from pipfresh.models import PackageStatus, ProjectError
    from pipfresh.scan import prepare, run
    from pipfresh.ui import serialize
    from pipfresh.ui.progress import ProgressLine

    config = _config(args)
    scan = prepare(args.python, config, names=args.names, inspection=inspection)
    _warn_interrupted_update(scan.target)
    if args.verbose:
        _log_setup(scan)
    progress = ProgressLine(
        sys.stderr, sum(1 for d in scan.dists), enabled=sys.stderr.isatty() and not args.verbose
    )
    out = sys.stdout

    def on_result(result: PackageStatus | ProjectError) -> None:
        progress.update(result)
        if args.format == "jsonl" and (
            args.all or isinstance(result, ProjectError) or result.outdated
        ):
            out.write(serialize.jsonl_result(result))
            out.flush()
        if args.verbose and isinstance(result, ProjectError):
            sys.stderr.write(f"pipfresh: {result.name}: {redact_text(result.reason, ())}\n")

    try:
        report = run(scan, on_result)
    finally:
        progress.close()
    for warning in scan.warnings:
        sys.stderr.write(f"pipfresh: warning: {warning}\n")
    if args.format in ("jsonl", "freeze"):
        # These formats have no place for them; json and table carry them in the report.
        for problem in report.problems:
            sys.stderr.write(f"pipfresh: warning: inconsistent environment: {problem.message}\n")

    if args.format == "json":
        out.write(serialize.report_json(report, include_all=args.all))
    elif args.format == "jsonl":
        out.write(serialize.jsonl_summary(report))
    elif args.format == "freeze":
        out.write(serialize.freeze_lines(report))
        for error in report.errors:
            sys.stderr.write(
                f"pipfresh: could not check {error.name}: {redact_text(error.reason, ())}\n"
            )
    else:
        from pipfresh.ui.table import render_table

        render_table(report, out, include_all=args.all, color=_color_wanted(out))
    out.flush()
    if args.verbose:
        timings = ", ".join(f"{k} {v:.3f} s" for k, v in report.timings.items())
        sys.stderr.write(f"pipfresh: timings: {timings}\n")
    if report.errors:
        return ExitCode.UNCHECKED
    if args.exit_code and report.outdated:
        return ExitCode.OUTDATED
    return ExitCode.OK


def _cache_command(args: argparse.Namespace) -> int:
    """``pipfresh cache info`` and ``pipfresh cache clear``."""
    from pipfresh.auth import redact_url
    from pipfresh.cache import Cache, default_cache_dir
    from pipfresh.errors import UsageError

    action = args.names[0] if args.names else "info"
    if action not in CACHE_ACTIONS or len(args.names) > 1:
        raise UsageError(
            f"unknown cache command {' '.join(args.names)!r}: use 'pipfresh cache info' "
            "or 'pipfresh cache clear'"
        )
    root = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir(os.environ)
    cache = Cache(root)
    if action == "clear":
        removed = cache.clear()
        sys.stdout.write(f"removed {removed} cached pages from {root}\n")
        return ExitCode.OK
    info = cache.info()
    sys.stdout.write(f"cache folder: {info.root}\n")
    sys.stdout.write(f"{info.entries} cached pages, {info.bytes / 1e6:.1f} MB\n")
    for index_url, count in sorted(info.projects_by_index.items()):
        sys.stdout.write(f"  {redact_url(index_url)}: {count} projects\n")
    return ExitCode.OK


def _log_setup(scan: object) -> None:
    from pipfresh.auth import redact_url
    from pipfresh.scan import ScanInput

    assert isinstance(scan, ScanInput)
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
        sys.stderr.write(f"pipfresh: {line}\n")


def _warn_interrupted_update(target: TargetEnv) -> None:
    """Read-only commands only say that an interrupted update awaits its restore."""
    from pipfresh.upgrade.journal import pending_warning

    warning = pending_warning(target)
    if warning is not None:
        sys.stderr.write(f"pipfresh: warning: {warning}\n")


def _check_update_options(args: argparse.Namespace) -> None:
    """The usage errors of ``pipfresh update`` that need no scan."""
    from pipfresh.errors import UsageError

    if args.format not in ("table", "json"):
        raise UsageError("pipfresh update: --format must be table or json")
    interactive = sys.stdin.isatty()
    if not (args.dry_run or args.yes or interactive):
        raise UsageError(
            "pipfresh update needs a confirmation: pass -y to update without asking, "
            "or --dry-run to see the plan"
        )
    if args.interactive and (args.dry_run or not interactive):
        why = "--dry-run shows the whole plan" if args.dry_run else "it needs a terminal"
        raise UsageError(f"pipfresh update: --interactive cannot be used here: {why}")


def _update(args: argparse.Namespace, inspection: PendingInspection) -> int:
    """``pipfresh update``: scan, plan, confirm, then carry the plan out
    (:func:`_check_update_options` has passed)."""
    import json
    import time

    from pipfresh.api import UpdateResult, run_update
    from pipfresh.models import Report
    from pipfresh.plan import Plan, plan_document, plan_lines, stage_message
    from pipfresh.ui.serialize import SCHEMA_VERSION, environment_dict
    from pipfresh.upgrade import Outcome, Terminated, outcome_document

    out = sys.stdout
    err = sys.stderr
    declined = False
    pending_plan: UpdateResult | None = None
    started: float | None = None  # when the first stage (the downloads) began

    def on_recovered(line: str) -> None:
        err.write(f"pipfresh: {line}\n")

    def on_report(report: Report, warnings: Sequence[str]) -> None:
        for warning in warnings:
            err.write(f"pipfresh: warning: {warning}\n")
        for error in report.errors:
            err.write(f"pipfresh: warning: could not check {error.name}: {error.reason}\n")

    def on_plan(pending: UpdateResult) -> bool:
        nonlocal declined, pending_plan
        pending_plan = pending  # for the stage lines
        plan = pending.plan
        if args.format == "table":
            out.write(
                f"Update plan for {pending.environment.prefix} (installer: {pending.installer})\n"
            )
            out.write("\n".join(plan_lines(plan)) + "\n")
            out.flush()
        if args.dry_run or plan.empty or args.yes:
            return True
        if args.format == "json":
            err.write("\n".join(plan_lines(plan)) + "\n")
        err.write("Proceed? [y/N] ")
        err.flush()
        declined = sys.stdin.readline().strip().lower() not in ("y", "yes")
        return not declined

    def choose(plan: Plan) -> list[str]:
        from pipfresh.ui.pick import pick

        err.write("Upgrades that can be made:\n")
        rows = [
            f"{c.name} {c.before} -> {c.after}" + (f" ({c.reason})" if c.reason else "")
            for c in plan.changes
        ]
        picked = pick(rows, sys.stdin.readline, err.write)
        return [plan.changes[i].name for i in picked or ()]

    def on_output(line: str) -> None:
        if args.verbose:
            err.write(line)

    on_terminal = err.isatty()

    def on_stage(name: str) -> None:
        nonlocal started
        if started is None:
            started = time.perf_counter()
        if args.verbose:
            err.write(f"pipfresh: {name} ({time.perf_counter() - started:.2f} s)\n")
        elif on_terminal and pending_plan is not None:
            line = stage_message(name, pending_plan.plan, pending_plan.installer)
            err.write(f"pipfresh: {line}\n")
            err.flush()

    try:
        result = run_update(
            args.python,
            _config(args),
            names=args.names,
            installer=args.installer,
            latest=args.latest,
            dry_run=args.dry_run,
            break_system_packages=args.break_system_packages,
            on_recovered=on_recovered,
            on_report=on_report,
            on_plan=on_plan,
            on_output=on_output,
            on_stage=on_stage,
            choose=choose if args.interactive else None,
            inspection=inspection,
        )
    except KeyboardInterrupt as exc:
        if started is None:
            raise
        # Once the stages began, only the downloads let an interrupt through: during
        # the install it is turned into a rollback (RolledBack).
        if isinstance(exc, Terminated):
            err.write("pipfresh: terminated during the downloads; nothing was changed\n")
        else:
            err.write("\npipfresh: interrupted during the downloads; nothing was changed\n")
        return ExitCode.INTERRUPTED
    if declined:
        err.write("pipfresh: nothing was changed\n")
        return ExitCode.OK
    if args.format == "json":
        document: dict[str, object] = {
            "version": SCHEMA_VERSION,
            "environment": environment_dict(result.environment),
            "installer": result.installer,
            "dry_run": result.dry_run,
            "plan": plan_document(result.plan),
        }
        if result.changed:
            outcome = Outcome(result.results, result.installer, result.timings)
            document["result"] = outcome_document(outcome)
        out.write(json.dumps(document, indent=2) + "\n")
        return ExitCode.OK
    if not result.changed:
        return ExitCode.OK
    out.write("\n")
    width = max(len(r.name) for r in result.results)
    for change in result.results:
        moved = f"{change.before or '(new)'} -> {change.after}"
        out.write(f"{change.name:<{width}}  {moved}  {change.status}\n")
    shown = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    added = sum(1 for r in result.results if r.status == "added")
    counts = f"{len(result.results) - added} updated" + (f", {added} added" if added else "")
    out.write(f"{counts} with {result.installer} ({shown})\n")
    return ExitCode.OK
