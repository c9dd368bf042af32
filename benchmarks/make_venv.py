#!/usr/bin/env python3
"""Create the old-pins benchmark venv (default: benchmarks/.work/oldvenv).

    .venv/bin/python benchmarks/make_venv.py [--installer uv|pip] [--recreate]

Installs every line of benchmarks/old-pins.txt with --no-deps, wheels only,
exactly as pinned, from https://pypi.org/simple only, with this machine's pip
configuration switched off (PIP_*/UV_* cleared, PIP_CONFIG_FILE=/dev/null,
uv --no-config). Then checks that the venv holds exactly the pinned versions
and nothing else, and runs the newest pip's `pip check` against it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    DEFAULT_VENV,
    PINS_FILE,
    PYPI_SIMPLE,
    canonical,
    dev_bin,
    isolated_env,
    read_pins,
    run,
    venv_python,
)

INSTALL_TIMEOUT = 1200.0

LIST_DISTS = r"""
import json, importlib.metadata as m
print(json.dumps(sorted([d.metadata["Name"], d.version] for d in m.distributions())))
"""


def default_python() -> str:
    base = getattr(sys, "_base_executable", sys.executable)
    if sys.version_info[:2] == (3, 11):
        return str(base)
    found = shutil.which("python3.11")
    if found is None:
        raise SystemExit("no python3.11 found; pass --python")
    return found


def check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{what} failed with exit {proc.returncode}")


def create(venv: Path, python: str, installer: str, pins: Path) -> None:
    env = isolated_env()
    if installer == "uv":
        uv = dev_bin("uv")
        check(run([uv, "venv", "--no-config", "--python", python, str(venv)], env, 300), "uv venv")
        cmd = [
            uv,
            "pip",
            "install",
            "--no-config",
            "--python",
            str(venv_python(venv)),
            "--index-url",
            PYPI_SIMPLE,
            "--no-deps",
            "--only-binary",
            ":all:",
            "-r",
            str(pins),
        ]
    else:
        check(run([python, "-m", "venv", str(venv)], env, 300), "python -m venv")
        cmd = [
            dev_bin("pip"),
            "--python",
            str(venv_python(venv)),
            "install",
            "--isolated",
            "--disable-pip-version-check",
            "--index-url",
            PYPI_SIMPLE,
            "--no-deps",
            "--only-binary",
            ":all:",
            "-r",
            str(pins),
        ]
    print("+", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = run(cmd, env, INSTALL_TIMEOUT)
    check(proc, f"{installer} install")
    print(f"installed in {time.perf_counter() - t0:.1f} s", flush=True)


def verify(venv: Path, pins: Path) -> int:
    env = isolated_env()
    proc = run([str(venv_python(venv)), "-c", LIST_DISTS], env, 120)
    check(proc, "listing installed distributions")
    installed = {canonical(n): v for n, v in json.loads(proc.stdout)}
    wanted = {canonical(n): v for n, v in read_pins(pins)}
    problems = 0
    for name, version in sorted(wanted.items()):
        got = installed.get(name)
        if got != version:
            print(f"MISMATCH {name}: pinned {version}, installed {got}")
            problems += 1
    for name in sorted(set(installed) - set(wanted)):
        print(f"EXTRA {name}=={installed[name]} (not in {pins.name})")
        problems += 1
    print(f"{len(installed)} distributions installed, {len(wanted)} pinned, {problems} problems")
    pip_check = run(
        [dev_bin("pip"), "--python", str(venv_python(venv)), "check", "--isolated"], env, 300
    )
    print(
        "pip check:",
        (pip_check.stdout + pip_check.stderr).strip() or f"exit {pip_check.returncode}",
    )
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--python", default=None, help="CPython 3.11 interpreter (default: auto)")
    parser.add_argument("--pins", type=Path, default=PINS_FILE)
    parser.add_argument("--installer", choices=("uv", "pip"), default="uv")
    parser.add_argument("--recreate", action="store_true", help="delete an existing venv first")
    parser.add_argument("--verify-only", action="store_true")
    args = parser.parse_args()
    venv: Path = args.venv.resolve()
    if not args.verify_only:
        if venv.exists():
            if not args.recreate:
                print(f"{venv} exists; verifying it (use --recreate to rebuild)")
                return verify(venv, args.pins)
            shutil.rmtree(venv)
        venv.parent.mkdir(parents=True, exist_ok=True)
        create(venv, args.python or default_python(), args.installer, args.pins.resolve())
    return verify(venv, args.pins)


if __name__ == "__main__":
    sys.exit(main())
