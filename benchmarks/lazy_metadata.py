#!/usr/bin/env python3
"""Wheel METADATA by HTTP range requests (pipfresh.index.lazywheel) vs whole downloads.

    .venv/bin/python benchmarks/lazy_metadata.py                 # all three parts
    .venv/bin/python benchmarks/lazy_metadata.py --skip-update   # without part 3

1. Sweep: the newest cp311 manylinux x86_64 (or pure) wheel of every old-pins project
   plus a few big ones, read by ranges with each (first suffix, lead) pair; requests,
   bytes, wall time (all wheels at once, 16 in flight, a fresh client per run, the
   pairs interleaved over the rounds).
2. The same for ~20 wheels, small and big, by ranges (the defaults) and by whole
   downloads; the texts must be equal. Requests per big wheel.
3. `pipfresh update --dry-run` on the old-pins venv (benchmarks/make_venv.py), as
   shipped and with the range path switched off (the whole-download path of before).

PyPI only, isolated from this machine's pip configuration. Prints markdown; with
--record appends it to RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    DEFAULT_VENV,
    PYPI_SIMPLE,
    RESULTS_FILE,
    dev_bin,
    isolated_env,
    read_pins,
)

from pipfresh.index import lazywheel
from pipfresh.index.client import IndexClient
from pipfresh.models import IndexFile
from pipfresh.pipconfig import CliIndexOptions, load_index_config
from pipfresh.planning import metadata_from_wheel

BIG = ("torch", "tensorflow", "transformers", "jax", "polars", "opencv-python")
COMPARE = (
    # small, pure
    "six", "idna", "click", "packaging", "requests", "attrs", "urllib3", "certifi",
    "typing-extensions", "pyyaml",
    # big, or with large central directories
    "numpy", "scipy", "pandas", "botocore", "matplotlib", "scikit-learn", "pyarrow",
    "sympy", "cryptography", "grpcio",
)  # fmt: skip
SUFFIXES = (16, 32, 64, 128, 256)  # KiB
LEADS = (0, 64, 128)  # KiB
KIB = 1024


def spread(seconds: list[float]) -> str:
    """Median, then min-max: two table cells."""
    return f"{statistics.median(seconds):.2f} | {min(seconds):.2f}-{max(seconds):.2f}"


@dataclass
class Tally:
    requests: int = 0
    received: int = 0
    per_wheel: dict[str, int] = field(default_factory=dict)


def client() -> IndexClient:
    config = load_index_config(
        CliIndexOptions(index_url=PYPI_SIMPLE, isolated=True, timeout=30),
        {"PIP_CONFIG_FILE": os.devnull},
        cwd=Path.cwd(),
    )
    return IndexClient(config, concurrency=16, user_agent="pipfresh-benchmark")


def usable(filename: str) -> bool:
    if filename.endswith("-none-any.whl"):
        return True
    native = "cp311-cp311" in filename or "abi3" in filename
    return native and "manylinux" in filename and filename.endswith("x86_64.whl")


async def newest_wheels(projects: Sequence[str]) -> dict[str, IndexFile]:
    async with client() as index:
        pages = await asyncio.gather(*(index.fetch_project(p) for p in projects))
    chosen: dict[str, IndexFile] = {}
    for project, page in zip(projects, pages, strict=True):
        wheels = [f for f in page.files if usable(f.filename) and not f.is_yanked]
        if wheels:
            chosen[project] = max(wheels, key=lambda f: f.upload_time or "")
    return chosen


async def by_ranges(
    wheels: dict[str, IndexFile], suffix: int, lead: int
) -> tuple[float, Tally, dict[str, str]]:
    tally = Tally()
    texts: dict[str, str] = {}
    async with client() as index:

        async def one(project: str, wheel: IndexFile) -> None:
            async def fetch(start: int, end: int | None) -> lazywheel.Chunk | None:
                chunk = await index.fetch_range(wheel.url, start, end, project=project)
                tally.requests += 1
                tally.per_wheel[project] = tally.per_wheel.get(project, 0) + 1
                tally.received += len(chunk.data) if chunk else 0
                return chunk

            found = await lazywheel.fetch_metadata(fetch, suffix=suffix, lead=lead)
            assert found is not None, project
            texts[project] = found.text

        started = time.perf_counter()
        await asyncio.gather(*(one(p, w) for p, w in wheels.items()))
        return time.perf_counter() - started, tally, texts


async def by_download(wheels: dict[str, IndexFile]) -> tuple[float, Tally, dict[str, str]]:
    tally = Tally()
    texts: dict[str, str] = {}
    async with client() as index:

        async def one(project: str, wheel: IndexFile) -> None:
            body = await index.download(wheel.url, project=project, sha256=wheel.sha256)
            tally.requests += 1
            tally.received += len(body)
            texts[project] = metadata_from_wheel(body)

        started = time.perf_counter()
        await asyncio.gather(*(one(p, w) for p, w in wheels.items()))
        return time.perf_counter() - started, tally, texts


def geometry(body: bytes) -> tuple[int, int]:
    """(central directory bytes, METADATA offset from the end) of a whole wheel."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        (info,) = [
            i
            for i in archive.infolist()
            if i.filename.count("/") == 1 and i.filename.endswith(".dist-info/METADATA")
        ]
        return len(body) - archive.start_dir, len(body) - info.header_offset


