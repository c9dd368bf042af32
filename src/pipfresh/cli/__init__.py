"""Command line: arguments -> settings -> run -> render -> exit code. No business logic.

Each command is one module with ``add_arguments(parser)`` and ``run(args) -> int``,
listed once in :data:`COMMANDS`; only the chosen command's module is imported, so
``--version`` and ``--help`` stay fast. Adding a command is one module and one line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from pipfresh import __version__
from pipfresh.cli.exitcodes import EXIT_STATUS_HELP, ExitCode

__all__ = ["COMMANDS", "ExitCode", "build_parser", "main"]


class CommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class Command:
    name: str
    module: str  # imported only when this command runs (or for completion)
    summary: str

    def load(self) -> CommandModule:
        return cast(CommandModule, importlib.import_module(self.module))


# The registry: one line per command, in the order --help lists them.
COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("outdated", "pipfresh.cli.outdated", "list outdated packages (the default)"),
        Command("update", "pipfresh.cli.update", "upgrade the environment, safely"),
        Command("bump", "pipfresh.cli.bump", "raise outdated version pins in dependency files"),
        Command("cache", "pipfresh.cli.cache", "show or clear the index cache"),
        Command("completion", "pipfresh.cli.completion", "print a shell completion script"),
    )
}
DEFAULT_COMMAND = "outdated"
# Words other tools use for these commands: `pipfresh list` gets a suggestion.
ALIASES = {"list": "outdated", "check": "outdated", "upgrade": "update", "install": "update"}


def build_parser(command: str = DEFAULT_COMMAND) -> argparse.ArgumentParser:
    """The parser of one command (``pipfresh outdated`` by default)."""
    from pipfresh.cli.options import new_parser

    entry = COMMANDS[command]
    parser = new_parser(f"pipfresh {command}", entry.summary)
    entry.load().add_arguments(parser)
    return parser


def _top_help() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: pipfresh [-h] [-V] [COMMAND] [options] [NAME ...]",
        "",
        "Find outdated packages in a Python environment, fast, and upgrade them safely.",
        "",
        "commands:",
        *(f"  {c.name:<{width}}  {c.summary}" for c in COMMANDS.values()),
        "",
        f"Without a command, pipfresh runs '{DEFAULT_COMMAND}'. "
        "'pipfresh COMMAND --help' lists a command's options.",
        "",
        "options:",
        "  -h, --help     show this help and exit",
        "  -V, --version  show pipfresh's version and exit",
        "",
        EXIT_STATUS_HELP,
    ]
    return "\n".join(lines) + "\n"


def _value_options() -> frozenset[str]:
    """Option strings that take a value, over every command (to find the command word)."""
    from pipfresh.cli.options import Parser

    found: set[str] = set()
    for command in COMMANDS.values():
        parser = Parser(add_help=False)
        command.load().add_arguments(parser)
        for action in parser._actions:
            if action.nargs != 0:
                found.update(action.option_strings)
    return frozenset(found)


def split_command(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The command word (None when there is none) and the other arguments.

    The command may follow options (``pipfresh --python .venv update``), so the
    first word that is not an option or an option's value is the one looked at.
    """
    if argv and argv[0] in COMMANDS:
        return argv[0], list(argv[1:])
    if not any(a in COMMANDS for a in argv):
        return None, list(argv)
    takes_value = _value_options()
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "--":
            break
        elif arg.startswith("-"):
            skip = arg in takes_value
        else:
            if arg in COMMANDS:
                return arg, [*argv[:i], *argv[i + 1 :]]
            break
    return None, list(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    except KeyboardInterrupt:
        _write_err("\npipfresh: interrupted\n")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `pipfresh | head`: the reader chose to stop; end quietly as git log does.
        _silence_closed_streams()
        return ExitCode.OK
    finally:
        if argv is None:
            # The program's work is done and said: a Ctrl-C now, while the interpreter
            # shuts down (joining its worker threads), would only turn the exit status
            # into "killed by SIGINT" after a completed update.
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        sys.stdout.write(_top_help())
        return ExitCode.OK
    if argv[:1] in (["-V"], ["--version"]):
        sys.stdout.write(f"pipfresh {__version__}\n")
        return ExitCode.OK
    from pipfresh.cli.options import refuse_foreign_options

    word, rest = split_command(argv)
    command = word or DEFAULT_COMMAND
    parser = build_parser(command)
    try:
        refuse_foreign_options(parser, rest)
        # Intermixed: names may come after options (`pipfresh update -y requests`).
        args = parser.parse_intermixed_args(rest)
    except SystemExit as exc:  # --help, or a usage error already written
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    args.command = command
    args.explicit_command = word is not None
    verbose = bool(getattr(args, "verbose", False))
    return run_command(COMMANDS[command].load(), args, verbose=verbose)


def run_command(module: CommandModule, args: argparse.Namespace, *, verbose: bool) -> int:
    """Run one command, turning what it raises into one line and an exit status."""
    from pipfresh.errors import PipfreshError, RollbackFailed, RolledBack, UpdateAborted

    try:
        return module.run(args)
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except (UpdateAborted, RolledBack, RollbackFailed) as exc:
        output = getattr(exc, "output", "")
        if output and not verbose:
            sys.stderr.write(output if output.endswith("\n") else output + "\n")
        _error_line(str(exc))
        if isinstance(exc, RolledBack):
            return ExitCode.ROLLED_BACK
        if isinstance(exc, RollbackFailed):
            return ExitCode.NOT_RESTORED
        return ExitCode.UNCHECKED
    except PipfreshError as exc:
        _error_line(str(exc))
        return ExitCode.USAGE
    except OSError as exc:
        import errno

        if exc.errno == errno.EPIPE:
            raise BrokenPipeError(*exc.args) from exc
        return _internal_error(exc, verbose)
    except Exception as exc:  # a bug: one line, the traceback only with --verbose
        return _internal_error(exc, verbose)


def _error_line(message: str) -> None:
    from pipfresh.auth import redact_text
    from pipfresh.ui.safe import printable

    sys.stderr.write(f"pipfresh: error: {printable(redact_text(message, ()))}\n")


def _internal_error(exc: BaseException, verbose: bool) -> int:
    import platform

    from pipfresh.auth import redact_text
    from pipfresh.ui.safe import printable

    if verbose:
        import traceback

        traceback.print_exc()
    what = printable(redact_text(f"{type(exc).__name__}: {exc}", ()))
    attach = "the traceback above" if verbose else "the output of the same command run with -v"
    sys.stderr.write(
        f"pipfresh: internal error: {what}\n"
        f"pipfresh: this is a bug; please report it with {attach} and: pipfresh "
        f"{__version__}, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}\n"
    )
    return ExitCode.INTERNAL


def _write_err(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except OSError:
        _silence_closed_streams()


def _silence_closed_streams() -> None:
    """Point whichever of stdout and stderr was closed at /dev/null, so that the
    interpreter's last flush does not print "Exception ignored ... BrokenPipeError"."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass
