#!/usr/bin/env python3
"""Synthetic-index benchmark: pipfresh, `pip list --outdated` and `uv pip list --outdated`
against a local index of N generated projects.

    .venv/bin/python benchmarks/synthetic.py run --n 200 --n 1000 --latency-ms 30 --runs 3 \\
        --throttle-rps 300
    .venv/bin/python benchmarks/synthetic.py serve --n 50 --port 8765      # the server alone
    .venv/bin/python benchmarks/synthetic.py venv --n 50                   # the target venv alone

``serve`` runs the index server (aiohttp.web, 127.0.0.1 only) in its own process, so
its CPU time is never charged to the tool being timed. It generates N projects
``synth-0001`` ... once at start and keeps every page as bytes, in both formats: PEP 691
JSON (api-version 1.1: PEP 700 ``versions``, ``size``, ``upload-time``) and PEP 503 HTML,
chosen by the request's ``Accept`` header. Page sizes follow the spread of the JSON pages
of 122 real PyPI projects (min 2.4 KB, median 82 KB, p90 1.68 MB, p99 4.73 MB, max
4.89 MB): the quantile function is interpolated log-linearly between those points, and
project i sits at quantile frac(seed-offset + i * golden ratio), so any first N projects
spread evenly over the distribution and a project's page does not depend on N. Every
project's newest release is a final version with a py3-none-any wheel and an sdist;
older releases carry cp39-cp313 manylinux/musllinux/macOS/Windows wheels, sdists,
pre-releases and a few yanked files. File URLs point to an unresolvable host: listing
is all ``list --outdated`` needs, and no tool downloads a file.

``--latency-ms`` adds an asyncio.sleep to every index request; ``--throttle-rps R``
answers 429 with ``Retry-After: 1`` once R requests were accepted within the last
second (a sliding window over accepted requests; refused ones do not count). Counters
(requests, statuses, formats, distinct projects answered, peak requests in flight) are
at ``GET /stats`` and reset by ``POST /stats/reset``; ``GET /manifest`` gives every
project's newest version and page sizes. Neither is counted.

``run`` builds a target venv per N (no real wheels: N ``synth_XXXX-1.0.dist-info``
folders written into a ``--without-pip`` venv), starts one server per configuration,
and times the tools interleaved (order rotated each round), like run.py: wall time
around the child, peak RSS from os.wait4(), and the server's counters per run. The
outdated list of every tool is checked: exactly N projects, each at the expected newest
version. Results go to stdout, a dated section of benchmarks/RESULTS.md (unless
--no-record) and benchmarks/.work/synthetic-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import RESULTS_FILE, WORK_DIR, canonical, dev_bin, isolated_env

SYNTH_DIR = WORK_DIR / "synthetic"
MAX_N = 9999
DEFAULT_SEED = 20261128
INSTALLED_VERSION = "1.0"

# (quantile, JSON page bytes) measured on the 122 projects of old-pins.txt.
SIZE_QUANTILES: tuple[tuple[float, float], ...] = (
    (0.0, 2.4e3),
    (0.5, 82e3),
    (0.9, 1.68e6),
    (0.99, 4.73e6),
    (1.0, 4.89e6),
)
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_TYPES = (JSON_V1, "application/vnd.pypi.simple.latest+json")
HTML_TYPES = (HTML_V1, "application/vnd.pypi.simple.latest+html", "text/html")

PYTHONS = ("cp39", "cp310", "cp311", "cp312", "cp313")
PLATFORMS = (
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_1_x86_64",
    "musllinux_1_2_aarch64",
    "macosx_10_9_x86_64",
    "macosx_11_0_arm64",
    "win_amd64",
    "win32",
)
FILES_HOST = "https://files.synthetic.invalid/packages"


# --------------------------------------------------------------------------- pages


def project_name(i: int) -> str:
    return f"synth-{i:04d}"


def target_size(i: int, seed: int) -> int:
    """JSON page size for project i: the spread's quantile at a golden-ratio point."""
    offset = random.Random(seed).random()
    u = (offset + i * GOLDEN) % 1.0
    for (u0, v0), (u1, v1) in itertools.pairwise(SIZE_QUANTILES):
        if u <= u1:
            t = (u - u0) / (u1 - u0)
            return round(math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0))))
    return round(SIZE_QUANTILES[-1][1])


@dataclass(frozen=True)
class Entry:
    filename: str
    url: str
    sha256: str
    metadata_sha256: str | None
    requires_python: str | None
    size: int
    upload_time: str
    yanked: str | None


@dataclass
class Page:
    name: str
    newest: str
    json_body: bytes
    html_body: bytes
    files: int
    releases: int


def _versions_backwards(rng: random.Random, major: int) -> Iterator[str]:
    """Strictly decreasing PEP 440 versions from a final ``major.minor.patch`` down."""
    minor, patch = rng.randint(0, 12), rng.randint(0, 6)
    while True:
        yield f"{major}.{minor}.{patch}"
        if patch == 0 and rng.random() < 0.35:
            yield f"{major}.{minor}.0rc1"
        if patch > 0:
            patch -= 1
        elif minor > 0:
            minor, patch = minor - 1, rng.randint(0, 9)
        elif major > 0:
            major, minor, patch = major - 1, rng.randint(0, 20), rng.randint(0, 9)
        else:
            return


