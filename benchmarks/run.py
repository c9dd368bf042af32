#!/usr/bin/env python3
"""Time pipfresh, `pip list --outdated` and `uv pip list --outdated` side by side.

    .venv/bin/python benchmarks/run.py                    # 5 interleaved rounds, all variants
    .venv/bin/python benchmarks/run.py --runs 3 --variants pip,uv-cold,uv-warm

All tools target the same venv (default benchmarks/.work/oldvenv) and the same
index, https://pypi.org/simple only, with this machine's pip configuration
switched off (PIP_*/UV_* cleared, PIP_CONFIG_FILE=/dev/null, uv --no-config,
pip --isolated). Rounds are interleaved (every variant once per round, the order
rotated each round). Cold variants get a fresh, empty cache folder per run; warm
variants reuse one cache folder that an untimed warm-up run fills first.

Wall time is time.perf_counter() around the child; peak RSS is ru_maxrss from
os.wait4(), i.e. the largest resident set of any single process in the child's
tree (pip --python re-runs pip in the target interpreter: max, not sum).
A variant that fails (non-zero exit, timeout, unparsable output) is dropped from
the remaining rounds and its error recorded. Results: a table on stdout, a dated
section appended to benchmarks/RESULTS.md (unless --no-record), raw numbers in
benchmarks/.work/run-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _common import (
    DEFAULT_VENV,
    PYPI_SIMPLE,
    REPO_DIR,
    RESULTS_FILE,
    WORK_DIR,
    dev_bin,
    isolated_env,
    resolve_target,
    tool_version,
)

ALL_VARIANTS = ("pipfresh-cold", "pipfresh-warm", "pip", "uv-cold", "uv-warm")
OPTIONAL_VARIANTS = ("pip-warm",)


@dataclass
class Sample:
    seconds: float
    max_rss_mb: float
    returncode: int
    outdated: int | None
    errors: int | None


@dataclass
class Variant:
    name: str
    build: Callable[[Path | None], tuple[list[str], dict[str, str]]]
    warm: bool
    ok_codes: tuple[int, ...] = (0,)
    count: Callable[[str], tuple[int, int | None]] | None = None
    samples: list[Sample] = field(default_factory=list)
    failure: str | None = None
    cache: Path | None = None


def timed(
    cmd: list[str], env: dict[str, str], timeout: float, out: Path
) -> tuple[float, float, int, str]:
    """Run cmd; return (seconds, peak RSS MB, exit code, stderr tail)."""
    with out.open("wb") as stdout, tempfile.TemporaryFile() as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        tail = stderr.read().decode(errors="replace").strip().splitlines()[-8:]
    # ru_maxrss is in KiB on Linux
    return seconds, usage.ru_maxrss / 1024.0, proc.returncode, "\n".join(tail)


def count_json_list(text: str) -> tuple[int, int | None]:
    doc = json.loads(text)
    if not isinstance(doc, list):
        raise ValueError("expected a JSON list")
    return len(doc), None


def count_pipfresh(text: str) -> tuple[int, int | None]:
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise ValueError("expected a pipfresh version-1 JSON document")
    return len(doc.get("packages", [])), len(doc.get("errors", []))


def make_variants(
    interp: Path, index_url: str, pipfresh_args: list[str], keep: Path
) -> dict[str, Variant]:
    pip, uv = dev_bin("pip"), dev_bin("uv")
    exe = install_pipfresh()
    has_cache_dir = pipfresh_has_cache(exe)

    def pipfresh(cache: Path | None) -> tuple[list[str], dict[str, str]]:
        assert cache is not None
        cmd = [exe, "--python", str(interp), "--format", "json"]
        cmd += ["--index-url", index_url]
        if has_cache_dir:
            cmd += ["--cache-dir", str(cache)]
        cmd += pipfresh_args
        env = isolated_env({"PIPFRESH_CACHE_DIR": str(cache)})
        return cmd, env

    def pip_list(cache: Path | None) -> tuple[list[str], dict[str, str]]:
        assert cache is not None
        cmd = [
            pip,
            "--python",
            str(interp),
            "list",
            "--outdated",
            "--format",
            "json",
            "--isolated",
            "--disable-pip-version-check",
            "--index-url",
            index_url,
            "--cache-dir",
            str(cache),
        ]
        return cmd, isolated_env()

    def uv_list(cache: Path | None) -> tuple[list[str], dict[str, str]]:
        assert cache is not None
        cmd = [
            uv,
            "pip",
            "list",
            "--outdated",
            "--format",
            "json",
            "--no-config",
            "--python",
            str(interp),
            "--index-url",
            index_url,
            "--cache-dir",
            str(cache),
        ]
        return cmd, isolated_env({"UV_CACHE_DIR": str(cache)})

    variants = {
        "pipfresh-cold": Variant("pipfresh-cold", pipfresh, False, (0, 3), count_pipfresh),
        "pipfresh-warm": Variant("pipfresh-warm", pipfresh, True, (0, 3), count_pipfresh),
        "pip": Variant("pip", pip_list, False, (0,), count_json_list),
        "pip-warm": Variant("pip-warm", pip_list, True, (0,), count_json_list),
        "uv-cold": Variant("uv-cold", uv_list, False, (0,), count_json_list),
        "uv-warm": Variant("uv-warm", uv_list, True, (0,), count_json_list),
    }
    for v in variants.values():
        if v.warm:
            v.cache = keep / v.name
    if not has_cache_dir:
        # Without a cache every pipfresh run is cold; cold runs still get an
        # empty PIPFRESH_CACHE_DIR, but a "warm" variant would measure nothing.
        variants["pipfresh-warm"].failure = "pipfresh has no --cache-dir option yet (no cache)"
    return variants


PIPFRESH_VENV = WORK_DIR / "pfvenv"


def install_pipfresh() -> str:
    """The work tree's pipfresh, installed (not editable) in its own venv, as users get it.

    A regular install compiles the modules to bytecode; running from ``src/`` would
    not on a machine with PYTHONDONTWRITEBYTECODE set, and would time the compiler.
    """
    python = PIPFRESH_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PIPFRESH_VENV)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--force-reinstall",
            "--no-deps",
            str(REPO_DIR),
        ],
        check=True,
        env=isolated_env(),
    )
    # Dependencies at their newest versions, from PyPI only.
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--index-url",
            "https://pypi.org/simple",
            str(REPO_DIR),
        ],
        check=True,
        env=isolated_env(),
    )
    return str(PIPFRESH_VENV / "bin" / "pipfresh")


def pipfresh_has_cache(exe: str) -> bool:
    """Whether this pipfresh's --help offers --cache-dir."""
    env = isolated_env()
    try:
        proc = subprocess.run(
            [exe, "--help"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--cache-dir" in proc.stdout


def run_once(v: Variant, scratch: Path, timeout: float, timed_run: bool) -> str | None:
    """Run one variant once; on failure set and return v.failure."""
    if v.warm:
        assert v.cache is not None
        cache = v.cache
    else:
        cache = Path(tempfile.mkdtemp(prefix=f"{v.name}-", dir=scratch))
    cmd, env = v.build(cache)
    out = scratch / f"{v.name}.out"
    try:
        seconds, rss, code, tail = timed(cmd, env, timeout, out)
    except OSError as exc:
        v.failure = f"could not start: {exc}"
        return v.failure
    finally:
        if not v.warm:
            shutil.rmtree(cache, ignore_errors=True)
    label = "warm-up" if not timed_run else "run"
    if code not in v.ok_codes:
        v.failure = f"{label}: exit {code}: {tail or '(no stderr)'}"
        return v.failure
    try:
        assert v.count is not None
        outdated, errors = v.count(out.read_text())
    except (ValueError, OSError) as exc:
        v.failure = f"{label}: unusable output ({exc}); stderr: {tail}"
        return v.failure
    if timed_run:
        v.samples.append(Sample(seconds, rss, code, outdated, errors))
    print(
        f"  {v.name:14} {label:7} {seconds:7.2f} s  {rss:6.0f} MB  exit {code}  outdated {outdated}"
        + (f"  errors {errors}" if errors else ""),
        flush=True,
    )
    return None


def summarise(variants: list[Variant]) -> list[str]:
    rows = [
        "| Variant | Runs | Median s | Min-max s | Peak RSS MB (median / max) "
        "| Outdated found | Note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in variants:
        if v.samples:
            t = [s.seconds for s in v.samples]
            r = [s.max_rss_mb for s in v.samples]
            found = sorted({s.outdated for s in v.samples if s.outdated is not None})
            errs = sorted({s.errors for s in v.samples if s.errors})
            note = f"errors reported: {errs}" if errs else ""
            if v.failure:
                note += f" later failed: {v.failure.splitlines()[0][:120]}"
            rows.append(
                f"| {v.name} | {len(t)} | {statistics.median(t):.2f} | {min(t):.2f}-{max(t):.2f} "
                f"| {statistics.median(r):.0f} / {max(r):.0f} "
                f"| {', '.join(map(str, found))} | {note} |"
            )
        else:
            why = (v.failure or "not run").replace("|", "/").replace("\n", " ")[:300]
            rows.append(f"| {v.name} | 0 | - | - | - | - | skipped: {why} |")
    return rows


def ratio_lines(by_name: dict[str, Variant]) -> list[str]:
    lines = []
    for a, b in (
        ("pipfresh-cold", "uv-cold"),
        ("pipfresh-warm", "uv-warm"),
        ("pipfresh-cold", "pip"),
        ("uv-cold", "pip"),
    ):
        va, vb = by_name.get(a), by_name.get(b)
        if va and vb and va.samples and vb.samples:
            ma = statistics.median(s.seconds for s in va.samples)
            mb = statistics.median(s.seconds for s in vb.samples)
            lines.append(f"- {a} / {b} (medians): {ma / mb:.2f}x")
    return lines


def machine_facts(interp: Path) -> list[str]:
    env = isolated_env()
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    target = tool_version([str(interp), "-c", "import sys; print(sys.version.split()[0])"], env)
    git = tool_version(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"], env)
    if git.startswith("unavailable"):
        git = "no commit yet"
    fresh = tool_version([str(PIPFRESH_VENV / "bin" / "pipfresh"), "--version"], env)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, "
        f"{platform.system()} {platform.release()}, load average at start {load}",
        f"- Harness Python {platform.python_version()} ({sys.executable}); "
        f"target Python {target} ({interp})",
        f"- pip: {tool_version([dev_bin('pip'), '--version'], env)}",
        f"- uv: {tool_version([dev_bin('uv'), '--version'], env)}",
        f"- pipfresh: {fresh} (work tree at git {git})",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--python", default=str(DEFAULT_VENV), help="target venv or interpreter")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per variant (min 3)")
    parser.add_argument(
        "--variants",
        default=",".join(ALL_VARIANTS),
        help=f"comma list from {', '.join(ALL_VARIANTS + OPTIONAL_VARIANTS)}",
    )
    parser.add_argument("--index-url", default=PYPI_SIMPLE)
    parser.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    parser.add_argument(
        "--pipfresh-arg", action="append", default=[], help="extra pipfresh argument"
    )
    parser.add_argument("--title", default="", help="text added to the RESULTS.md heading")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    interp = resolve_target(args.python)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = set(names) - set(ALL_VARIANTS + OPTIONAL_VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")

    stamp = dt.datetime.now(dt.timezone.utc)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    facts = machine_facts(interp)
    print("\n".join(facts))
    with tempfile.TemporaryDirectory(prefix="pipfresh-bench-", dir=WORK_DIR) as tmp:
        scratch = Path(tmp)
        all_variants = make_variants(interp, args.index_url, args.pipfresh_arg, scratch / "warm")
        chosen = [all_variants[n] for n in names]
        for v in chosen:
            if v.warm and v.failure is None:
                print(f"warming {v.name}", flush=True)
                run_once(v, scratch, args.timeout, timed_run=False)
        for rnd in range(args.runs):
            print(f"round {rnd + 1}/{args.runs}", flush=True)
            k = rnd % len(chosen)
            for v in chosen[k:] + chosen[:k]:
                if v.failure is not None:
                    continue
                failure = run_once(v, scratch, args.timeout, timed_run=True)
                if failure:
                    print(f"  {v.name}: FAILED, skipped from now on: {failure}", flush=True)

    by_name = {v.name: v for v in chosen}
    table = summarise(chosen)
    ratios = ratio_lines(by_name)
    print("\n".join(["", *table, "", *ratios]))
    end_load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    raw = {
        "started": stamp.isoformat(),
        "argv": sys.argv,
        "facts": facts,
        "variants": {
            v.name: {"samples": [asdict(s) for s in v.samples], "failure": v.failure}
            for v in chosen
        },
    }
    raw_path = WORK_DIR / f"run-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    raw_path.write_text(json.dumps(raw, indent=1) + "\n")
    if not args.no_record:
        cmd = shlex.join([".venv/bin/python", str(Path(sys.argv[0])), *sys.argv[1:]])
        title = f" — {args.title}" if args.title else ""
        section = [
            f"\n## Side-by-side timing, {stamp.strftime('%Y-%m-%d %H:%M UTC')}{title}\n",
            f"Command: `{cmd}`  ",
            f"Target venv: `{interp}`; index `{args.index_url}` only (machine pip config off); "
            f"{args.runs} interleaved rounds; load average at end {end_load}.\n",
            *facts,
            "",
            *table,
            "",
            *(ratios or ["- (no ratio: a variant is missing)"]),
        ]
        with RESULTS_FILE.open("a") as fh:
            fh.write("\n".join(section) + "\n")
        print(f"\nappended to {RESULTS_FILE}; raw samples in {raw_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
