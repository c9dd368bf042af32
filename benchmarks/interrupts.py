#!/usr/bin/env python3
"""Interrupt `pipfresh update -y` at random points of its install on copies of a real venv.

    .venv/bin/python benchmarks/interrupts.py --venv DIR [--signal INT|KILL]
        [--points 10] [--installer pip|uv] [--seed N] [--no-record]

For each point: a fresh copy of DIR (cp -a), the sha256 of every file in its
site-packages and bin (bytecode caches left out), then `pipfresh update -y --verbose`
with this machine's pip configuration; once pipfresh says the install began, a delay
drawn from the seeded generator (0 to --spread seconds), then the signal:

* INT: Ctrl-C to pipfresh. Expected: exit 4 and every file as before, or exit 0 with the
  update complete (the signal came too late).
* KILL: SIGKILL to pipfresh and every process under it (a crash, the OOM killer);
  then the recovery the next update starts with (pipfresh.upgrade.recover_interrupted,
  under the environment's lock). Expected: every file as before.

Prints one row per point and appends a section to RESULTS.md unless --no-record.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from _common import WORK_DIR, append_result, machine_env

RECOVER = """
import sys
from pipfresh.environment import inspect_target
from pipfresh.upgrade import environment_lock, recover_interrupted
target = inspect_target(sys.argv[1])
with environment_lock(target):
    print(recover_interrupted(target))
"""


def file_tree(venv: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for base in [*venv.glob("lib/python*/site-packages"), venv / "bin"]:
        for path in sorted(base.rglob("*")):
            parts = path.relative_to(base).parts
            if "__pycache__" in parts or ".pipfresh-update" in parts or path.is_dir():
                continue
            key = f"{base.name}/{path.relative_to(base).as_posix()}"
            found[key] = (
                "link" if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
            )
    return found


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for child in children.get(current, []):
            found.append(child)
            todo.append(child)
    return found


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    gone = sorted(set(before) - set(after))
    new = sorted(set(after) - set(before))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return [f"-{k}" for k in gone] + [f"+{k}" for k in new] + [f"~{k}" for k in changed]


def one_point(args: argparse.Namespace, point: int, delay: float) -> tuple[str, str, float]:
    copy = WORK_DIR / f"interrupt-{point}"
    shutil.rmtree(copy, ignore_errors=True)
    subprocess.run(["cp", "-a", str(args.venv), str(copy)], check=True)
    before = file_tree(copy)
    python = str(copy / "bin" / "python")
    pipfresh = [sys.executable, "-m", "pipfresh"]
    command = [*pipfresh, "update", "-y", "--verbose", "--installer", args.installer,
               "--python", python]  # fmt: skip
    proc = subprocess.Popen(
        command, env=machine_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    started = time.perf_counter()
    for line in proc.stderr:
        if line.startswith("pipfresh: install ("):
            started = time.perf_counter()
            time.sleep(delay)
            if args.signal == "INT":
                proc.send_signal(signal.SIGINT)
            else:
                tree = descendants(proc.pid)
                proc.kill()
                for pid in tree:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            break
    at = time.perf_counter() - started
    _, err = proc.communicate(timeout=1200)
    code = proc.returncode
    if args.signal == "KILL":
        recovered = subprocess.run(
            [sys.executable, "-c", RECOVER, python], capture_output=True, text=True,
            env=machine_env(), timeout=600, check=False,
        )  # fmt: skip
        detail = (recovered.stdout.strip() or recovered.stderr.strip())[:90]
        outcome = "killed" if code == -signal.SIGKILL else f"exit {code} before the kill"
    else:
        detail = (err.strip().splitlines() or [""])[-1][:90]
        outcome = f"exit {code}"
    after = file_tree(copy)
    diff = differences(before, after)
    committed = False
    if diff and args.signal == "KILL" and recovered.stdout.strip() == "None":
        # No journal to recover: the kill came after the update had committed. Then
        # it must be the whole update: a dry run finds nothing left to do.
        check = subprocess.run(
            [*pipfresh, "update", "--dry-run", "--python", python], capture_output=True,
            text=True, env=machine_env(), timeout=600, check=False,
        )  # fmt: skip
        committed = check.returncode == 0 and "Nothing to update." in check.stdout
    if code == 0:
        verdict = "completed (signal too late)"
    elif committed:
        verdict = "completed before the kill (committed; a dry run finds nothing to do)"
    elif not diff:
        verdict = "identical files"
    else:
        verdict = f"DIFFERS: {len(diff)} ({', '.join(diff[:3])})"
    shutil.rmtree(copy, ignore_errors=True)
    return f"{outcome}; {detail}", verdict, at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--signal", choices=("INT", "KILL"), default="INT")
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--installer", choices=("pip", "uv"), default="pip")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--spread", type=float, default=20.0, help="largest delay, seconds")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    args.venv = args.venv.resolve()
    # Started in the background, this script may have inherited SIGINT ignored, and so
    # would pipfresh (an ignored signal stays ignored across exec): catch it here, which
    # gives the children the default disposition again.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    WORK_DIR.mkdir(exist_ok=True)
    rng = random.Random(args.seed)
    rows = []
    for point in range(args.points):
        delay = rng.uniform(0.0, args.spread)
        outcome, verdict, at = one_point(args, point, delay)
        row = f"| {point + 1} | {at:.2f} | {outcome} | {verdict} |"
        print(row, flush=True)
        rows.append(row)
    table = "| point | signal after install began, s | pipfresh | files after |\n"
    table += "| --- | --- | --- | --- |\n" + "\n".join(rows)
    if not args.no_record:
        append_result(
            f"Interrupts: SIG{args.signal} at {args.points} random points ({args.installer})",
            f"copies of {args.venv} (this machine's pip configuration), the signal a seeded "
            f"random 0-{args.spread:g} s after pipfresh said the install began.",
            table,
        )


if __name__ == "__main__":
    main()
