#!/usr/bin/env python3
"""Issue 14's must-show: ``python -m pipfresh --format F ... | head -1`` never ends in an
internal error or a traceback.

    .venv/bin/python benchmarks/pipes.py --runs 20 --packages 1200

Starts the tests' in-process index (``tests/support/index_server.py``) on 127.0.0.1,
publishes an old and a new wheel of ``--packages`` projects, installs the old ones in
a fresh venv (uv, isolated from this machine's pip config), then runs, through a real
shell pipeline, ``python -m pipfresh --format F --python VENV --index-url URL [--refresh]
| head -1`` ``--runs`` times per format and per cache state (warm cache, ``--refresh``).
Enough packages are installed that every format's output is larger than a pipe's
buffer (64 KiB), so ``head`` closes the pipe while pipfresh is still writing.
Counts, per format: runs, pipfresh's exit codes, runs whose stderr has "internal
error", "Traceback", "BrokenPipeError" or "Exception ignored" (:data:`BAD`), and runs
whose stderr is not empty at all. A control row first runs a plain Python writer
through the same pipeline: it must be caught, or the counts prove nothing.
Exits 1 when any pipfresh run printed one of those, or the control was not caught.
"""

from __future__ import annotations

import argparse
import collections
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_DIR, append_result

sys.path.insert(0, str(REPO_DIR / "tests"))

from support.index_server import IndexServer
from support.venvs import clean_env, install, make_venv
from support.wheels import build_wheel

FORMATS = ("table", "json", "jsonl", "freeze")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--packages", type=int, default=1200)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipfresh-pipes-") as tmp_text:
        tmp = Path(tmp_text)
        server = IndexServer().start()
        try:
            failed, rows = _run(server, tmp, args.runs, args.packages)
        finally:
            server.stop()
    if not args.no_record:
        table = (
            "| format | cache | runs | pipfresh exit codes | internal error / traceback "
            "| stderr not empty | bytes of a full run |\n"
            "| --- | --- | --- | --- | --- | --- | --- |\n"
        )
        table += "".join(f"| {' | '.join(map(str, row))} |\n" for row in rows)
        append_result(
            "Closed pipes: pipfresh --format F | head -1",
            f"{args.packages} outdated packages on the in-process index; each run is "
            "`python -m pipfresh --format F ... 2>file | head -1` in bash, pipfresh's own exit "
            "status from PIPESTATUS; the control (a plain Python writer) was caught.",
            table,
        )
    return 1 if failed else 0


def _run(
    server: IndexServer, tmp: Path, runs: int, packages: int
) -> tuple[bool, list[tuple[object, ...]]]:
    """Set up, run every format and cache state; (any failure, the table's rows)."""
    started = time.perf_counter()
    # Long names: even the freeze lines of every package exceed a pipe's buffer.
    names = [f"pipe-check-a-long-project-name-to-fill-the-pipe-{i:04d}" for i in range(packages)]
    for name in names:
        for version in ("1.0", "2.0"):
            server.add(build_wheel(tmp / "dists" / name / version, name, version))
    venv = make_venv(tmp / "venv")
    install(venv, *(f"{n}==1.0" for n in names), index_url=server.url, extra_args=["--no-deps"])
    print(f"setup: {packages} packages in {time.perf_counter() - started:.1f} s", flush=True)
    env = clean_env() | {
        "PIPFRESH_CACHE_DIR": str(tmp / "cache"),
        "PIPFRESH_CONFIG_FILE": "",
        "NO_COLOR": "1",
    }
    base = [
        sys.executable,
        "-m",
        "pipfresh",
        "--python",
        str(venv.python),
        "--index-url",
        server.url,
    ]
    # Warm the cache once so the warm rows are warm from their first run.
    subprocess.run([*base, "--format", "json"], env=env, capture_output=True, check=False)
    # The control: a plain Python writer through the same pipeline must show the
    # traceback this script counts, or the count below proves nothing.
    writer = "for _ in range(5000): print('x' * 99)"
    control = _piped(shlex.join([sys.executable, "-c", writer]), env, tmp)
    seen = _bad(control[1])
    print(f"control (plain python writer, 500 KB): exit {control[0]}, traceback seen: {seen}")
    failed = not seen
    rows: list[tuple[object, ...]] = []
    print(
        f"{'format':<8} {'cache':<8} {'runs':>4}  {'exit codes':<12} {'internal/traceback':>18} "
        f"{'stderr not empty':>16} {'bytes (full run)':>16}"
    )
    for fmt in FORMATS:
        full = subprocess.run(
            [*base, "--format", fmt], env=env, capture_output=True, check=False
        ).stdout
        for refresh in ((), ("--refresh",)):
            codes: collections.Counter[int] = collections.Counter()
            bad = noisy = 0
            for _ in range(runs):
                code, stderr = _piped(shlex.join([*base, "--format", fmt, *refresh]), env, tmp)
                codes[code] += 1
                if _bad(stderr):
                    bad += 1
                    failed = True
                    print(stderr, file=sys.stderr)
                noisy += bool(stderr.strip())
            shown = ",".join(f"{c}x{n}" for c, n in sorted(codes.items()))
            cache = "refresh" if refresh else "warm"
            print(
                f"{fmt:<8} {cache:<8} {runs:>4}  {shown:<12} {bad:>18} {noisy:>16} {len(full):>16}"
            )
            rows.append((fmt, cache, runs, shown, bad, noisy, len(full)))
    return failed, rows


#: What a run must never print: pipfresh's internal-error line, a traceback, or the
#: interpreter's own note about an exception it could not raise at exit.
BAD = ("internal error", "Traceback", "BrokenPipeError", "Exception ignored")


def _bad(stderr: str) -> bool:
    return any(marker in stderr for marker in BAD)


def _piped(command: str, env: dict[str, str], tmp: Path) -> tuple[int, str]:
    """``command | head -1`` in bash: the command's own exit status and its stderr."""
    err_file = tmp / "stderr.txt"
    script = f'{command} 2>"$1" | head -1 >/dev/null; echo "${{PIPESTATUS[0]}}"'
    done = subprocess.run(
        ["bash", "-c", script, "bash", str(err_file)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return int(done.stdout.strip() or -1), err_file.read_text()


if __name__ == "__main__":
    raise SystemExit(main())
