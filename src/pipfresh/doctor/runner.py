"""Running the project's test command in the target environment.

The command goes through the shell, in the given folder, with the target
environment's scripts folder first on ``PATH`` and ``VIRTUAL_ENV`` set (what
activating it would do), so ``python -m pytest`` or ``tox`` mean the target's.

It runs in a process group of its own: a Ctrl-C at the terminal reaches pipfresh
only, and pipfresh stops the whole group (the shell and whatever it started) on a
timeout, on Ctrl-C, and once the shell has exited (a test suite's stray server would
otherwise hold the output pipe open and outlive the run).

Output (stdout and stderr interleaved) is kept in bounded memory: the first lines
that look like a failure, the last lines, and a count; a line is cut at
:data:`MAX_LINE` characters.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipfresh.errors import PipfreshError

MAX_LINE = 1000
#: How long the command's process group gets after SIGTERM before SIGKILL.
STOP_GRACE = 5.0
#: What a failure looks like in the output of the common runners: pytest's ``E`` lines
#: and ``FAILED``/``ERROR`` summary, unittest's ``FAIL:``, tracebacks and errors.
FAILURE = re.compile(
    r"^(?:E\s|FAILED\b|ERROR\b|FAIL:|Traceback\b)|\b\w*(?:Error|Exception)\b|\bassert\b"
)


class TestCommandError(PipfreshError):
    """The test command could not be started at all (no shell, no such folder)."""

    __test__ = False  # not a pytest test class, whatever its name


@dataclass(frozen=True, slots=True)
class TestRun:
    """One run of the test command."""

    __test__ = False

    command: str
    returncode: int | None  # None: stopped by pipfresh (timeout)
    timed_out: bool
    seconds: float
    failures: tuple[str, ...]  # the first lines that look like a failure
    tail: tuple[str, ...]  # the last lines
    lines: int  # how many lines it printed

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def summary(self) -> str:
        """Why it failed, in one line ("" when it passed)."""
        if self.passed:
            return ""
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        return f"exit status {self.returncode}"


class Output:
    """Bounded memory of a command's output lines."""

    def __init__(self, tail: int, failures: int, pattern: re.Pattern[str] = FAILURE) -> None:
        self._tail: collections.deque[str] = collections.deque(maxlen=tail)
        self._failures: list[str] = []
        self._max_failures = failures
        self._pattern = pattern
        self.count = 0

    def add(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE] + " [...]"
        self.count += 1
        self._tail.append(line)
        if len(self._failures) < self._max_failures and self._pattern.search(line):
            self._failures.append(line)

    @property
    def failures(self) -> tuple[str, ...]:
        return tuple(self._failures)

    @property
    def tail(self) -> tuple[str, ...]:
        return tuple(self._tail)


def scripts_folder(environment: Path) -> Path:
    """Where an environment's commands are: ``Scripts`` on Windows, ``bin`` elsewhere."""
    return environment / ("Scripts" if sys.platform == "win32" else "bin")


def test_environ(base: Mapping[str, str], environment: Path) -> dict[str, str]:
    """``base`` as activating ``environment`` would leave it."""
    env = {k: v for k, v in base.items() if k != "PYTHONHOME"}
    path = env.get("PATH")
    folder = str(scripts_folder(environment))
    env["PATH"] = folder if not path else folder + os.pathsep + path
    env["VIRTUAL_ENV"] = str(environment)
    return env


test_environ.__test__ = False  # type: ignore[attr-defined]


def run_tests(
    command: str,
    environment: Path,
    *,
    cwd: Path | None = None,
    timeout: float | None = None,
    tail: int = 40,
    failures: int = 10,
    on_line: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> TestRun:
    """Run ``command`` through the shell to its end (or ``timeout`` seconds).

    ``on_line`` gets each output line as it comes, from a reader thread. Any exception
    while waiting (KeyboardInterrupt included) stops the command's process group and
    is re-raised once it is gone.
    """
    env = test_environ(os.environ if environ is None else environ, environment)
    output = Output(tail, failures)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=sys.platform != "win32",
            creationflags=_GROUP_FLAGS,
        )
    except OSError as exc:
        where = f" in {cwd}" if cwd is not None else ""
        raise TestCommandError(
            f"cannot run the test command{where}: {exc.strerror or exc}"
        ) from exc
    reader = threading.Thread(target=_read, args=(proc, output, on_line), daemon=True)
    reader.start()
    timed_out = False
    try:
        try:
            returncode: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = None
    finally:
        # After a normal exit this only clears stragglers; otherwise it stops the run.
        _stop_group(proc)
        reader.join(STOP_GRACE)
    return TestRun(
        command,
        returncode,
        timed_out,
        time.monotonic() - started,
        output.failures,
        output.tail,
        output.count,
    )


run_tests.__test__ = False  # type: ignore[attr-defined]


def _read(
    proc: subprocess.Popen[bytes], output: Output, on_line: Callable[[str], None] | None
) -> None:
    assert proc.stdout is not None
    with proc.stdout:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            output.add(line)
            if on_line is not None:
                on_line(line.rstrip("\r\n"))


#: A process group of its own on Windows (elsewhere: a new session).
_GROUP_FLAGS = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if sys.platform == "win32" else 0


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    if sys.platform == "win32":
        # No process groups to signal: taskkill stops the tree under the shell.
        if proc.poll() is None:
            subprocess.run(
                ["taskkill", "/T", "/F", "/PID", str(proc.pid)],
                capture_output=True,
                check=False,
            )
        proc.wait()
        return
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_GRACE)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pgid, signum)