def _release_files(
    rng: random.Random, dist: str, version: str, *, binary: bool, newest: bool, age: int
) -> list[tuple[str, str | None, int]]:
    """(filename, requires-python, size) of one release's files."""
    rp_choices = (">=3.7", ">=3.8", ">=3.9", None)
    requires = ">=3.8" if newest else rp_choices[min(age // 40, 3) if age < 160 else 3]
    files: list[tuple[str, str | None, int]] = []
    if newest or not binary:
        files.append((f"{dist}-{version}-py3-none-any.whl", requires, rng.randint(4_000, 900_000)))
    else:
        lo = min(rng.randint(0, 2) + age // 60, len(PYTHONS) - 1)
        pythons = PYTHONS[lo:]
        platforms = [p for p in PLATFORMS if rng.random() < 0.85] or [PLATFORMS[0]]
        for py in pythons:
            for plat in platforms:
                files.append(
                    (
                        f"{dist}-{version}-{py}-{py}-{plat}.whl",
                        requires,
                        rng.randint(200_000, 60_000_000),
                    )
                )
    files.append((f"{dist}-{version}.tar.gz", requires, rng.randint(3_000, 40_000_000)))
    return files


def _json_entry(e: Entry) -> str:
    meta = f'{{"sha256":"{e.metadata_sha256}"}}' if e.metadata_sha256 else "false"
    rp = f'"{e.requires_python}"' if e.requires_python else "null"
    yanked = json.dumps(e.yanked) if e.yanked else "false"
    return (
        f'{{"core-metadata":{meta},"data-dist-info-metadata":{meta},'
        f'"filename":"{e.filename}","hashes":{{"sha256":"{e.sha256}"}},'
        f'"requires-python":{rp},"size":{e.size},"upload-time":"{e.upload_time}",'
        f'"url":"{e.url}","yanked":{yanked}}}'
    )


def _html_entry(e: Entry) -> str:
    attrs = ""
    if e.requires_python:
        rp = e.requires_python.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        attrs += f' data-requires-python="{rp}"'
    if e.yanked:
        attrs += f' data-yanked="{e.yanked}"'
    if e.metadata_sha256:
        attrs += (
            f' data-dist-info-metadata="sha256={e.metadata_sha256}"'
            f' data-core-metadata="sha256={e.metadata_sha256}"'
        )
    return f'    <a href="{e.url}#sha256={e.sha256}"{attrs}>{e.filename}</a><br />\n'


def build_page(i: int, seed: int) -> Page:
    """Project i's pages: releases added from the newest down until the JSON page is big enough."""
    rng = random.Random(seed * 1_000_003 + i)
    name = project_name(i)
    dist = name.replace("-", "_")
    target = target_size(i, seed)
    binary = target > 250_000 or (target > 60_000 and rng.random() < 0.4)
    # Enough versions for the target even at ~2 files per release (~1.3 KB).
    major = max(2, target // 40_000 + 2)
    when = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc) - dt.timedelta(days=rng.randint(1, 400))
    entries: list[Entry] = []  # newest release first
    versions: list[str] = []
    size = 200 + len(name)
    newest = ""
    for age, version in enumerate(_versions_backwards(rng, major)):
        is_newest = age == 0
        if is_newest:
            newest = version
        yanked = None if is_newest or rng.random() > 0.02 else "broken build"
        release = []
        for filename, requires, fsize in _release_files(
            rng, dist, version, binary=binary, newest=is_newest, age=age
        ):
            raw = rng.randbytes(94).hex()
            offset = dt.timedelta(
                seconds=rng.randint(0, 3600), microseconds=rng.randint(0, 999_999)
            )
            when_s = (when + offset).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            e = Entry(
                filename=filename,
                url=f"{FILES_HOST}/{raw[:2]}/{raw[2:4]}/{raw[4:64]}/{filename}",
                sha256=raw[64:128],
                metadata_sha256=raw[128:188] + raw[:4] if filename.endswith(".whl") else None,
                requires_python=requires,
                size=fsize,
                upload_time=when_s,
                yanked=yanked,
            )
            release.append(e)
            size += len(_json_entry(e)) + 1
        entries.extend(release)
        versions.append(version)
        when -= dt.timedelta(days=rng.randint(3, 60), seconds=rng.randint(0, 86_400))
        if size >= target:
            break
    entries.reverse()
    versions.reverse()
    json_body = (
        '{"files":['
        + ",".join(_json_entry(e) for e in entries)
        + '],"meta":{"_last-serial":'
        + str(rng.randint(10**6, 3 * 10**7))
        + ',"api-version":"1.1"},"name":"'
        + name
        + '","versions":['
        + ",".join(f'"{v}"' for v in versions)
        + "]}"
    ).encode()
    html_body = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.1">\n'
        f"    <title>Links for {name}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {name}</h1>\n"
        + "".join(_html_entry(e) for e in entries)
        + "  </body>\n</html>\n"
    ).encode()
    return Page(name, newest, json_body, html_body, len(entries), len(versions))


def build_index(n: int, seed: int) -> tuple[bytes, bytes]:
    names = [project_name(i) for i in range(1, n + 1)]
    js = json.dumps(
        {"meta": {"api-version": "1.1"}, "projects": [{"name": x} for x in names]},
        separators=(",", ":"),
    ).encode()
    html = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.1">\n'
        "    <title>Simple index</title>\n  </head>\n  <body>\n"
        + "".join(f'    <a href="/simple/{x}/">{x}</a>\n' for x in names)
        + "  </body>\n</html>\n"
    ).encode()
    return js, html


# --------------------------------------------------------------------------- server


def negotiate(accept: str | None) -> str | None:
    """JSON_V1, HTML_V1/text/html or None (nothing acceptable). Ties go to JSON."""
    if not accept:
        return "text/html"
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media in JSON_TYPES:
            choice, rank = JSON_V1, 2
        elif media in HTML_TYPES[:2]:
            choice, rank = HTML_V1, 1
        elif media in ("text/html", "text/*", "*/*"):
            choice, rank = "text/html", 0
        else:
            continue
        if best is None or (q, rank) > best[:2]:
            best = (q, rank, choice)
    return best[2] if best else None


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.status: collections.Counter[int] = collections.Counter()
        self.formats: collections.Counter[str] = collections.Counter()
        self.answered: set[str] = set()
        self.bytes_sent = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.started = time.monotonic()

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "throttled": self.status.get(429, 0),
            "formats": dict(self.formats),
            "projects_answered": len(self.answered),
            "bytes_sent": self.bytes_sent,
            "peak_in_flight": self.peak_in_flight,
            "seconds": round(time.monotonic() - self.started, 3),
        }


