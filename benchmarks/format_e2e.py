#!/usr/bin/env python3
"""JSON or HTML? Fetch *and parse* every old-pins project page in each format.

    .venv/bin/python benchmarks/format_e2e.py --rounds 3

For each round and format (interleaved), one aiohttp session with 16 connections
fetches https://pypi.org/simple/<name>/ for the projects of old-pins.txt, with the
Accept header pipfresh would send for that format, and parses every body with
pipfresh's own parser (``pipfresh.index.parse.parse_project_page``) as it arrives.
Reports median wall time, CPU time of this process, bytes on the wire, and parse
CPU alone. Appends a section to RESULTS.md unless --no-record.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass

import aiohttp
from _common import PYPI_SIMPLE, append_result, canonical, read_pins

from pipfresh.index.parse import parse_project_page

ACCEPT = {
    "json": "application/vnd.pypi.simple.v1+json",
    "html": "application/vnd.pypi.simple.v1+html",
}
LIMIT = 16


@dataclass
class Trial:
    fmt: str
    wall: float
    cpu: float
    parse_cpu: float
    size: int
    files: int


async def fetch_all(fmt: str, names: list[str]) -> Trial:
    timeout = aiohttp.ClientTimeout(sock_connect=10, sock_read=30)
    connector = aiohttp.TCPConnector(limit=LIMIT, ttl_dns_cache=300)
    parse_cpu = 0.0
    size = files = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(name: str) -> None:
            nonlocal parse_cpu, size, files
            url = f"{PYPI_SIMPLE}/{name}/"
            async with session.get(url, headers={"Accept": ACCEPT[fmt]}) as response:
                body = await response.read()
                content_type = response.headers.get("Content-Type", "")
            started = time.process_time()
            page = parse_project_page(body, content_type.split(";")[0], url, name)
            parse_cpu += time.process_time() - started
            size += len(body)
            files += len(page.files)

        await asyncio.gather(*(one(n) for n in names))
    return Trial(
        fmt,
        time.perf_counter() - wall0,
        time.process_time() - cpu0,
        parse_cpu,
        size,
        files,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    names = [canonical(name) for name, _ in read_pins()]
    trials: dict[str, list[Trial]] = {"json": [], "html": []}
    for round_no in range(args.rounds):
        order = ["json", "html"] if round_no % 2 == 0 else ["html", "json"]
        for fmt in order:
            trial = asyncio.run(fetch_all(fmt, names))
            trials[fmt].append(trial)
            print(
                f"round {round_no + 1} {fmt}: wall {trial.wall:.2f} s, cpu {trial.cpu:.2f} s, "
                f"parse {trial.parse_cpu:.2f} s, {trial.size / 1e6:.1f} MB, {trial.files} files",
                flush=True,
            )
    rows = [
        "| Format | Median wall s | Median CPU s | Median parse CPU s | MB | Files |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for fmt, runs in trials.items():
        rows.append(
            f"| {fmt} | {statistics.median(t.wall for t in runs):.2f} "
            f"| {statistics.median(t.cpu for t in runs):.2f} "
            f"| {statistics.median(t.parse_cpu for t in runs):.2f} "
            f"| {runs[0].size / 1e6:.1f} | {runs[0].files} |"
        )
    table = "\n".join(rows)
    print(table)
    if not args.no_record:
        append_result(
            "Index format end to end: JSON vs HTML",
            f"{len(names)} projects of old-pins.txt from PyPI, {LIMIT} connections, "
            f"{args.rounds} rounds interleaved, parsed with pipfresh's parser.",
            table,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
