#!/usr/bin/env python3
"""`pipfresh update -y` beside `pip install -U` and `uv pip install -U`, on identical venvs.

    .venv/bin/python benchmarks/update.py

Builds three copies of the old-pins venv (benchmarks/make_venv.py), lists what is
outdated with pipfresh, then upgrades one copy with each tool, from PyPI only and
isolated from this machine's pip configuration:

* pipfresh: `pipfresh update -y --installer uv` (the consistent plan: wanted versions);
* uv: `uv pip install -U <every outdated name>`;
* pip: `pip --python <venv> install -U <every outdated name>` (newest pip).

Reports wall time, `pip check` and how many packages pipfresh still reports as
outdated (and of those, how many are held back by another package). One run each:
an upgrade changes the venv. Appends a section to RESULTS.md unless --no-record.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import PYPI_SIMPLE, WORK_DIR, append_result, dev_bin, isolated_env
from run import install_pipfresh

TOOLS = ("pipfresh", "uv", "pip")


def make_copy(name: str) -> Path:
    venv = WORK_DIR / f"update-{name}"
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("make_venv.py")),
            "--venv",
            str(venv),
            "--recreate",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return venv


def outdated(exe: str, venv: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [exe, "--python", str(venv), "--index-url", PYPI_SIMPLE, "--format", "json", "--no-cache"],
        env=isolated_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    packages: list[dict[str, object]] = json.loads(done.stdout)["packages"]
    return packages


def pip_check(venv: Path) -> str:
    done = subprocess.run(
        [dev_bin("pip"), "--python", str(venv / "bin" / "python"), "check"],
        env=isolated_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = (done.stdout + done.stderr).strip().splitlines()
    return "clean" if done.returncode == 0 else f"{len(lines)} problems"


def upgrade(tool: str, exe: str, venv: Path, names: list[str]) -> tuple[float, int, str]:
    """Seconds, exit status, and pipfresh's own stage timings (empty for the others).

    Every tool starts cold: pipfresh without its index cache (and it runs uv with
    ``--no-cache``), uv with ``--no-cache``, pip with ``--no-cache-dir``, so no tool
    reuses wheels an earlier run downloaded.
    """
    python = str(venv / "bin" / "python")
    if tool == "pipfresh":
        cmd = [exe, "update", "-y", "--python", str(venv), "--index-url", PYPI_SIMPLE]
        cmd += ["--installer", "uv", "--no-cache", "--format", "json"]
    elif tool == "uv":
        cmd = [dev_bin("uv"), "pip", "install", "--no-config", "--no-cache", "--python", python]
        cmd += ["--index-url", PYPI_SIMPLE, "-U", *names]
    else:
        cmd = [dev_bin("pip"), "--python", python, "install", "--isolated", "--no-cache-dir"]
        cmd += ["--disable-pip-version-check", "--index-url", PYPI_SIMPLE, "-U", *names]
    env = isolated_env()
    # pipfresh's "auto" installer looks for uv on PATH; name the dev venv's.
    env["PATH"] = str(Path(dev_bin("uv")).parent) + ":" + env.get("PATH", "")
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    seconds = time.perf_counter() - started
    stages = ""
    if tool == "pipfresh" and done.returncode == 0:
        timings = json.loads(done.stdout)["result"]["timings"]
        stages = ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
    return seconds, done.returncode, stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    exe = install_pipfresh()
    rows = [
        "| Tool | Seconds | Exit | pip check | Still outdated (held back) | Stages, s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for tool in TOOLS:
        venv = make_copy(tool)
        names = [str(p["name"]) for p in outdated(exe, venv)]
        seconds, code, stages = upgrade(tool, exe, venv, names)
        after = outdated(exe, venv)
        held = sum(1 for p in after if p["held_back_by"])
        check = pip_check(venv)
        print(
            f"{tool}: {seconds:.1f} s, exit {code}, pip check {check}, "
            f"{len(after)} outdated ({held} held back); {len(names)} were outdated",
            flush=True,
        )
        rows.append(
            f"| {tool} | {seconds:.1f} | {code} | {check} | {len(after)} ({held}) | {stages} |"
        )
    table = "\n".join(rows)
    print(table)
    if not args.no_record:
        append_result(
            "Upgrading the old-pins venv: pipfresh update vs pip and uv",
            "three fresh copies of the 122-project old-pins venv, PyPI only, one run each "
            "(an upgrade changes the venv), every tool with a cold cache. pip and uv are "
            "given every name pipfresh reports as outdated.",
            table,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