def serve(args: argparse.Namespace) -> int:
    from aiohttp import web  # the dev venv has aiohttp; only `serve` needs it

    t0 = time.perf_counter()
    pages: dict[str, Page] = {}
    for i in range(1, args.n + 1):
        page = build_page(i, args.seed)
        pages[page.name] = page
    index_json, index_html = build_index(args.n, args.seed)
    gen_seconds = time.perf_counter() - t0
    json_bytes = sum(len(p.json_body) for p in pages.values())
    html_bytes = sum(len(p.html_body) for p in pages.values())
    print(
        f"generated {args.n} projects in {gen_seconds:.1f} s: JSON {json_bytes / 1e6:.1f} MB, "
        f"HTML {html_bytes / 1e6:.1f} MB",
        flush=True,
    )
    manifest = json.dumps(
        {
            "n": args.n,
            "seed": args.seed,
            "generate_seconds": round(gen_seconds, 2),
            "json_bytes": json_bytes,
            "html_bytes": html_bytes,
            "projects": {
                p.name: {
                    "newest": p.newest,
                    "json_bytes": len(p.json_body),
                    "html_bytes": len(p.html_body),
                    "files": p.files,
                    "releases": p.releases,
                }
                for p in pages.values()
            },
        }
    ).encode()
    stats = Stats()
    latency = args.latency_ms / 1000.0
    window: collections.deque[float] = collections.deque()
    rps = args.throttle_rps

    def throttled() -> bool:
        if rps <= 0:
            return False
        now = time.monotonic()
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= rps:
            return True
        window.append(now)
        return False

    async def simple(request: web.Request) -> web.StreamResponse:
        stats.requests += 1
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            response = await _answer(request)
        finally:
            stats.in_flight -= 1
        stats.status[response.status] += 1
        if isinstance(response, web.Response) and response.body is not None:
            stats.bytes_sent += len(response.body)  # type: ignore[arg-type]
        return response

    async def _answer(request: web.Request) -> web.StreamResponse:
        refuse = throttled()
        if latency > 0:
            await asyncio.sleep(latency)
        if refuse:
            return web.Response(status=429, text="slow down\n", headers={"Retry-After": "1"})
        chosen = negotiate(request.headers.get("Accept"))
        if chosen is None:
            return web.Response(status=406, text="not acceptable\n")
        fmt = "json" if chosen == JSON_V1 else "html"
        stats.formats[fmt] += 1
        raw = request.match_info.get("project")
        if raw is None:
            body = index_json if fmt == "json" else index_html
            return web.Response(body=body, headers={"Content-Type": chosen})
        canon = canonical(raw)
        if canon != raw:
            return web.Response(status=301, headers={"Location": f"/simple/{canon}/"})
        page = pages.get(canon)
        if page is None:
            return web.Response(status=404, text="no such project\n")
        stats.answered.add(canon)
        headers = {"Content-Type": chosen}
        if args.cache_headers:
            etag = f'"{args.seed}-{canon}-{fmt}"'
            headers["ETag"] = etag
            headers["Cache-Control"] = "max-age=600, public"
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers=headers)
        body = page.json_body if fmt == "json" else page.html_body
        if args.bytes_per_second <= 0:
            return web.Response(body=body, headers=headers)
        # A slow link, per connection: the body goes out in paced chunks, so a large
        # page takes seconds however many requests run beside it.
        stream = web.StreamResponse(headers=headers)
        stream.content_length = len(body)
        await stream.prepare(request)
        chunk = 64 * 1024
        for start in range(0, len(body), chunk):
            await stream.write(body[start : start + chunk])
            await asyncio.sleep(min(chunk, len(body) - start) / args.bytes_per_second)
        await stream.write_eof()
        stats.bytes_sent += len(body)
        return stream

    async def get_stats(_: web.Request) -> web.Response:
        return web.json_response(stats.as_json())

    async def reset_stats(_: web.Request) -> web.Response:
        snapshot = stats.as_json()
        stats.reset()
        window.clear()  # every tool run starts with an empty throttle window
        return web.json_response(snapshot)

    async def get_manifest(_: web.Request) -> web.Response:
        return web.Response(body=manifest, content_type="application/json")

    async def redirect_slash(request: web.Request) -> web.Response:
        location = f"/simple/{canonical(request.match_info['project'])}/"
        return web.Response(status=301, headers={"Location": location})

    app = web.Application()
    app.router.add_get("/simple/", simple)
    app.router.add_get("/simple/{project}/", simple)
    app.router.add_get("/simple/{project}", redirect_slash)
    app.router.add_get("/stats", get_stats)
    app.router.add_post("/stats/reset", reset_stats)
    app.router.add_get("/manifest", get_manifest)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        port = sockets[0].getsockname()[1]
        print(f"serving http://127.0.0.1:{port}/simple/", flush=True)
        if args.ready_file:
            tmp = Path(args.ready_file + ".tmp")
            tmp.write_text(str(port))
            tmp.replace(args.ready_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.max_seconds)
        except asyncio.TimeoutError:
            print(f"stopping after --max-seconds {args.max_seconds:g}", flush=True)
        await runner.cleanup()

    asyncio.run(main())
    return 0


