#!/usr/bin/env python3
"""Does requesting the slowest pages first shorten the tail? pipfresh against itself.

    .venv/bin/python benchmarks/priority.py --n 200 --runs 5 --latency-ms 30 --concurrency 8

On the synthetic index (benchmarks/synthetic.py: PyPI's spread of page sizes, a few
pages of several MB), two variants of a cold pipfresh scan, interleaved:

* ``no history``: an empty cache folder each run, so requests go out in the order
  the installed distributions are read;
* ``largest first``: an empty cache folder holding only the previous run's page
  sizes and times (its statistics file): requests go out slowest first.

Reports median and min-max wall time per variant and appends them to RESULTS.md
unless --no-record.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import WORK_DIR, append_result, isolated_env
from run import install_pipfresh
from synthetic import Server, make_target_venv

from pipfresh.cache import STATS_FILE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mb-per-second",
        type=float,
        default=0.0,
        help="pace every page body at this rate, per connection (a slow link; 0: none)",
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    exe = install_pipfresh()
    python = make_target_venv(args.n)
    scratch = Path(tempfile.mkdtemp(prefix="priority-", dir=WORK_DIR))
    server = Server(
        args.n,
        args.seed,
        args.latency_ms,
        0,
        scratch / "server.log",
        cache_headers=False,
        bytes_per_second=args.mb_per_second * 1e6,
    )
    samples: dict[str, list[float]] = {"no history": [], "largest first": []}
    try:
        server.wait_ready(120)
        base = [
            exe,
            "--python",
            str(python),
            "--index-url",
            f"{server.base}/simple",
            "--format",
            "json",
            "--concurrency",
            str(args.concurrency),
        ]
        history = scratch / "history"
        warm_up = subprocess.run(
            [*base, "--cache-dir", str(history)],
            env=isolated_env(),
            capture_output=True,
            timeout=300,
            check=False,
        )
        if warm_up.returncode != 0:
            raise SystemExit(f"warm-up failed: {warm_up.stderr.decode()[-500:]}")
        for round_no in range(args.runs):
            order = list(samples) if round_no % 2 == 0 else list(reversed(samples))
            for variant in order:
                if variant == "no history":
                    cache = scratch / f"empty-{round_no}"
                    extra = ["--cache-dir", str(cache)]
                else:
                    # An empty cache but for the remembered page sizes and times.
                    cache = scratch / f"ordered-{round_no}"
                    cache.mkdir()
                    shutil.copy(history / STATS_FILE, cache / STATS_FILE)
                    extra = ["--cache-dir", str(cache)]
                started = time.perf_counter()
                done = subprocess.run(
                    [*base, *extra],
                    env=isolated_env(),
                    capture_output=True,
                    timeout=300,
                    check=False,
                )
                seconds = time.perf_counter() - started
                if done.returncode != 0:
                    raise SystemExit(f"{variant} failed: {done.stderr.decode()[-500:]}")
                samples[variant].append(seconds)
                print(f"round {round_no + 1} {variant}: {seconds:.2f} s", flush=True)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    rows = ["| Variant | Runs | Median s | Min-max s |", "| --- | --- | --- | --- |"]
    for variant, values in samples.items():
        rows.append(
            f"| {variant} | {len(values)} | {statistics.median(values):.2f} "
            f"| {min(values):.2f}-{max(values):.2f} |"
        )
    table = "\n".join(rows)
    print(table)
    if not args.no_record:
        paced = (
            f"page bodies paced at {args.mb_per_second:g} MB/s per connection, "
            if args.mb_per_second
            else ""
        )
        append_result(
            "Request prioritisation: slowest pages first",
            f"synthetic index of {args.n} projects, {args.latency_ms:g} ms added latency, "
            f"{paced}--concurrency {args.concurrency}, runs interleaved.",
            table,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
