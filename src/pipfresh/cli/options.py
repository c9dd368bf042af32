"""The parser class, value types and option groups shared by several commands.

A command's module calls the ``add_*`` functions it needs from its
``add_arguments``; an option a command does not add is a usage error there. Options
every scanning command shares go in :func:`add_scan_options` (the place for a future
``-c/--constraint FILE``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, NoReturn

from pipfresh.cli.exitcodes import EXIT_STATUS_HELP, ExitCode

if TYPE_CHECKING:
    from pipfresh.settings import UpgradeConfig

FORMATS = ("table", "json", "jsonl", "freeze")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors that name the command's own ``--help``."""

    def error(self, message: str) -> NoReturn:
        from pipfresh.ui.safe import printable

        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            message = _elsewhere(message[len(prefix) :].split(), self.prog) or message
        sys.stderr.write(f"pipfresh: error: {printable(message)} (see '{self.prog} --help')\n")
        raise SystemExit(ExitCode.USAGE)


def _elsewhere(words: list[str], prog: str) -> str:
    """``--dry-run: only for 'pipfresh update'`` when the options that this command
    refused belong to other commands; '' when any of them belongs to none."""
    from pipfresh.cli import COMMANDS, build_parser

    owners: dict[str, list[str]] = {}
    for name in COMMANDS:
        if f"pipfresh {name}" == prog:
            continue
        for action in build_parser(name)._actions:
            for flag in action.option_strings:
                owners.setdefault(flag, []).append(name)
    parts = []
    for word in words:
        flag = word.split("=", 1)[0]
        if flag not in owners:
            return ""
        where = " or ".join(f"'pipfresh {c}'" for c in owners[flag])
        parts.append(f"{flag}: only for {where}")
    return "; ".join(parts)


def refuse_foreign_options(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """A usage error naming the command an option belongs to, when ``argv`` has an
    option this command's ``parser`` lacks (checked before parsing: argparse would
    first complain about the option's value as if it were a positional)."""
    known = parser._option_string_actions
    foreign = []
    for word in argv:
        if word == "--":
            break
        flag = word.split("=", 1)[0]
        if not word.startswith("-") or word == "-" or flag in known:
            continue
        if flag.startswith("--") and any(k.startswith(flag) for k in known):
            continue  # an abbreviation argparse will expand
        if not flag.startswith("--") and flag[:2] in known:
            continue  # -v2, -ifoo: a short option with its value attached
        foreign.append(word)
    if foreign:
        message = _elsewhere(foreign, parser.prog)
        if message:
            parser.error(message)


def new_parser(prog: str, description: str) -> Parser:
    return Parser(
        prog=prog,
        description=description,
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not 0 <= value < 100_000:
        raise argparse.ArgumentTypeError(f"must be 0 or more days, got {text!r}")
    return value


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def duration(text: str) -> float:
    from pipfresh.errors import UsageError
    from pipfresh.settings import parse_duration

    try:
        return parse_duration(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_verbose(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")


def add_scan_options(parser: argparse.ArgumentParser) -> None:
    """Target, selection, index and cache options: everything a scan reads."""
    target = parser.add_argument_group("target environment")
    target.add_argument(
        "--python",
        metavar="PATH|VERSION",
        help="interpreter, virtual environment folder or version (e.g. 3.12) to scan",
    )
    moves = parser.add_argument_group(
        "what may move (defaults from PIPFRESH_* variables, [tool.pipfresh] in "
        "pyproject.toml, then the user config file)"
    )
    # default=None, not False: a config file may turn --pre on when the flag is absent.
    moves.add_argument(
        "--pre",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="include pre-releases (--no-pre: not even when a config file says pre = true)",
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
        type=days,
        help="ignore releases uploaded less than DAYS ago (releases of unknown age count)",
    )
    add_index_options(parser)
    add_cache_options(parser, scan=True)


def add_index_options(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("index (defaults from pip's configuration)")
    net.add_argument("-i", "--index-url", metavar="URL")
    net.add_argument("--extra-index-url", metavar="URL", action="append", default=[])
    net.add_argument("--no-index", action="store_true", help="use only --find-links")
    net.add_argument("-f", "--find-links", metavar="URL|PATH", action="append", default=[])
    net.add_argument("--trusted-host", metavar="HOST", action="append", default=[])
    net.add_argument("--cert", metavar="PATH", help="CA bundle to verify TLS with")
    net.add_argument("--client-cert", metavar="PATH", help="client certificate (PEM) for TLS")
    net.add_argument("--timeout", metavar="SECONDS", type=positive_float)
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
        type=whole,
        help="most requests in flight (env PIPFRESH_CONCURRENCY; default 16)",
    )


def add_cache_options(parser: argparse.ArgumentParser, *, scan: bool) -> None:
    cache = parser.add_argument_group("cache")
    cache.add_argument("--cache-dir", metavar="PATH", help="cache folder (env PIPFRESH_CACHE_DIR)")
    if not scan:
        return
    cache.add_argument(
        "--max-age",
        metavar="DURATION",
        type=duration,
        help="how long an answer stays fresh when the index says nothing: 600, 10m, 24h "
        "(env PIPFRESH_MAX_AGE; default 10m)",
    )
    cache.add_argument("--refresh", action="store_true", help="ask the indexes again")
    cache.add_argument(
        "--offline", action="store_true", help="answer from the cache only, never connect"
    )
    cache.add_argument("--no-cache", action="store_true", help="neither read nor write it")


def config_from(args: argparse.Namespace) -> UpgradeConfig:
    """The settings the scan options name (:func:`add_scan_options`, ``-v``)."""
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


def color_wanted(stream: object) -> bool:
    import os

    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