# --------------------------------------------------------------------------- target venv


def target_python() -> str:
    """The base interpreter the dev venv was made from (no venv-inside-venv surprises)."""
    return getattr(sys, "_base_executable", sys.executable)


def make_target_venv(n: int) -> Path:
    """A venv with N synth_XXXX-1.0.dist-info folders and nothing else; reused if complete."""
    venv = SYNTH_DIR / f"venv-{n}"
    marker = venv / ".synthetic-complete"
    if marker.exists():
        return venv / "bin" / "python"
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run(
        [target_python(), "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=120,
        env=isolated_env(),
    )
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    site = Path(purelib)
    for i in range(1, n + 1):
        name = project_name(i)
        dist = name.replace("-", "_")
        info = site / f"{dist}-{INSTALLED_VERSION}.dist-info"
        info.mkdir(parents=True)
        (site / dist).mkdir()
        (site / dist / "__init__.py").write_text("")
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {INSTALLED_VERSION}\n"
            f"Summary: synthetic project {i} for benchmarks\nRequires-Python: >=3.8\n"
        )
        (info / "INSTALLER").write_text("synthetic\n")
        (info / "WHEEL").write_text(
            "Wheel-Version: 1.0\nGenerator: synthetic\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        record = [
            f"{dist}/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0",
            f"{info.name}/METADATA,,",
            f"{info.name}/INSTALLER,,",
            f"{info.name}/WHEEL,,",
            f"{info.name}/RECORD,,",
        ]
        (info / "RECORD").write_text("\n".join(record) + "\n")
    marker.write_text(f"{n}\n")
    return py


def check_target(py: Path, n: int) -> list[str]:
    """pip list and uv pip list must both see the N synthetic distributions."""
    problems = []
    env = isolated_env()
    for label, cmd in (
        ("pip", [dev_bin("pip"), "--python", str(py), "list", "--format", "json", "--isolated"]),
        (
            "uv",
            [dev_bin("uv"), "pip", "list", "--format", "json", "--no-config", "--python", str(py)],
        ),
    ):
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        try:
            names = {d["name"].lower() for d in json.loads(proc.stdout)}
        except (ValueError, KeyError, TypeError):
            problems.append(f"{label} list failed: {proc.stderr.strip()[-300:]}")
            continue
        synth = {x for x in names if x.startswith("synth")}
        if len(synth) != n:
            problems.append(f"{label} list sees {len(synth)} synthetic projects, expected {n}")
    return problems


# --------------------------------------------------------------------------- harness


class Server:
    """`synthetic.py serve` as a child process on a free port."""

    def __init__(
        self,
        n: int,
        seed: int,
        latency_ms: float,
        throttle: int,
        log: Path,
        *,
        cache_headers: bool,
        bytes_per_second: float = 0.0,
    ) -> None:
        self.ready = log.with_suffix(".port")
        self.ready.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "serve",
            "--n",
            str(n),
            "--seed",
            str(seed),
            "--latency-ms",
            str(latency_ms),
            "--throttle-rps",
            str(throttle),
            "--port",
            "0",
            "--ready-file",
            str(self.ready),
            "--max-seconds",
            "3600",
        ]
        if cache_headers:
            cmd.append("--cache-headers")
        if bytes_per_second > 0:
            cmd += ["--bytes-per-second", str(bytes_per_second)]
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self.port = 0

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {self.log.name}")
            if self.ready.exists():
                self.port = int(self.ready.read_text())
                return
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"server not ready after {timeout:g} s")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, path: str, post: bool = False) -> dict[str, Any]:
        req = urllib.request.Request(self.base + path, method="POST" if post else "GET")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.log.close()


@dataclass
class Sample:
    seconds: float
    max_rss_mb: float
    returncode: int
    outdated: int | None
    wrong: int | None
    errors: int | None
    requests: int
    throttled: int
    answered: int
    peak_in_flight: int
    formats: dict[str, int]


