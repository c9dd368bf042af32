#!/usr/bin/env python3
"""Measure async HTTP clients fetching the PEP 691 JSON pages of old-pins.txt.

    benchmarks/.work/httpvenv/bin/python benchmarks/http_clients.py   # with h2 (see README)
    .venv/bin/python benchmarks/http_clients.py --rounds 3 --concurrency 10,20,50

For every project in benchmarks/old-pins.txt, GET https://pypi.org/simple/<name>/
with `Accept: application/vnd.pypi.simple.v1+json` and `Accept-Encoding: gzip`
using: aiohttp (one ClientSession, TCPConnector(limit=N)); httpx.AsyncClient over
HTTP/1.1 (Limits N); httpx over HTTP/2 when `h2` is importable. Requests in flight
are bounded by a semaphore of N, as pipfresh does. Rounds are interleaved (every
client and N once per round, order rotated). Reports median wall time, CPU time
of this process, body bytes, the Content-Encoding the server chose, the import
time of each client, and the distribution of page sizes. Appends a section
"HTTP client choice" to benchmarks/RESULTS.md unless --no-record.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from _common import PINS_FILE, PYPI_SIMPLE, RESULTS_FILE, WORK_DIR, canonical, read_pins

HEADERS = {
    "Accept": "application/vnd.pypi.simple.v1+json",
    "Accept-Encoding": "gzip",
    "User-Agent": "pipfresh-benchmark/0 (http_clients.py)",
}
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
ROUND_TIMEOUT = 300.0


@dataclass
class Page:
    name: str
    status: int
    size: int
    encoding: str
    http_version: str
    seconds: float


@dataclass
class Trial:
    client: str
    concurrency: int
    seconds: float
    cpu_seconds: float
    pages: list[Page] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


Fetcher = Callable[[Sequence[str], int, str], Awaitable[tuple[list[Page], list[str]]]]


async def _gather(
    names: Sequence[str],
    limit: int,
    one: Callable[[str], Awaitable[Page]],
) -> tuple[list[Page], list[str]]:
    sem = asyncio.Semaphore(limit)
    pages: list[Page] = []
    failures: list[str] = []

    async def task(name: str) -> None:
        async with sem:
            try:
                pages.append(await one(name))
            except Exception as exc:  # record and go on, like pipfresh
                failures.append(f"{name}: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(task(n) for n in names))
    return pages, failures


async def fetch_aiohttp(
    names: Sequence[str], limit: int, base: str
) -> tuple[list[Page], list[str]]:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=HEADERS, auto_decompress=True
    ) as session:

        async def one(name: str) -> Page:
            t0 = time.perf_counter()
            async with session.get(f"{base}/{name}/") as resp:
                body = await resp.read()
                return Page(
                    name,
                    resp.status,
                    len(body),
                    resp.headers.get("Content-Encoding", "identity"),
                    f"HTTP/{resp.version.major}.{resp.version.minor}" if resp.version else "?",
                    time.perf_counter() - t0,
                )

        return await _gather(names, limit, one)


def _httpx_fetcher(http2: bool) -> Fetcher:
    async def fetch(names: Sequence[str], limit: int, base: str) -> tuple[list[Page], list[str]]:
        import httpx

        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        async with httpx.AsyncClient(
            http1=not http2, http2=http2, limits=limits, timeout=timeout, headers=HEADERS
        ) as client:

            async def one(name: str) -> Page:
                t0 = time.perf_counter()
                resp = await client.get(f"{base}/{name}/")
                body = resp.content
                return Page(
                    name,
                    resp.status_code,
                    len(body),
                    resp.headers.get("Content-Encoding", "identity"),
                    resp.http_version,
                    time.perf_counter() - t0,
                )

            return await _gather(names, limit, one)

    return fetch


def available_clients() -> dict[str, Fetcher]:
    clients: dict[str, Fetcher] = {}
    if importlib.util.find_spec("aiohttp"):
        clients["aiohttp"] = fetch_aiohttp
    if importlib.util.find_spec("httpx"):
        clients["httpx-h1"] = _httpx_fetcher(http2=False)
        if importlib.util.find_spec("h2"):
            clients["httpx-h2"] = _httpx_fetcher(http2=True)
    return clients


def run_trial(client: str, fetch: Fetcher, names: Sequence[str], limit: int, base: str) -> Trial:
    c0, t0 = time.process_time(), time.perf_counter()
    try:
        pages, failures = asyncio.run(
            asyncio.wait_for(fetch(names, limit, base), timeout=ROUND_TIMEOUT)
        )
    except TimeoutError:
        pages, failures = [], [f"whole round timed out after {ROUND_TIMEOUT:.0f} s"]
    return Trial(client, limit, time.perf_counter() - t0, time.process_time() - c0, pages, failures)


def import_time(module: str, repeats: int) -> tuple[float, float]:
    """(median wall ms of `python -c 'import m'` minus `python -c pass`, -X importtime ms)."""

    def wall(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60, capture_output=True)
        return time.perf_counter() - t0

    base = [wall("pass") for _ in range(repeats)]
    mod = [wall(f"import {module}") for _ in range(repeats)]
    delta = (statistics.median(mod) - statistics.median(base)) * 1000
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    cumulative_us = 0
    for line in proc.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == module:
            cumulative_us = int(parts[1].strip())
    return delta, cumulative_us / 1000


def percentile(values: Sequence[int], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for dist in ("aiohttp", "httpx", "httpcore", "h2"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="10,20,50", help="comma list of N")
    parser.add_argument("--clients", default="", help="comma list (default: all available)")
    parser.add_argument("--index", default=PYPI_SIMPLE, help="simple index base URL")
    parser.add_argument("--import-repeats", type=int, default=7)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    limits = [int(x) for x in args.concurrency.split(",") if x.strip()]
    names = [canonical(n) for n, _ in read_pins(PINS_FILE)]
    clients = available_clients()
    if args.clients:
        wanted = [c.strip() for c in args.clients.split(",") if c.strip()]
        clients = {k: v for k, v in clients.items() if k in wanted}
    missing = [c for c in ("aiohttp", "httpx-h1", "httpx-h2") if c not in clients]
    print(f"{len(names)} projects from {PINS_FILE.name}; clients {', '.join(clients)}")
    if missing:
        print(f"not measured (not importable here or not asked for): {', '.join(missing)}")
    combos = [(c, n) for c in clients for n in limits]
    trials: list[Trial] = []
    for rnd in range(args.rounds):
        k = rnd % len(combos)
        for client, n in combos[k:] + combos[:k]:
            trial = run_trial(client, clients[client], names, n, args.index.rstrip("/"))
            trials.append(trial)
            size = sum(p.size for p in trial.pages)
            print(
                f"round {rnd + 1} {client:9} N={n:<3} {trial.seconds:6.2f} s wall "
                f"{trial.cpu_seconds:5.2f} s cpu {size / 1e6:7.1f} MB {len(trial.pages)} pages "
                f"{len(trial.failures)} failures",
                flush=True,
            )
            for f in trial.failures[:3]:
                print(f"    {f}")

    rows = [
        "| Client | N | Median wall s | Min-max s | Median CPU s | MB (bodies) | Pages ok "
        "| Content-Encoding | HTTP |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for client, n in combos:
        ts = [t for t in trials if t.client == client and t.concurrency == n]
        walls = [t.seconds for t in ts]
        cpus = [t.cpu_seconds for t in ts]
        ok = [sum(1 for p in t.pages if p.status == 200) for t in ts]
        mb = statistics.median(sum(p.size for p in t.pages) for t in ts) / 1e6
        enc = Counter(p.encoding for t in ts for p in t.pages)
        http = Counter(p.http_version for t in ts for p in t.pages)
        rows.append(
            f"| {client} | {n} | {statistics.median(walls):.2f} "
            f"| {min(walls):.2f}-{max(walls):.2f} "
            f"| {statistics.median(cpus):.2f} | {mb:.1f} | {min(ok)}/{len(names)} "
            f"| {', '.join(f'{k} x{v}' for k, v in enc.items())} | {', '.join(http)} |"
        )

    # Page sizes, from the first complete trial (sizes do not depend on the client).
    sizes: dict[str, int] = {}
    for t in trials:
        for p in t.pages:
            if p.status == 200:
                sizes.setdefault(p.name, p.size)
    vals = list(sizes.values())
    largest = sorted(sizes.items(), key=lambda kv: kv[1], reverse=True)[:10]
    size_lines = [
        f"- {len(vals)} pages, total {sum(vals) / 1e6:.1f} MB; "
        f"median {percentile(vals, 0.5) / 1e3:.0f} KB, "
        f"p90 {percentile(vals, 0.9) / 1e3:.0f} KB, p99 {percentile(vals, 0.99) / 1e3:.0f} KB, "
        f"max {max(vals) / 1e6:.2f} MB, min {min(vals) / 1e3:.1f} KB",
        "- Largest: " + ", ".join(f"{n} {s / 1e6:.2f} MB" for n, s in largest),
    ]

    imports = [
        "| Module | `python -c 'import m'` minus `python -c pass`, median ms "
        "| -X importtime cumulative ms |",
        "| --- | --- | --- |",
    ]
    for module in ("aiohttp", "httpx", "h2", "json", "asyncio", "ssl"):
        if importlib.util.find_spec(module) is None:
            continue
        delta, cum = import_time(module, args.import_repeats)
        imports.append(f"| {module} | {delta:.0f} | {cum:.0f} |")

    print("\n".join(["", *rows, "", "Page sizes:", *size_lines, "", *imports]))
    stamp = dt.datetime.now(dt.timezone.utc)
    raw: dict[str, Any] = {
        "started": stamp.isoformat(),
        "argv": sys.argv,
        "versions": versions(),
        "sizes": sizes,
        "trials": [
            {
                "client": t.client,
                "n": t.concurrency,
                "seconds": t.seconds,
                "cpu": t.cpu_seconds,
                "bytes": sum(p.size for p in t.pages),
                "failures": t.failures,
            }
            for t in trials
        ],
    }
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    raw_path = WORK_DIR / f"http-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    raw_path.write_text(json.dumps(raw, indent=1) + "\n")
    if not args.no_record:
        vers = ", ".join(f"{k} {v}" for k, v in versions().items())
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        cmd = shlex.join([sys.executable, *sys.argv])
        section = [
            f"\n## HTTP client choice ({stamp.strftime('%Y-%m-%d %H:%M UTC')})\n",
            f"Command: `{cmd}`  ",
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
            f"load average {load}; {vers}.  ",
            f"{len(names)} PEP 691 JSON pages from `{args.index}` (Accept-Encoding: gzip sent), "
            f"{args.rounds} interleaved rounds; requests in flight bounded by N.\n",
            *rows,
            "",
            "Page sizes (JSON, uncompressed bodies):\n",
            *size_lines,
            "",
            "Import time:\n",
            *imports,
        ]
        with RESULTS_FILE.open("a") as fh:
            fh.write("\n".join(section) + "\n")
        print(f"\nappended to {RESULTS_FILE}; raw data in {raw_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
