#!/usr/bin/env python3
"""How fast can a Python process fetch the old-pins pages at all? The floor under pipfresh.

    .venv/bin/python benchmarks/floor.py --runs 5

Times, each in a fresh process, interleaved round by round:

* ``python-floor``: an interpreter started with only aiohttp and msgspec imported,
  GETting every old-pins project's PEP 691 JSON page from PyPI (16 connections,
  as pipfresh) and decoding only the filenames: no target inspection, no
  selection, no output. Nothing a real tool can do in Python is cheaper.
* ``pycurl-floor``: the same with libcurl's multi interface (pycurl) instead of
  aiohttp, in a venv of its own (benchmarks/.work/curlvenv, made on first use):
  what a C HTTP engine under Python would allow;
* ``pipfresh-cold``: the real scan of the old-pins venv, no cache;
* ``uv-cold``: ``uv pip list --outdated`` on the same venv with an empty cache.

It reports the medians and the ratio of each to uv, and appends them to
benchmarks/RESULTS.md unless --no-record. pipfresh runs from its benchmark venv
(benchmarks/.work/pfvenv, installed by run.py as users get it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    PINS_FILE,
    PYPI_SIMPLE,
    WORK_DIR,
    append_result,
    canonical,
    dev_bin,
    isolated_env,
    read_pins,
)
from run import install_pipfresh

FLOOR_SCRIPT = r"""
import asyncio, sys
import aiohttp, msgspec

class File(msgspec.Struct):
    filename: str

class Page(msgspec.Struct):
    files: list[File]

decode = msgspec.json.Decoder(Page).decode
names = sys.argv[2:]

async def main():
    limit = asyncio.Semaphore(16)
    headers = {"Accept": "application/vnd.pypi.simple.v1+json"}
    count = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
        async def one(name):
            nonlocal count
            async with limit:
                async with session.get(f"{sys.argv[1]}/{name}/", headers=headers) as response:
                    body = await response.read()
            count += len(decode(body).files)
        await asyncio.gather(*(one(n) for n in names))
    print(count)

asyncio.run(main())
"""


CURL_SCRIPT = r"""
import io, sys
import msgspec, pycurl

class File(msgspec.Struct):
    filename: str

class Page(msgspec.Struct):
    files: list[File]

decode = msgspec.json.Decoder(Page).decode
multi = pycurl.CurlMulti()
multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, 16)
bodies = {}
for name in sys.argv[2:]:
    handle = pycurl.Curl()
    bodies[handle] = io.BytesIO()
    handle.setopt(pycurl.URL, f"{sys.argv[1]}/{name}/")
    handle.setopt(pycurl.HTTPHEADER, ["Accept: application/vnd.pypi.simple.v1+json"])
    handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
    handle.setopt(pycurl.WRITEDATA, bodies[handle])
    multi.add_handle(handle)
count = 0
while True:
    _, active = multi.perform()
    while True:
        queued, done, failed = multi.info_read()
        for handle in done:
            count += len(decode(bodies[handle].getvalue()).files)
            multi.remove_handle(handle)
        if failed:
            raise SystemExit(f"{len(failed)} transfers failed")
        if not queued:
            break
    if not active:
        break
    multi.select(1.0)
print(count)
"""

CURL_VENV = WORK_DIR / "curlvenv"
CURL_DEPS = ("pycurl>=7.45.3", "msgspec")


def curl_python() -> str:
    """A venv with pycurl and msgspec only (made once, from PyPI)."""
    python = CURL_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CURL_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--index-url", PYPI_SIMPLE, *CURL_DEPS],
            env=isolated_env(),
            check=True,
        )
    return str(python)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # uv and pipfresh may exit 1 when outdated
        raise SystemExit(f"{cmd[0]} failed ({done.returncode}): {done.stderr[-500:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=str(WORK_DIR / "oldvenv"), help="target venv")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    exe = install_pipfresh()
    pf_python = str(Path(exe).with_name("python"))
    names = sorted({canonical(n) for n, _ in read_pins(PINS_FILE)})
    target = Path(args.python)
    interp = str(target / "bin" / "python") if target.is_dir() else str(target)
    env = isolated_env()
    curl = curl_python()
    times: dict[str, list[float]] = {
        "python-floor": [],
        "pycurl-floor": [],
        "pipfresh-cold": [],
        "uv-cold": [],
    }
    for round_no in range(args.runs):
        with tempfile.TemporaryDirectory() as uv_cache, tempfile.TemporaryDirectory() as pf_cache:
            commands = {
                "python-floor": [pf_python, "-c", FLOOR_SCRIPT, PYPI_SIMPLE, *names],
                "pycurl-floor": [curl, "-c", CURL_SCRIPT, PYPI_SIMPLE, *names],
                "pipfresh-cold": [
                    *(exe, "--python", args.python, "--index-url", PYPI_SIMPLE),
                    *("--cache-dir", pf_cache, "--format", "json"),
                ],
                "uv-cold": [
                    *(dev_bin("uv"), "pip", "list", "--outdated", "--format", "json"),
                    *("--no-config", "--python", interp, "--index-url", PYPI_SIMPLE),
                    *("--cache-dir", uv_cache),
                ],
            }
            order = list(commands)
            shift = round_no % len(order)
            order = order[shift:] + order[:shift]
            for label in order:
                seconds = timed(commands[label], env)
                times[label].append(seconds)
                print(f"round {round_no + 1}: {label:14} {seconds:.2f} s", flush=True)
    uv = statistics.median(times["uv-cold"])
    rows = [
        "| Variant | Runs | Median s | Min-max s | / uv-cold |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, values in times.items():
        median = statistics.median(values)
        rows.append(
            f"| {label} | {len(values)} | {median:.2f} | {min(values):.2f}-{max(values):.2f} "
            f"| {median / uv:.2f}x |"
        )
    table = "\n".join(rows)
    print(table)
    if not args.no_record:
        append_result(
            "The floor of a Python scan: bare aiohttp + msgspec vs uv",
            f"fresh processes, interleaved rounds, PyPI only, {len(names)} old-pins projects. "
            "`python-floor` starts an interpreter, imports aiohttp and msgspec, fetches every "
            "page (16 connections) and decodes only the filenames: no inspection, selection "
            "or output; `pycurl-floor` does the same through libcurl's multi interface.",
            table,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