@dataclass
class Variant:
    name: str
    tool: str
    build: Callable[[Path], tuple[list[str], dict[str, str]]]
    parse: Callable[[str], tuple[dict[str, str], int | None]]
    warm: bool
    ok_codes: tuple[int, ...] = (0,)
    timeout: float = 300.0
    samples: list[Sample] = field(default_factory=list)
    failure: str | None = None
    timed_out: bool = False
    cache: Path | None = None


def parse_list(text: str) -> tuple[dict[str, str], int | None]:
    """pip's and uv's --format json: [{"name", "version", "latest_version", ...}]."""
    doc = json.loads(text)
    if not isinstance(doc, list):
        raise ValueError("expected a JSON list")
    return {str(d["name"]).lower(): str(d["latest_version"]) for d in doc}, None


def parse_pipfresh(text: str) -> tuple[dict[str, str], int | None]:
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise ValueError("expected a pipfresh version-1 JSON document")
    found = {str(p["name"]).lower(): str(p["latest"]) for p in doc.get("packages", [])}
    return found, len(doc.get("errors", []))


def make_variants(
    interp: Path,
    index_url: str,
    *,
    pipfresh_exe: str,
    pipfresh_cache: bool,
    pipfresh_args: list[str],
    keep: Path,
    timeout: float,
    pip_timeout: float,
    uv_fixed_concurrency: int,
) -> list[Variant]:
    pip, uv = dev_bin("pip"), dev_bin("uv")

    def pipfresh(cache: Path) -> tuple[list[str], dict[str, str]]:
        cmd = [pipfresh_exe, "--python", str(interp), "--format", "json", "--isolated"]
        cmd += ["--index-url", index_url]
        if pipfresh_cache:
            cmd += ["--cache-dir", str(cache)]
        return cmd + pipfresh_args, tool_env({"PIPFRESH_CACHE_DIR": str(cache)})

    def pip_list(cache: Path) -> tuple[list[str], dict[str, str]]:
        cmd = [pip, "--python", str(interp), "list", "--outdated", "--format", "json"]
        cmd += ["--isolated", "--disable-pip-version-check", "--index-url", index_url]
        return [*cmd, "--cache-dir", str(cache)], tool_env()

    def uv_cold(cache: Path) -> tuple[list[str], dict[str, str]]:
        del cache
        cmd = [uv, "pip", "list", "--outdated", "--format", "json", "--no-config"]
        cmd += ["--python", str(interp), "--index-url", index_url, "--no-cache"]
        return cmd, tool_env()

    def uv_warm(cache: Path) -> tuple[list[str], dict[str, str]]:
        cmd = [uv, "pip", "list", "--outdated", "--format", "json", "--no-config"]
        cmd += ["--python", str(interp), "--index-url", index_url, "--cache-dir", str(cache)]
        return cmd, tool_env({"UV_CACHE_DIR": str(cache)})

    def uv_fixed(cache: Path) -> tuple[list[str], dict[str, str]]:
        cmd, env = uv_cold(cache)
        env["UV_CONCURRENT_DOWNLOADS"] = str(uv_fixed_concurrency)
        return cmd, env

    variants = [
        Variant("pipfresh-cold", "pipfresh", pipfresh, parse_pipfresh, False, (0, 3), timeout),
        Variant("pipfresh-warm", "pipfresh", pipfresh, parse_pipfresh, True, (0, 3), timeout),
        Variant("pip", "pip", pip_list, parse_list, False, (0,), pip_timeout),
        Variant("uv-cold", "uv", uv_cold, parse_list, False, (0,), timeout),
        Variant("uv-warm", "uv", uv_warm, parse_list, True, (0,), timeout),
    ]
    if uv_fixed_concurrency:
        name = f"uv-cold-c{uv_fixed_concurrency}"
        variants.append(Variant(name, "uv", uv_fixed, parse_list, False, (0,), timeout))
    for v in variants:
        if v.warm:
            v.cache = keep / v.name
    if not pipfresh_cache:
        variants[1].failure = "pipfresh has no --cache-dir option yet (no cache)"
    return variants


def timed(
    cmd: list[str], env: dict[str, str], timeout: float, out: Path, cwd: Path
) -> tuple[float, float, int, str]:
    """Run cmd in cwd; (seconds, peak RSS MB of the largest process in its tree, exit, stderr)."""
    with out.open("wb") as stdout, tempfile.TemporaryFile() as stderr:
        t0 = time.perf_counter()
        # Own session: on timeout the whole tree goes (pip --python re-runs pip in the target
        # interpreter as a child, which would otherwise live on and skew the next runs).
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

        def kill_tree() -> None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        killer = threading.Timer(timeout, kill_tree)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - t0
        kill_tree()  # anything the tool left behind in its session
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        tail = stderr.read().decode(errors="replace").strip().splitlines()[-8:]
    return seconds, usage.ru_maxrss / 1024.0, proc.returncode, "\n".join(tail)


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """isolated_env() without PIPFRESH_* settings and without pipfresh's user config file."""
    env = {k: v for k, v in isolated_env(extra).items() if not k.startswith("PIPFRESH_")}
    env["PIPFRESH_CONFIG_FILE"] = ""
    env.update(extra or {})
    return env


