#!/usr/bin/env python3
"""Issue 15: ``pipfresh bump`` on a 150-line requirements file, beside the scan.

    .venv/bin/python benchmarks/bump.py --runs 7            # PyPI, appends to RESULTS.md
    .venv/bin/python benchmarks/bump.py --runs 3 --no-record

The file is 150 ``name==version`` pins: benchmarks/old-pins.txt, then the projects of
benchmarks/datasci-pins.txt it lacks, cut at 150. Variants, each a fresh process,
interleaved round by round (order rotated each round), all against the same index
(PyPI, with this machine's pip configuration off) and judged for the same Python (the
old-pins venv's interpreter, which the scan scans):

* ``bump-cold`` / ``scan-cold``: an empty cache folder each run;
* ``bump-warm`` / ``scan-warm``: one cache per variant, filled by an untimed run just
  before the rounds (a warm bump and a warm scan each read their own answers back).

Per run: wall time, user+sys CPU of the process tree, peak RSS (benchmarks/scan_cores.py
measures them). The table gives medians and min-max.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _common import (
    BENCH_DIR,
    DEFAULT_VENV,
    PINS_FILE,
    PYPI_SIMPLE,
    WORK_DIR,
    append_result,
    canonical,
    read_pins,
)
from run import install_pipfresh
from scan_cores import Variant, run_rounds
from synthetic import tool_env

LINES = 150


def requirements(path: Path) -> int:
    """Write the 150-pin file; how many pins it holds."""
    seen: set[str] = set()
    lines: list[str] = []
    for name, version in read_pins(PINS_FILE) + read_pins(BENCH_DIR / "datasci-pins.txt"):
        if canonical(name) not in seen and len(lines) < LINES:
            seen.add(canonical(name))
            lines.append(f"{name}=={version}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def count_bump(text: str) -> int | None:
    return sum(1 for pin in json.loads(text)["pins"] if pin.get("proposed"))


def count_scan(text: str) -> int | None:
    return len(json.loads(text)["packages"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the old-pins venv")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    interp = args.venv / "bin" / "python"
    if not interp.exists():
        raise SystemExit(f"{interp} missing: run benchmarks/make_venv.py first")
    exe = install_pipfresh()
    pipfresh = [str(Path(exe).with_name("python")), "-m", "pipfresh"]
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bump-", dir=WORK_DIR) as tmp:
        scratch = Path(tmp)
        reqs = scratch / "requirements.txt"
        pins = requirements(reqs)

        def command(*words: str) -> Callable[[Path], tuple[list[str], dict[str, str]]]:
            def build(cache: Path) -> tuple[list[str], dict[str, str]]:
                cmd = [*pipfresh, *words, "--python", str(interp), "--format", "json"]
                cmd += ["--isolated", "--index-url", PYPI_SIMPLE, "--cache-dir", str(cache)]
                return cmd, tool_env({"PIPFRESH_CACHE_DIR": str(cache)})

            return build

        variants = [
            Variant("bump-cold", command("bump", str(reqs)), count=count_bump),
            Variant("bump-warm", command("bump", str(reqs)), warm=True, count=count_bump),
            Variant("scan-cold", command("outdated"), count=count_scan),
            Variant("scan-warm", command("outdated"), warm=True, count=count_scan),
        ]
        run_rounds(variants, scratch, args.runs)
    load_end = os.getloadavg()
    rows = [
        "| Variant | Runs | Median s | Min-max s | CPU user+sys s | Peak RSS MB | Changes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in variants:
        if not v.samples:
            rows.append(f"| {v.name} | 0 | - | - | - | - | {v.failure or ''} |")
            continue
        secs = [s.seconds for s in v.samples]
        found = sorted({str(s.outdated) for s in v.samples})
        rows.append(
            f"| {v.name} | {len(secs)} | {statistics.median(secs):.2f} | "
            f"{min(secs):.2f}-{max(secs):.2f} | "
            f"{statistics.median(s.cpu for s in v.samples):.2f} | "
            f"{max(s.tree_rss_mb for s in v.samples):.0f} | {', '.join(found)} |"
        )
    load = (
        " ".join(f"{x:.2f}" for x in load_start)
        + " at start, "
        + " ".join(f"{x:.2f}" for x in load_end)
        + " at end"
    )
    description = (
        f"a {pins}-line requirements file of `name==version` pins (old-pins, then data-science "
        f"pins) and the old-pins venv ({interp}), both against {PYPI_SIMPLE} with pip's "
        f"configuration off, judged for that venv's Python; {args.runs} interleaved rounds; "
        f"load average {load}. 'Changes' is the pins bump would raise, or the outdated "
        "packages the scan lists."
    )
    table = "\n".join(rows)
    print(description)
    print(table)
    if not args.no_record:
        append_result(
            "pipfresh bump on a 150-line requirements file, beside the scan", description, table
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