def sweep(wheels: dict[str, IndexFile], rounds: int) -> list[str]:
    pairs = [(suffix, lead) for suffix in SUFFIXES for lead in LEADS]
    times: dict[tuple[int, int], list[float]] = {p: [] for p in pairs}
    tallies: dict[tuple[int, int], Tally] = {}
    for _ in range(rounds):
        for pair in pairs:
            seconds, tally, _texts = asyncio.run(by_ranges(wheels, pair[0] * KIB, pair[1] * KIB))
            times[pair].append(seconds)
            tallies[pair] = tally
    lines = [
        f"Part 1: {len(wheels)} wheels (the newest of each old-pins project, plus "
        f"{', '.join(BIG)}), all at once, 16 in flight, {rounds} rounds.",
        "",
        "| First suffix KiB | Lead KiB | 1 req | 2 req | 3 req | 4 req | Requests | MB received"
        " | Median wall s | Min-max s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for pair in pairs:
        tally, spent = tallies[pair], times[pair]
        counts = [sum(1 for n in tally.per_wheel.values() if n == k) for k in (1, 2, 3, 4)]
        mark = " **(default)**" if pair == (lazywheel.SUFFIX // KIB, lazywheel.LEAD // KIB) else ""
        lines.append(
            f"| {pair[0]}{mark} | {pair[1]} | {' | '.join(map(str, counts))} | {tally.requests}"
            f" | {tally.received / 1e6:.1f} | {spread(spent)} |"
        )
    return lines


def compare(wheels: dict[str, IndexFile], rounds: int) -> list[str]:
    range_times: list[float] = []
    full_times: list[float] = []
    for _ in range(rounds):
        seconds, tally, texts = asyncio.run(by_ranges(wheels, lazywheel.SUFFIX, lazywheel.LEAD))
        range_times.append(seconds)
        full_seconds, full_tally, full_texts = asyncio.run(by_download(wheels))
        full_times.append(full_seconds)
        if texts != full_texts:
            differ = sorted(p for p in texts if texts[p] != full_texts[p])
            raise SystemExit(f"texts differ: {differ}")
    lines = [
        f"Part 2: {len(wheels)} wheels, ranges ({lazywheel.SUFFIX // KIB} KiB suffix,"
        f" {lazywheel.LEAD // KIB} KiB lead) vs whole downloads, {rounds} rounds interleaved;"
        " the METADATA texts were equal every time.",
        "",
        "| Method | Requests | MB received | Median wall s | Min-max s |",
        "| --- | --- | --- | --- | --- |",
        f"| ranges | {tally.requests} | {tally.received / 1e6:.1f} | {spread(range_times)} |",
        f"| whole wheels | {full_tally.requests} | {full_tally.received / 1e6:.1f}"
        f" | {spread(full_times)} |",
        "",
        "Requests per wheel (ranges):",
        "",
        "| Wheel | MB | Central directory KiB | METADATA from the end KiB | Requests |",
        "| --- | --- | --- | --- | --- |",
    ]
    bodies = asyncio.run(download_bodies(wheels))
    for project, wheel in wheels.items():
        directory, metadata = geometry(bodies[project])
        lines.append(
            f"| {wheel.filename} | {len(bodies[project]) / 1e6:.2f} | {directory / KIB:.1f}"
            f" | {metadata / KIB:.1f} | {tally.per_wheel[project]} |"
        )
    return lines


async def download_bodies(wheels: dict[str, IndexFile]) -> dict[str, bytes]:
    async with client() as index:
        bodies = await asyncio.gather(
            *(index.download(w.url, project=p, sha256=w.sha256) for p, w in wheels.items())
        )
    return dict(zip(wheels, bodies, strict=True))


NO_RANGES = """
import sys
from pipfresh.index import lazywheel

async def no_ranges(*args, **kwargs):
    return None

lazywheel.fetch_metadata = no_ranges
from pipfresh.cli import main
sys.argv[0] = "pipfresh"
sys.exit(main())
"""


def dry_runs(venv: Path, rounds: int) -> list[str]:
    python = venv / "bin" / "python"
    if not python.exists():
        return [f"Part 3 skipped: no old-pins venv at {venv} (benchmarks/make_venv.py)."]
    args = ["update", "--dry-run", "--python", str(python), "--index-url", PYPI_SIMPLE]
    commands = {
        "ranges (now)": [dev_bin("pipfresh"), *args],
        "whole wheels (before)": [sys.executable, "-c", NO_RANGES, *args],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(rounds):
        for label, command in commands.items():
            started = time.perf_counter()
            done = subprocess.run(
                command,
                env=isolated_env(),
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            times[label].append(time.perf_counter() - started)
            if done.returncode not in (0, 1):
                raise SystemExit(f"{label}: exit {done.returncode}\n{done.stderr[-2000:]}")
    lines = [
        f"Part 3: `pipfresh update --dry-run` on the old-pins venv, {rounds} rounds interleaved"
        " (page cache warm after the first run; planning always fetches pages and metadata).",
        "",
        "| Metadata from | Median wall s | Min-max s |",
        "| --- | --- | --- |",
    ]
    for label, spent in times.items():
        lines.append(f"| {label} | {spread(spent)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-update", action="store_true")
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    options = parser.parse_args()

    projects = [name for name, _ in read_pins()] + list(BIG)
    wheels = asyncio.run(newest_wheels(projects))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Wheel METADATA by range requests ({stamp})",
        "",
        f"Command: `{' '.join([Path(sys.executable).as_posix(), *sys.argv])}`  ",
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; `{PYPI_SIMPLE}`,"
        " files from files.pythonhosted.org (no PEP 658 metadata on this path).",
        "",
    ]
    if not options.skip_sweep:
        lines += [*sweep(wheels, options.rounds), ""]
    lines += [*compare({p: wheels[p] for p in COMPARE if p in wheels}, options.rounds), ""]
    if not options.skip_update:
        lines += [*dry_runs(options.venv, options.rounds), ""]
    text = "\n".join(lines)
    print(text)
    if options.record:
        with RESULTS_FILE.open("a", encoding="utf-8") as results:
            results.write("\n" + text)


if __name__ == "__main__":
    main()