def run_once(
    v: Variant, server: Server, expected: dict[str, str], scratch: Path, timed_run: bool
) -> str | None:
    """One run of v; on failure set and return v.failure."""
    cache = v.cache if v.warm and v.cache else Path(tempfile.mkdtemp(prefix=v.name, dir=scratch))
    cmd, env = v.build(cache)
    out = scratch / f"{v.name}.out"
    server.call("/stats/reset", post=True)
    try:
        seconds, rss, code, tail = timed(cmd, env, v.timeout, out, cwd=scratch)
    except OSError as exc:
        v.failure = f"could not start: {exc}"
        return v.failure
    finally:
        if not v.warm:
            shutil.rmtree(cache, ignore_errors=True)
    st = server.call("/stats")
    label = "run" if timed_run else "warm-up"
    if seconds >= v.timeout:
        v.timed_out = True
        v.failure = f"{label}: timed out after {v.timeout:g} s ({st['projects_answered']} answered)"
        return v.failure
    if code not in v.ok_codes:
        v.failure = f"{label}: exit {code}: {tail or '(no stderr)'}"
        return v.failure
    try:
        found, errors = v.parse(out.read_text())
    except (ValueError, OSError, KeyError, TypeError) as exc:
        v.failure = f"{label}: unusable output ({exc}); stderr: {tail}"
        return v.failure
    wrong = sum(1 for k, ver in expected.items() if found.get(k) != ver)
    sample = Sample(
        seconds=seconds,
        max_rss_mb=rss,
        returncode=code,
        outdated=len(found),
        wrong=wrong,
        errors=errors,
        requests=int(st["requests"]),
        throttled=int(st["throttled"]),
        answered=int(st["projects_answered"]),
        peak_in_flight=int(st["peak_in_flight"]),
        formats=dict(st["formats"]),
    )
    if timed_run:
        v.samples.append(sample)
    print(
        f"  {v.name:14} {label:7} {seconds:7.2f} s {rss:5.0f} MB exit {code} "
        f"outdated {len(found)} (wrong/missing {wrong}) requests {sample.requests} "
        f"429s {sample.throttled} answered {sample.answered} peak-in-flight "
        f"{sample.peak_in_flight} {sample.formats}" + (f" errors {errors}" if errors else ""),
        flush=True,
    )
    return None


