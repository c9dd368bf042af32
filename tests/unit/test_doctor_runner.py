"""The test command's runner: real shells and processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pipfresh.doctor.runner import Output, run_tests, scripts_folder, test_environ

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell commands")


def test_environment_is_activated(tmp_path: Path) -> None:
    env = test_environ({"PATH": "/usr/bin", "PYTHONHOME": "/x"}, tmp_path)
    assert env["PATH"] == f"{scripts_folder(tmp_path)}{os.pathsep}/usr/bin"
    assert env["VIRTUAL_ENV"] == str(tmp_path)
    assert "PYTHONHOME" not in env


def test_command_runs_here_with_the_environments_bin_first(tmp_path: Path) -> None:
    bindir = scripts_folder(tmp_path / "env")
    bindir.mkdir(parents=True)
    tool = bindir / "only-in-env"
    tool.write_text('#!/bin/sh\necho "tool in $VIRTUAL_ENV at $(pwd)"\n')
    tool.chmod(0o755)
    run = run_tests("only-in-env", tmp_path / "env", cwd=tmp_path)
    assert run.passed
    assert run.tail == (f"tool in {tmp_path / 'env'} at {tmp_path}",)


def test_failure_lines_and_tail_are_kept(tmp_path: Path) -> None:
    command = "for i in $(seq 1 100); do echo line $i; done; echo 'E   assert 1 == 2'; exit 3"
    run = run_tests(command, tmp_path, tail=5)
    assert not run.passed
    assert run.returncode == 3
    assert run.summary() == "exit status 3"
    assert run.failures == ("E   assert 1 == 2",)
    assert run.tail[-1] == "E   assert 1 == 2"
    assert len(run.tail) == 5
    assert run.lines == 101


def test_timeout_stops_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    # The shell's child would outlive a kill of the shell alone.
    run = run_tests(f"sleep 60 & echo $! > {pidfile}; wait", tmp_path, timeout=0.5)
    assert run.timed_out
    assert not run.passed
    assert run.summary().startswith("timed out")
    assert not alive(int(pidfile.read_text()))


def alive(pid: int) -> bool:
    """Running: not gone, and not a zombie waiting for whoever adopted it to reap it."""
    if not Path("/proc/self/stat").exists():  # no procfs: a zombie counts as alive
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_long_lines_are_cut() -> None:
    output = Output(tail=2, failures=1)
    output.add("x" * 5000 + "\n")
    assert output.tail[0].endswith(" [...]")
    assert len(output.tail[0]) == 1000 + len(" [...]")
