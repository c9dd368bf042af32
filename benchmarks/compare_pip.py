#!/usr/bin/env python3
"""Compare pipfresh's outdated report with the newest pip's, project by project.

    .venv/bin/python benchmarks/compare_pip.py --python benchmarks/.work/oldvenv/bin/python
    .venv/bin/python benchmarks/compare_pip.py --python benchmarks/.work/oldvenv --isolated-pip

Runs `pip --python <interp> list --outdated --format json` with the dev venv's
pip (the newest pip) and `python -m pipfresh --python <interp> --format json`
(from this work tree's src/), then prints every difference in the set of
outdated projects (names compared canonicalised), in installed versions and in
latest versions. Exit status: 0 no difference, 1 differences, 2 a tool failed.

By default both tools see this machine's real pip configuration (config files
and PIP_* variables: extra file:// indexes and find-links). With
--isolated-pip both are cut off from it (PIP_*/UV_* cleared,
PIP_CONFIG_FILE=/dev/null) and use https://pypi.org/simple only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    DEFAULT_VENV,
    PYPI_SIMPLE,
    REPO_DIR,
    RESULTS_FILE,
    WORK_DIR,
    canonical,
    dev_bin,
    isolated_env,
    machine_env,
    resolve_target,
    run,
    tool_version,
)

try:  # normalise version strings when packaging is at hand (it is in the dev venv)
    from packaging.version import InvalidVersion, Version

    def norm_version(v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return str(Version(v))
        except InvalidVersion:
            return v

except ImportError:  # pragma: no cover - stdlib-only fallback

    def norm_version(v: str | None) -> str | None:
        return v


@dataclass
class Entry:
    name: str
    installed: str | None
    latest: str | None


@dataclass
class ToolResult:
    tool: str
    cmd: list[str]
    seconds: float
    returncode: int
    entries: dict[str, Entry] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stderr_lines: int = 0
    warnings: int = 0
    failure: str | None = None


def _tail(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def run_pip(interp: Path, isolated: bool, timeout: float) -> ToolResult:
    cmd = [dev_bin("pip"), "--python", str(interp), "list", "--outdated", "--format", "json"]
    if isolated:
        cmd += ["--isolated", "--index-url", PYPI_SIMPLE]
    env = isolated_env() if isolated else machine_env()
    return _run_tool("pip", cmd, env, timeout, _parse_pip)


def run_pipfresh(interp: Path, isolated: bool, timeout: float, extra: list[str]) -> ToolResult:
    cmd = [sys.executable, "-m", "pipfresh", "--python", str(interp), "--format", "json", *extra]
    if isolated:
        cmd += ["--index-url", PYPI_SIMPLE]
    src = str(REPO_DIR / "src")
    base = isolated_env() if isolated else machine_env()
    pythonpath = base.get("PYTHONPATH")
    env = {**base, "PYTHONPATH": src + (":" + pythonpath if pythonpath else "")}
    return _run_tool("pipfresh", cmd, env, timeout, _parse_pipfresh)


def _parse_pip(doc: object, res: ToolResult) -> None:
    if not isinstance(doc, list):
        raise ValueError("pip JSON is not a list")
    for item in doc:
        name = str(item["name"])
        res.entries[canonical(name)] = Entry(name, item.get("version"), item.get("latest_version"))


def _parse_pipfresh(doc: object, res: ToolResult) -> None:
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise ValueError("pipfresh JSON is not a version-1 document")
    for item in doc.get("packages", []):
        name = str(item["name"])
        installed, latest = item.get("installed"), item.get("latest")
        # with --all, up-to-date projects appear too; keep only outdated ones
        if (
            installed is not None
            and latest is not None
            and norm_version(installed) == norm_version(latest)
        ):
            continue
        res.entries[canonical(name)] = Entry(name, installed, latest)
    for err in doc.get("errors", []):
        res.errors.append(f"{err.get('name')}: {err.get('reason')}")


def _run_tool(
    tool: str,
    cmd: list[str],
    env: dict[str, str],
    timeout: float,
    parse: Callable[[object, ToolResult], None],
) -> ToolResult:
    t0 = time.perf_counter()
    try:
        proc = run(cmd, env, timeout)
    except subprocess.TimeoutExpired:
        return ToolResult(
            tool, cmd, time.perf_counter() - t0, -1, failure=f"timed out after {timeout:.0f} s"
        )
    except OSError as exc:
        return ToolResult(tool, cmd, 0.0, -1, failure=str(exc))
    res = ToolResult(tool, cmd, time.perf_counter() - t0, proc.returncode)
    lines = proc.stderr.splitlines()
    res.stderr_lines = len(lines)
    res.warnings = sum(1 for line in lines if "WARNING" in line.upper())
    try:
        parse(json.loads(proc.stdout), res)
    except (ValueError, KeyError, TypeError) as exc:
        res.failure = (
            f"exit {proc.returncode}, unusable output ({exc}); stderr:\n{_tail(proc.stderr)}"
        )
    return res


def compare(pip: ToolResult, fresh: ToolResult) -> list[str]:
    diffs: list[str] = []
    for key in sorted(set(pip.entries) | set(fresh.entries)):
        a, b = pip.entries.get(key), fresh.entries.get(key)
        if a is None and b is not None:
            diffs.append(f"only pipfresh: {key} {b.installed} -> {b.latest}")
        elif b is None and a is not None:
            diffs.append(f"only pip:      {key} {a.installed} -> {a.latest}")
        elif a is not None and b is not None:
            if norm_version(a.latest) != norm_version(b.latest):
                diffs.append(f"latest differs: {key}: pip {a.latest}, pipfresh {b.latest}")
            if norm_version(a.installed) != norm_version(b.installed):
                diffs.append(f"installed differs: {key}: pip {a.installed}, pipfresh {b.installed}")
    return diffs


def record(
    pip: ToolResult,
    fresh: ToolResult | None,
    diffs: list[str] | None,
    *,
    interp: Path,
    isolated: bool,
    argv: list[str],
) -> None:
    """Append pip's list (and pipfresh's verdict, when it ran) to RESULTS.md."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = "isolated: PyPI only" if isolated else "machine pip config"
    lines = [
        f"\n## Correctness: pip list --outdated vs pipfresh ({now}, {mode})\n",
        f"Command: `.venv/bin/python benchmarks/{shlex.join(argv)}`  ",
        f"pip: `{tool_version([dev_bin('pip'), '--version'], isolated_env())}`  ",
        f"Target: `{interp}`; pip ran {pip.seconds:.1f} s, exit {pip.returncode}, "
        f"{len(pip.entries)} outdated, {pip.warnings} warning lines on stderr.  ",
    ]
    if fresh is None:
        lines.append("pipfresh: not run (--pip-only).\n")
    elif fresh.failure:
        lines.append(f"pipfresh: failed: {fresh.failure.splitlines()[0]}\n")
    else:
        lines.append(
            f"pipfresh: ran {fresh.seconds:.1f} s, exit {fresh.returncode}, "
            f"{len(fresh.entries)} outdated, {len(fresh.errors)} errors, "
            f"{fresh.warnings} warning lines on stderr; **{len(diffs or [])} differences**.\n"
        )
        lines += [f"- {d}" for d in diffs or []]
        lines.append("")
    lines += ["| Package | Installed | Latest (pip) |", "| --- | --- | --- |"]
    for key in sorted(pip.entries):
        e = pip.entries[key]
        lines.append(f"| {key} | {e.installed} | {e.latest} |")
    with RESULTS_FILE.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"appended to {RESULTS_FILE}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--python", default=str(DEFAULT_VENV), help="target venv or interpreter")
    parser.add_argument(
        "--isolated-pip", action="store_true", help="ignore the machine's pip config; PyPI only"
    )
    parser.add_argument(
        "--pip-only", action="store_true", help="run only pip (until pipfresh exists)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="per tool run, seconds")
    parser.add_argument(
        "--pipfresh-arg", action="append", default=[], help="extra argument for pipfresh"
    )
    parser.add_argument(
        "--record", action="store_true", help="append the outcome and pip's list to RESULTS.md"
    )
    args = parser.parse_args()
    interp = resolve_target(args.python)
    out_dir = WORK_DIR / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    mode = "isolated" if args.isolated_pip else "machine"

    pip = run_pip(interp, args.isolated_pip, args.timeout)
    print(
        f"pip:      {len(pip.entries)} outdated in {pip.seconds:.1f} s (exit {pip.returncode}, "
        f"{pip.stderr_lines} stderr lines, {pip.warnings} warnings)"
    )
    if pip.failure:
        print(f"pip failed: {pip.failure}")
        return 2
    _save(out_dir / f"pip-{mode}.json", pip)
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]]
    if args.pip_only:
        if args.record:
            record(pip, None, None, interp=interp, isolated=args.isolated_pip, argv=argv)
        for key in sorted(pip.entries):
            e = pip.entries[key]
            print(f"  {key:28} {e.installed!s:14} -> {e.latest}")
        return 0

    fresh = run_pipfresh(interp, args.isolated_pip, args.timeout, args.pipfresh_arg)
    print(
        f"pipfresh: {len(fresh.entries)} outdated in {fresh.seconds:.1f} s "
        f"(exit {fresh.returncode}, {fresh.stderr_lines} stderr lines, "
        f"{fresh.warnings} warnings, {len(fresh.errors)} errors)"
    )
    if fresh.failure:
        print(f"pipfresh failed: {fresh.failure}")
        if args.record:
            record(pip, fresh, None, interp=interp, isolated=args.isolated_pip, argv=argv)
        return 2
    _save(out_dir / f"pipfresh-{mode}.json", fresh)
    for err in fresh.errors:
        print(f"pipfresh error: {err}")
    diffs = compare(pip, fresh)
    for d in diffs:
        print(d)
    print(f"{len(diffs)} differences ({mode} config, target {interp})")
    if args.record:
        record(pip, fresh, diffs, interp=interp, isolated=args.isolated_pip, argv=argv)
    return 1 if diffs else 0


def _save(path: Path, res: ToolResult) -> None:
    data = {
        "cmd": res.cmd,
        "seconds": round(res.seconds, 3),
        "returncode": res.returncode,
        "outdated": {k: [e.name, e.installed, e.latest] for k, e in sorted(res.entries.items())},
        "errors": res.errors,
    }
    path.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