@dataclass
class Config:
    n: int
    throttle: int
    manifest: dict[str, Any] = field(default_factory=dict)
    variants: list[Variant] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"N={self.n}" + (f", throttle {self.throttle} req/s" if self.throttle else "")


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def table(cfg: Config) -> list[str]:
    n = cfg.n
    rows = [
        "| Variant | Runs | Median s | Min-max s | Peak RSS MB (median / max) | Outdated found "
        "(want N, all at newest) | Requests / run | 429s / run | Projects answered | "
        "Peak in flight | Format | Note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in cfg.variants:
        if not v.samples:
            why = (v.failure or "not run").replace("|", "/").replace("\n", " ")[:300]
            rows.append(f"| {v.name} | 0 | - | - | - | - | - | - | - | - | - | {why} |")
            continue
        s = v.samples
        t = [x.seconds for x in s]
        r = [x.max_rss_mb for x in s]
        found = sorted({x.outdated for x in s if x.outdated is not None})
        wrong = max(x.wrong or 0 for x in s)
        ok = "ok" if found == [n] and wrong == 0 else f"WRONG ({wrong} wrong/missing)"
        req = sorted({x.requests for x in s})
        thr = [x.throttled for x in s]
        ans = sorted({x.answered for x in s})
        fmts = sorted({f for x in s for f in x.formats})
        note = ""
        errs = sorted({x.errors for x in s if x.errors})
        if errs:
            note += f"errors reported: {errs} "
        if v.failure:
            note += "later failed: " + v.failure.splitlines()[0][:160].replace("|", "/")
        rows.append(
            f"| {v.name} | {len(t)} | {_med(t):.2f} | {min(t):.2f}-{max(t):.2f} "
            f"| {_med(r):.0f} / {max(r):.0f} | {', '.join(map(str, found))} {ok} "
            f"| {', '.join(map(str, req))} | {_med([float(x) for x in thr]):.0f} "
            f"({min(thr)}-{max(thr)}) | {', '.join(map(str, ans))} "
            f"| {max(x.peak_in_flight for x in s)} | {'/'.join(fmts)} | {note.strip()} |"
        )
    return rows


def scaling(configs: list[Config]) -> list[str]:
    plain = sorted((c for c in configs if not c.throttle), key=lambda c: c.n)
    if len(plain) < 2:
        return []
    names = [v.name for v in plain[0].variants]
    head = "| Variant | " + " | ".join(f"N={c.n} median s (ms/project)" for c in plain)
    first, last = plain[0].n, plain[-1].n
    head += f" | time ratio N={last} / N={first} (N ratio {last / first:g})"
    head += f" | marginal ms/project N={first}..{last} |"
    rows = [head, "| --- " * (len(plain) + 3) + "|"]
    for name in names:
        cells = []
        meds: list[float] = []
        for c in plain:
            v = next((x for x in c.variants if x.name == name), None)
            if v and v.samples:
                m = _med([s.seconds for s in v.samples])
                meds.append(m)
                cells.append(f"{m:.2f} ({1000 * m / c.n:.1f})")
            else:
                meds.append(float("nan"))
                cells.append("timeout" if v and v.timed_out else "-")
        both = not (math.isnan(meds[0]) or math.isnan(meds[-1]))
        ratio = f"{meds[-1] / meds[0]:.2f}" if both else "-"
        marginal = f"{1000 * (meds[-1] - meds[0]) / (last - first):.1f}" if both else "-"
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {ratio} | {marginal} |")
    pages = [
        f"N={c.n}: JSON pages {c.manifest.get('json_bytes', 0) / 1e6:.0f} MB, "
        f"HTML {c.manifest.get('html_bytes', 0) / 1e6:.0f} MB"
        for c in plain
    ]
    return [*rows, "", "Page bytes per configuration: " + "; ".join(pages) + "."]


def ratios(cfg: Config) -> list[str]:
    by = {v.name: v for v in cfg.variants}
    out = []
    for a, b in (
        ("pipfresh-cold", "uv-cold"),
        ("pipfresh-warm", "uv-warm"),
        ("pipfresh-cold", "pip"),
    ):
        va, vb = by.get(a), by.get(b)
        if va and vb and va.samples and vb.samples:
            ma, mb = _med([s.seconds for s in va.samples]), _med([s.seconds for s in vb.samples])
            out.append(f"- {cfg.label}: {a} / {b} (medians): {ma / mb:.2f}x")
    return out


def run_harness(args: argparse.Namespace) -> int:
    from run import install_pipfresh, machine_facts, pipfresh_has_cache

    ns = sorted(set(args.n or [200, 1000]))
    if any(n < 1 or n > MAX_N for n in ns):
        raise SystemExit(f"--n must be within 1..{MAX_N}")
    tools = {t.strip() for t in args.tools.split(",") if t.strip()}
    unknown = tools - {"pipfresh", "pip", "uv"}
    if unknown:
        raise SystemExit(f"unknown tools: {', '.join(sorted(unknown))}")
    throttle_ns = sorted(set(args.throttle_n or ([ns[-1]] if args.throttle_rps else [])))
    configs = [Config(n, 0) for n in ns] + [Config(n, args.throttle_rps) for n in throttle_ns]
    if args.throttle_rps <= 0 and args.throttle_n:
        raise SystemExit("--throttle-n needs --throttle-rps")

    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    SYNTH_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc)
    t_start = time.monotonic()
    exe = install_pipfresh() if "pipfresh" in tools else ""
    has_cache = bool(exe) and pipfresh_has_cache(exe)
    facts: list[str] = []
    pip_too_slow_at: int | None = None

    for cfg in configs:
        print(f"\n== {cfg.label}", flush=True)
        interp = make_target_venv(cfg.n)
        problems = check_target(interp, cfg.n)
        if problems:
            raise SystemExit("target venv check failed: " + "; ".join(problems))
        if not facts:
            facts = machine_facts(interp)
            print("\n".join(facts), flush=True)
        with tempfile.TemporaryDirectory(prefix="synth-", dir=SYNTH_DIR) as tmp:
            scratch = Path(tmp)
            server = Server(
                cfg.n,
                args.seed,
                args.latency_ms,
                cfg.throttle,
                SYNTH_DIR / f"server-{cfg.n}-{cfg.throttle}.log",
                cache_headers=args.cache_headers,
            )
            try:
                server.wait_ready(timeout=args.server_start_timeout)
                cfg.manifest = server.call("/manifest")
                print(
                    f"server on {server.base}: {cfg.n} projects generated in "
                    f"{cfg.manifest['generate_seconds']} s, JSON "
                    f"{cfg.manifest['json_bytes'] / 1e6:.0f} MB, HTML "
                    f"{cfg.manifest['html_bytes'] / 1e6:.0f} MB",
                    flush=True,
                )
                expected = {k: v["newest"] for k, v in cfg.manifest["projects"].items()}
                everything = make_variants(
                    interp,
                    f"{server.base}/simple",
                    pipfresh_exe=exe,
                    pipfresh_cache=has_cache,
                    pipfresh_args=args.pipfresh_arg,
                    keep=scratch / "warm",
                    timeout=args.timeout,
                    pip_timeout=args.pip_timeout,
                    uv_fixed_concurrency=args.uv_fixed,
                )
                cfg.variants = [v for v in everything if v.tool in tools]
                for v in cfg.variants:
                    if v.tool == "pip" and args.pip_max_n and cfg.n > args.pip_max_n:
                        v.failure = f"not run: --pip-max-n {args.pip_max_n}"
                    elif v.tool == "pip" and pip_too_slow_at and cfg.n >= pip_too_slow_at:
                        v.failure = f"not run: pip timed out at N={pip_too_slow_at}"
                for v in cfg.variants:
                    if v.warm and v.failure is None:
                        print(f"warming {v.name}", flush=True)
                        run_once(v, server, expected, scratch, timed_run=False)
                for rnd in range(args.runs):
                    print(f"round {rnd + 1}/{args.runs}", flush=True)
                    k = rnd % len(cfg.variants)
                    for v in cfg.variants[k:] + cfg.variants[:k]:
                        if v.failure is not None:
                            continue
                        if time.monotonic() - t_start > args.budget:
                            v.failure = f"not run: --budget {args.budget:g} s exhausted"
                            continue
                        failure = run_once(v, server, expected, scratch, timed_run=True)
                        if failure:
                            print(f"  {v.name}: FAILED, skipped from now on: {failure}")
                        if v.tool == "pip" and v.timed_out and pip_too_slow_at is None:
                            pip_too_slow_at = cfg.n
            finally:
                server.stop()
        print("\n".join(["", *table(cfg), "", *ratios(cfg)]), flush=True)

    total = time.monotonic() - t_start
    scale = scaling(configs)
    if scale:
        print("\n".join(["", *scale]))
    raw = {
        "started": stamp.isoformat(),
        "argv": sys.argv,
        "facts": facts,
        "seconds": total,
        "configs": [
            {
                "n": c.n,
                "throttle": c.throttle,
                "json_bytes": c.manifest.get("json_bytes"),
                "html_bytes": c.manifest.get("html_bytes"),
                "variants": {
                    v.name: {"samples": [asdict(s) for s in v.samples], "failure": v.failure}
                    for v in c.variants
                },
            }
            for c in configs
        ],
    }
    raw_path = WORK_DIR / f"synthetic-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    raw_path.write_text(json.dumps(raw, indent=1) + "\n")
    print(f"\nwhole benchmark {total:.0f} s; raw samples in {raw_path}")
    if not args.no_record:
        cmd = shlex.join([".venv/bin/python", "benchmarks/synthetic.py", *sys.argv[1:]])
        end = " ".join(f"{x:.2f}" for x in os.getloadavg())
        start = " ".join(f"{x:.2f}" for x in load)
        section = [
            f"\n## Synthetic index, {stamp.strftime('%Y-%m-%d %H:%M UTC')}"
            + (f" — {args.title}" if args.title else "")
            + "\n",
            f"Command: `{cmd}`  ",
            f"Local index server on 127.0.0.1 (own process), {args.latency_ms:g} ms added per "
            f"request, seed {args.seed}; target venv of N `synth-XXXX 1.0` dist-infos "
            f"(CPython {sys.version_info[0]}.{sys.version_info[1]}), every one outdated. "
            f"{args.runs} interleaved rounds per configuration; pip per-run timeout "
            f"{args.pip_timeout:g} s. Whole benchmark {total:.0f} s; load average {start} at "
            f"start, {end} at end.\n",
            *facts,
        ]
        for c in configs:
            section += ["", f"### {c.label}", "", *table(c), "", *ratios(c), *c.notes]
        if scale:
            section += ["", "### Time against N (no throttle)", "", *scale]
        with RESULTS_FILE.open("a") as fh:
            fh.write("\n".join(section) + "\n")
        print(f"appended to {RESULTS_FILE}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p_serve = sub.add_parser("serve", help="run the synthetic index server")
    p_serve.add_argument("--n", type=int, default=200)
    p_serve.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p_serve.add_argument("--port", type=int, default=0, help="0: any free port")
    p_serve.add_argument("--latency-ms", type=float, default=0.0)
    p_serve.add_argument("--throttle-rps", type=int, default=0, help="0: no throttle")
    p_serve.add_argument("--cache-headers", action="store_true", help="send ETag/Cache-Control")
    p_serve.add_argument(
        "--bytes-per-second", type=float, default=0.0, help="pace each page body (0: no limit)"
    )
    p_serve.add_argument("--ready-file", default="", help="write the port here when listening")
    p_serve.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this")

    p_venv = sub.add_parser("venv", help="build (and check) the target venv for N")
    p_venv.add_argument("--n", type=int, default=200)

    p_run = sub.add_parser("run", help="time the tools against the server")
    p_run.add_argument("--n", type=int, action="append", help="repeatable; default 200 and 1000")
    p_run.add_argument("--runs", type=int, default=3)
    p_run.add_argument("--latency-ms", type=float, default=30.0)
    p_run.add_argument("--throttle-rps", type=int, default=0, help="also run throttled configs")
    p_run.add_argument(
        "--throttle-n", type=int, action="append", help="N for throttled runs (default: largest)"
    )
    p_run.add_argument("--tools", default="pipfresh,uv,pip")
    p_run.add_argument("--pipfresh-arg", action="append", default=[], help="extra pipfresh arg")
    p_run.add_argument(
        "--uv-fixed",
        type=int,
        default=0,
        metavar="K",
        help="add uv-cold-cK: uv cold with UV_CONCURRENT_DOWNLOADS=K (a fixed concurrency)",
    )
    p_run.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p_run.add_argument(
        "--cache-headers",
        action="store_true",
        help="server sends ETag and Cache-Control: max-age=600 (default: none, as this "
        "machine's path to PyPI)",
    )
    p_run.add_argument("--timeout", type=float, default=180.0, help="per run, seconds")
    p_run.add_argument("--pip-timeout", type=float, default=60.0, help="per pip run, seconds")
    p_run.add_argument("--pip-max-n", type=int, default=0, help="run pip only up to this N")
    p_run.add_argument("--budget", type=float, default=540.0, help="stop starting runs after")
    p_run.add_argument("--server-start-timeout", type=float, default=180.0)
    p_run.add_argument("--title", default="")
    p_run.add_argument("--no-record", action="store_true")

    args = parser.parse_args()
    if args.command == "serve":
        return serve(args)
    if args.command == "venv":
        py = make_target_venv(args.n)
        problems = check_target(py, args.n)
        print(py, "ok" if not problems else "; ".join(problems))
        return 1 if problems else 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return run_harness(args)


if __name__ == "__main__":
    sys.exit(main())
