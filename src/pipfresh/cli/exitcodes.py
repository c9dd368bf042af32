"""Every exit status pipfresh uses: one table, shown in ``--help`` and the README."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    OUTDATED = 1  # outdated packages found and --exit-code given
    USAGE = 2  # bad arguments, settings or target environment
    UNCHECKED = 3  # some projects could not be checked, or an update stopped unchanged
    ROLLED_BACK = 4  # an update failed and was rolled back
    NOT_RESTORED = 5  # an update failed and the previous versions could not all be restored
    TESTS_FAILED = 6  # update --test: the tests fail before the update; nothing changed
    INTERNAL = 70  # a bug in pipfresh (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C


EXIT_STATUS_HELP = """\
exit status:
  0    ok
  1    outdated packages found (with --exit-code)
  2    usage error: bad arguments, settings or target environment
  3    some projects could not be checked, or an update stopped before any change
  4    an update failed and was rolled back
  5    an update failed and could not all be rolled back (what differs is listed)
  6    update --test: the tests fail before the update (nothing was changed)
  70   internal error: a bug in pipfresh, please report it
  130  interrupted (Ctrl-C)"""
