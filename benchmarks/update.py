#!/usr/bin/env python3
"""`pipfresh update -y` beside `uv pip install -U` (and optionally pip), on identical venvs.

    .venv/bin/python benchmarks/update.py [--pins benchmarks/datasci-pins.txt] [--runs 3] [--pip]

Each round builds one fresh copy of the pinned venv per tool (benchmarks/make_venv.py,
from PyPI, set-up time not counted), lists what is outdated with pipfresh (not timed),
then upgrades each copy, the tools' order alternating from round to round:

* pipfresh: `pipfresh update -y` with its default installer (`auto`);
* uv: `uv pip install -U <every outdated name>`;
* pip (with --pip): `pip --python <venv> install -U <every outdated name>`.

Every tool starts cold in every round: pipfresh with an empty cache folder, uv (run by
itself, or by pipfresh as its installer) with an empty `UV_CACHE_DIR`, pip with
`--no-cache-dir`. All talk to PyPI only, isolated from this machine's pip config.
Reports each round, the medians and pipfresh's ratio to uv (median of the per-round
ratios), `pip check` and what pipfresh still reports as outdated afterwards. Appends a
section to RESULTS.md unless --no-record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import PINS_FILE, PYPI_SIMPLE, WORK_DIR, append_result, dev_bin, isolated_env
from run import install_pipfresh


@dataclass
class Runs:
    seconds: list[float] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)


def make_copy(name: str, pins: Path) -> Path:
    venv = WORK_DIR / f"update-{name}"
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("make_venv.py")),
            "--venv",
            str(venv),
            "--pins",
            str(pins),
            "--recreate",
        ],
        check=True,
        capture_output=True,
        timeout=900,
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


def upgrade(
    tool: str, exe: str, venv: Path, names: list[str], scratch: Path
) -> tuple[float, int, str]:
    """Seconds, exit status, and pipfresh's own stage timings (empty for the others)."""
    python = str(venv / "bin" / "python")
    env = isolated_env({"UV_CACHE_DIR": str(scratch / "uv-cache")})
    # pipfresh's "auto" installer finds uv on PATH: the dev venv's, the one uv runs as.
    env["PATH"] = str(Path(dev_bin("uv")).parent) + ":" + env.get("PATH", "")
    if tool == "pipfresh":
        cmd = [exe, "update", "-y", "--python", str(venv), "--index-url", PYPI_SIMPLE]
        cmd += ["--cache-dir", str(scratch / "pipfresh-cache"), "--format", "json"]
    elif tool == "uv":
        cmd = [dev_bin("uv"), "pip", "install", "--no-config", "--python", python]
        cmd += ["--index-url", PYPI_SIMPLE, "-U", *names]
    else:
        cmd = [dev_bin("pip"), "--python", python, "install", "--isolated", "--no-cache-dir"]
        cmd += ["--disable-pip-version-check", "--index-url", PYPI_SIMPLE, "-U", *names]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    seconds = time.perf_counter() - started
    stages = ""
    if tool == "pipfresh":
        if done.returncode == 0:
            document = json.loads(done.stdout)
            timings = document.get("result", {}).get("timings", {})
            stages = ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
            stages += f" ({document['installer']})"
        else:
            sys.stderr.write(done.stderr[-2000:])
    elif done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
    return seconds, done.returncode, stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pins", type=Path, default=PINS_FILE, help="default: old-pins.txt")
    parser.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--pip", action="store_true", help="time pip install -U as well")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    exe = install_pipfresh()
    tools = ["pipfresh", "uv", *(["pip"] if args.pip else [])]
    runs = {tool: Runs() for tool in tools}
    ratios: list[float] = []
    outdated_count = 0
    for round_no in range(args.runs):
        order = tools if round_no % 2 == 0 else tools[::-1]
        copies = {tool: make_copy(tool, args.pins) for tool in order}
        names = [str(p["name"]) for p in outdated(exe, copies["uv"])]
        outdated_count = len(names)
        this_round: dict[str, float] = {}
        for tool in order:
            with tempfile.TemporaryDirectory(prefix=f"bench-{tool}-") as scratch:
                seconds, code, stages = upgrade(tool, exe, copies[tool], names, Path(scratch))
            after = outdated(exe, copies[tool])
            held = sum(1 for p in after if p["held_back_by"])
            record = runs[tool]
            record.seconds.append(seconds)
            record.exits.append(code)
            record.checks.append(pip_check(copies[tool]))
            record.left.append(f"{len(after)} ({held})")
            record.stages.append(stages)
            this_round[tool] = seconds
            print(
                f"round {round_no + 1} {tool}: {seconds:.2f} s, exit {code}, "
                f"pip check {record.checks[-1]}, {record.left[-1]} left; {stages}",
                flush=True,
            )
        ratios.append(this_round["pipfresh"] / this_round["uv"])
    rows = [
        "| Tool | Median s | Runs, s | Exits | pip check | Still outdated (held back) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for tool in tools:
        r = runs[tool]
        rows.append(
            f"| {tool} | {statistics.median(r.seconds):.2f} | "
            f"{', '.join(f'{s:.2f}' for s in r.seconds)} | {', '.join(map(str, r.exits))} | "
            f"{', '.join(sorted(set(r.checks)))} | {', '.join(sorted(set(r.left)))} |"
        )
    ratio_line = (
        f"pipfresh / uv, median of per-round ratios: {statistics.median(ratios):.2f}x "
        f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}); "
        f"pipfresh stages per round, s: {' | '.join(runs['pipfresh'].stages)}"
    )
    table = "\n".join(rows) + "\n\n" + ratio_line
    print(table)
    if not args.no_record:
        append_result(
            f"Upgrading the {args.pins.stem} venv: pipfresh update vs uv",
            f"{args.runs} rounds, each on fresh copies of the venv of {args.pins.name} "
            f"({outdated_count} outdated), PyPI only, every tool with empty caches, order "
            "alternating. uv (and pip) are given every name pipfresh reports as outdated; "
            "pipfresh runs with its default installer.",
            table,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
