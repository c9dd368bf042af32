#!/usr/bin/env python3
"""Issue 17: a cold scan on one core and on every core, beside uv and the fetch floor.

    .venv/bin/python benchmarks/scan_cores.py --runs 7                    # old-pins venv, PyPI
    .venv/bin/python benchmarks/scan_cores.py --synthetic 1000 --runs 5   # local index
    .venv/bin/python benchmarks/scan_cores.py --runs 7 --baseline /work/main/src  # + main's scan

Variants, each a fresh process, interleaved round by round (order rotated each round):

* ``pipfresh-1``: a cold scan (empty cache) forced into one process (``PIPFRESH_WORKERS=1``);
* ``pipfresh-auto``: a cold scan as users get it (one worker per extra core);
* ``pipfresh-warm``: a scan answered from a cache filled by an untimed run just before;
* ``uv-cold``: ``uv pip list --outdated`` on the same venv with an empty cache;
* ``floor``: an interpreter with only aiohttp and msgspec fetching every page
  (16 connections) and decoding only the filenames (benchmarks/floor.py's script);
* with ``--concurrency 24,32``: ``pipfresh-c24``, ``pipfresh-c32``, cold scans as users
  get them but with ``--concurrency N`` (to choose the default bound by measurement);
* with ``--baseline SRC``: ``base-cold`` and ``base-warm``, the same scans run from
  another source tree (e.g. the main branch's ``src``), to show "no slower than today".

Per run: wall time; user+sys CPU of the whole process tree (``os.wait4``: the child's
own plus every descendant it reaped); the peak of the summed RSS of every process of
the tree, sampled every 5 ms from /proc (an upper bound: pages a fork shares
copy-on-write are counted once per process); and the largest single process's peak
(``ru_maxrss``). The table gives medians (min-max for time) and ratios to uv-cold.
Nothing is written to RESULTS.md: the output is meant to be pasted with its command.

pipfresh runs from its benchmark venv (benchmarks/.work/pfvenv, installed by run.py
as users get it) unless ``--from-src``, which runs this work tree's ``src`` with the
harness's own interpreter (quicker to iterate; compiled bytecode is cached either way).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    DEFAULT_VENV,
    PINS_FILE,
    PYPI_SIMPLE,
    REPO_DIR,
    WORK_DIR,
    canonical,
    dev_bin,
    read_pins,
)
from floor import FLOOR_SCRIPT
from run import install_pipfresh
from synthetic import SYNTH_DIR, Server, check_target, make_target_venv, project_name, tool_env

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Sample:
    seconds: float
    cpu: float  # user + sys of the tree, seconds
    tree_rss_mb: float
    max_rss_mb: float
    outdated: int | None


@dataclass
class Variant:
    name: str
    build: Callable[[Path], tuple[list[str], dict[str, str]]]
    warm: bool = False
    count: Callable[[str], int | None] = lambda _text: None
    samples: list[Sample] = field(default_factory=list)
    cache: Path | None = None
    failure: str | None = None


def _tree(root: int) -> list[int]:
    """``root`` and its descendants now (children of every thread)."""
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        with contextlib.suppress(OSError, ValueError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    stack.extend(int(x) for x in fh.read().split())
    return found


def _tree_rss(root: int) -> int:
    total = 0
    for pid in _tree(root):
        with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{pid}/statm") as fh:
            total += int(fh.read().split()[1]) * PAGE_BYTES
    return total


def timed(cmd: list[str], env: dict[str, str], cwd: Path, out: Path) -> tuple[Sample, int, str]:
    """Run ``cmd`` in its own session; (sample, exit code, stderr tail)."""
    peak = 0
    done = threading.Event()
    with out.open("wb") as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.005):
                peak = max(peak, _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        killer = threading.Timer(300, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            done.set()
            sampler.join()
        seconds = time.perf_counter() - started
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in its session
        stderr.seek(0)
        tail = stderr.read().decode(errors="replace").strip().splitlines()[-5:]
    code = os.waitstatus_to_exitcode(status)
    result = Sample(
        seconds=seconds,
        cpu=usage.ru_utime + usage.ru_stime,
        tree_rss_mb=peak / 2**20,
        max_rss_mb=usage.ru_maxrss / 1024,
        outdated=None,
    )
    return result, code, "\n".join(tail)


def count_pipfresh(text: str) -> int | None:
    document = json.loads(text)
    return sum(1 for p in document["packages"] if p.get("latest") != p.get("installed"))


def count_uv(text: str) -> int | None:
    return len(json.loads(text))


def make_variants(
    interp: Path,
    index_url: str,
    names: list[str],
    *,
    pipfresh: list[str],
    baseline: list[str] | None,
    keep: Path,
    concurrency: list[int] = [],  # noqa: B006 - read only
) -> list[Variant]:
    uv = dev_bin("uv")

    def scan(
        prefix: list[str], workers: str | None, bound: int | None = None
    ) -> Callable[[Path], tuple[list[str], dict]]:
        def build(cache: Path) -> tuple[list[str], dict[str, str]]:
            cmd = [*prefix, "--python", str(interp), "--format", "json", "--isolated"]
            cmd += ["--index-url", index_url, "--cache-dir", str(cache)]
            if bound is not None:
                cmd += ["--concurrency", str(bound)]
            extra = {"PIPFRESH_CACHE_DIR": str(cache)}
            if workers is not None:
                extra["PIPFRESH_WORKERS"] = workers
            return cmd, tool_env(extra)

        return build

    def uv_cold(cache: Path) -> tuple[list[str], dict[str, str]]:
        cmd = [uv, "pip", "list", "--outdated", "--format", "json", "--no-config"]
        cmd += ["--python", str(interp), "--index-url", index_url, "--cache-dir", str(cache)]
        return cmd, tool_env({"UV_CACHE_DIR": str(cache)})

    def floor(cache: Path) -> tuple[list[str], dict[str, str]]:
        del cache
        python = pipfresh[0] if pipfresh[0].endswith("python") else sys.executable
        return [python, "-c", FLOOR_SCRIPT, index_url, *names], tool_env()

    variants = [
        Variant("pipfresh-1", scan(pipfresh, "1"), count=count_pipfresh),
        Variant("pipfresh-auto", scan(pipfresh, None), count=count_pipfresh),
        Variant("pipfresh-warm", scan(pipfresh, None), warm=True, count=count_pipfresh),
        Variant("uv-cold", uv_cold, count=count_uv),
        Variant("floor", floor),
    ]
    variants += [
        Variant(f"pipfresh-c{n}", scan(pipfresh, None, n), count=count_pipfresh)
        for n in concurrency
    ]
    if baseline is not None:
        variants += [
            Variant("base-cold", scan(baseline, None), count=count_pipfresh),
            Variant("base-warm", scan(baseline, None), warm=True, count=count_pipfresh),
        ]
    for v in variants:
        if v.warm:
            v.cache = keep / v.name
    return variants


def run_once(v: Variant, scratch: Path, *, record: bool) -> None:
    cache = v.cache if v.cache is not None else Path(tempfile.mkdtemp(prefix=v.name, dir=scratch))
    cmd, env = v.build(cache)
    out = scratch / f"{v.name}.out"
    try:
        result, code, tail = timed(cmd, env, scratch, out)
    finally:
        if v.cache is None:
            shutil.rmtree(cache, ignore_errors=True)
    if code not in (0, 1):
        v.failure = f"exit {code}: {tail}"
        print(f"  {v.name}: FAILED, skipped from now on: {v.failure}", flush=True)
        return
    try:
        result.outdated = v.count(out.read_text())
    except (ValueError, KeyError, TypeError) as exc:
        v.failure = f"unusable output: {exc}"
        return
    if record:
        v.samples.append(result)
    print(
        f"  {v.name:14} {'run' if record else 'warm-up':7} {result.seconds:6.2f} s "
        f"cpu {result.cpu:5.2f} s  tree RSS {result.tree_rss_mb:5.0f} MB  "
        f"largest {result.max_rss_mb:4.0f} MB  outdated {result.outdated}",
        flush=True,
    )


def run_rounds(variants: list[Variant], scratch: Path, runs: int) -> None:
    """Warm the warm variants' caches (untimed), then ``runs`` rounds of every variant,
    the order rotated each round."""
    for v in variants:
        if v.warm:
            if v.cache is None:
                v.cache = scratch / v.name
            run_once(v, scratch, record=False)
    for rnd in range(runs):
        print(f"round {rnd + 1}/{runs}", flush=True)
        k = rnd % len(variants)
        for v in variants[k:] + variants[:k]:
            if v.failure is None:
                run_once(v, scratch, record=True)


def table(variants: list[Variant]) -> list[str]:
    by_name = {v.name: v for v in variants}
    uv = by_name.get("uv-cold")
    uv_median = statistics.median(s.seconds for s in uv.samples) if uv and uv.samples else None
    rows = [
        "| Variant | Runs | Median s | Min-max s | / uv-cold | CPU user+sys s "
        "| Peak RSS, all processes MB | Largest process MB | Outdated |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in variants:
        if not v.samples:
            rows.append(f"| {v.name} | 0 | - | - | - | - | - | - | {v.failure or ''} |")
            continue
        secs = [s.seconds for s in v.samples]
        median = statistics.median(secs)
        ratio = f"{median / uv_median:.2f}x" if uv_median else "-"
        outdated = {s.outdated for s in v.samples}
        rows.append(
            f"| {v.name} | {len(secs)} | {median:.2f} | {min(secs):.2f}-{max(secs):.2f} | "
            f"{ratio} | {statistics.median(s.cpu for s in v.samples):.2f} | "
            f"{statistics.median(s.tree_rss_mb for s in v.samples):.0f} / "
            f"{max(s.tree_rss_mb for s in v.samples):.0f} | "
            f"{statistics.median(s.max_rss_mb for s in v.samples):.0f} | "
            f"{', '.join(str(x) for x in sorted(outdated, key=str))} |"
        )
    return rows


def _bounds(text: str) -> list[int]:
    try:
        bounds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not whole numbers: {text!r}") from None
    if any(not 1 <= n <= 256 for n in bounds):
        raise argparse.ArgumentTypeError(f"each bound must be 1-256: {text!r}")
    return bounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the old-pins venv")
    parser.add_argument(
        "--synthetic", type=int, metavar="N", help="a local index of N projects instead of PyPI"
    )
    parser.add_argument("--latency-ms", type=float, default=30.0, help="synthetic only")
    parser.add_argument("--from-src", action="store_true", help="run this tree's src directly")
    parser.add_argument("--baseline", type=Path, help="another pipfresh source tree (its src)")
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument(
        "--concurrency",
        type=_bounds,
        default=[],
        help="comma-separated request bounds: one more cold pipfresh variant each (pipfresh-cN)",
    )
    args = parser.parse_args()

    if args.from_src:
        pipfresh = [sys.executable, "-m", "pipfresh"]
        os.environ["PYTHONPATH"] = str(REPO_DIR / "src")
    else:
        exe = install_pipfresh()
        pipfresh = [str(Path(exe).with_name("python")), "-m", "pipfresh"]
    baseline = None
    if args.baseline is not None:
        # The dev venv has the dependencies; PYTHONPATH puts the other tree first.
        where_from = f"PYTHONPATH={args.baseline.resolve()}"
        baseline = ["env", where_from, sys.executable, "-m", "pipfresh"]
    load_start = os.getloadavg()
    server = None
    try:
        if args.synthetic:
            interp = make_target_venv(args.synthetic)
            problems = check_target(interp, args.synthetic)
            if problems:
                raise SystemExit("target venv check failed: " + "; ".join(problems))
            SYNTH_DIR.mkdir(parents=True, exist_ok=True)
            server = Server(
                args.synthetic,
                20261128,
                args.latency_ms,
                0,
                SYNTH_DIR / f"server-cores-{args.synthetic}.log",
                cache_headers=False,
            )
            server.wait_ready(timeout=120)
            index_url = f"{server.base}/simple"
            names = [project_name(i) for i in range(1, args.synthetic + 1)]
            where = f"synthetic index of {args.synthetic} projects, {args.latency_ms:g} ms/request"
        else:
            interp = args.venv / "bin" / "python"
            if not interp.exists():
                raise SystemExit(f"{interp} missing: run benchmarks/make_venv.py first")
            index_url = PYPI_SIMPLE
            names = sorted({canonical(n) for n, _ in read_pins(PINS_FILE)})
            where = f"old-pins venv ({interp}), {index_url}"
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="cores-", dir=WORK_DIR) as tmp:
            scratch = Path(tmp)
            variants = make_variants(
                interp,
                index_url,
                names,
                pipfresh=pipfresh,
                baseline=baseline,
                keep=scratch,
                concurrency=args.concurrency,
            )
            if args.only:
                wanted = {x.strip() for x in args.only.split(",")}
                variants = [v for v in variants if v.name in wanted]
            run_rounds(variants, scratch, args.runs)
    finally:
        if server is not None:
            server.stop()
    load_end = os.getloadavg()
    print()
    print(f"{where}; {args.runs} interleaved rounds; {len(os.sched_getaffinity(0))} cores;")
    print(
        "load average "
        + " ".join(f"{x:.2f}" for x in load_start)
        + " at start, "
        + " ".join(f"{x:.2f}" for x in load_end)
        + " at end"
    )
    print()
    print("\n".join(table(variants)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
