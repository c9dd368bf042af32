"""What should a cached index page look like on disk? Sizes and read costs, measured.

Usage::

    python benchmarks/cache_formats.py [--pages DIR] [--copies N] [--runs N]

Pages are read from DIR (default /tmp/pages) as ``<project>.json`` (PEP 691, real
PyPI answers); missing ones are downloaded once. The ten pages hold ~33,000 files;
``--copies 5`` stores each five times under different names, ~166,000 files in 50
entries, about what the 122-project old-pins venv reads from PyPI (~150,000 files,
64 MB of JSON). Formats:

* ``raw JSON``       : the response body as received; a read re-parses it
  (``parse_project_page``);
* ``msgspec JSON``   : the parsed page (every ``IndexFile`` and the versions) as JSON;
* ``msgpack``        : the same as msgpack;
* ``entry, page()``  : ``pipfresh.cache`` entries (msgpack, files grouped per release),
  every file decoded;
* ``entry, newest``  : the same entries, decoding only the newest final release's
  files (picked beforehand), which is what a warm scan needs for most projects;
* ``entry, header``  : the same entries, header only (validators, version list).

Table 1 is single-process, best of N, per format over the ten pages. Table 2 is a
fresh interpreter per run reading every entry of the copies from the page cache
(what a warm ``pipfresh`` pays), median and min-max of N runs, imports excluded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import msgspec

from pipfresh.cache import Cache
from pipfresh.index.parse import JSON_CONTENT_TYPE, parse_project_page
from pipfresh.models import IndexFile, ProjectPage
from pipfresh.select import parse_version

PROJECTS = (
    "botocore",
    "boto3",
    "numpy",
    "requests",
    "six",
    "pip",
    "setuptools",
    "grpcio",
    "pandas",
    "cryptography",
)
INDEX = "https://pypi.org/simple"


class Digest(msgspec.Struct, array_like=True, gc=False):
    files: list[IndexFile]
    versions: list[str] | None


def fetch_missing(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for project in PROJECTS:
        target = folder / f"{project}.json"
        if not target.exists():
            request = urllib.request.Request(
                f"{INDEX}/{project}/", headers={"Accept": JSON_CONTENT_TYPE}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                target.write_bytes(response.read())


def parse(body: bytes, project: str) -> ProjectPage:
    return parse_project_page(body, JSON_CONTENT_TYPE, f"{INDEX}/{project}/", project)


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def newest(page: ProjectPage) -> str:
    """The newest final release's version spelling (what selection usually settles on)."""
    assert page.versions
    parsed = [(parse_version(v), v) for v in page.versions]
    return max(v for v in parsed if v[0] is not None and not v[0].is_prerelease)[1]


def mirror(copy: int) -> str:
    return f"https://mirror{copy}.example/simple"


def digest(page: ProjectPage) -> Digest:
    return Digest(list(page.files), None if page.versions is None else list(page.versions))


# The reader runs in a fresh interpreter; it prints the milliseconds spent reading.
READER = r"""
import os, sys, time
import msgspec
from pipfresh.cache import Cache
from pipfresh.index.parse import JSON_CONTENT_TYPE, parse_project_page
from pipfresh.models import IndexFile

class Digest(msgspec.Struct, array_like=True, gc=False):
    files: list[IndexFile]
    versions: list[str] | None

mode, folder = sys.argv[1], sys.argv[2]
decoders = {
    "msgspec JSON": msgspec.json.Decoder(Digest),
    "msgpack": msgspec.msgpack.Decoder(Digest),
}
start = time.perf_counter()
files = 0
if mode.startswith("entry"):
    cache = Cache(__import__("pathlib").Path(folder))
    newest = dict(item.split("=") for item in sys.argv[3].split(","))
    for copy in range(int(sys.argv[4])):
        for name, top in newest.items():
            entry = cache.lookup(f"https://mirror{copy}.example/simple", name, now=time.time())
            if mode == "entry, page()":
                files += len(entry.page().files)
            elif mode == "entry, newest":
                # What a warm scan reads for most projects: the newest final release
                # (chosen beforehand: parsing the versions is selection's cost).
                files += len(entry.files(top))
            else:
                files += len(entry.versions)
else:
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        if mode == "raw JSON":
            project = name.rstrip("0123456789")
            url = f"https://pypi.org/simple/{project}/"
            page = parse_project_page(data, JSON_CONTENT_TYPE, url, project)
            files += len(page.files)
        else:
            files += len(decoders[mode].decode(data).files)
print((time.perf_counter() - start) * 1000, files)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pages", type=Path, default=Path("/tmp/pages"))
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    fetch_missing(args.pages)
    bodies = {p: (args.pages / f"{p}.json").read_bytes() for p in PROJECTS}
    pages = {p: parse(b, p) for p, b in bodies.items()}
    n_files = sum(len(p.files) for p in pages.values())

    with tempfile.TemporaryDirectory(prefix="pf-cache-bench-") as tmp:
        root = Path(tmp)
        plain = {m: root / m.replace(" ", "-") for m in ("raw JSON", "msgspec JSON", "msgpack")}
        for folder in plain.values():
            folder.mkdir()
        encoded: dict[str, dict[str, bytes]] = {
            "raw JSON": bodies,
            "msgspec JSON": {p: msgspec.json.encode(digest(pg)) for p, pg in pages.items()},
            "msgpack": {p: msgspec.msgpack.encode(digest(pg)) for p, pg in pages.items()},
        }
        cache = Cache(root / "cache")
        store_ms = 0.0
        for copy in range(args.copies):
            for project, page in pages.items():
                name = f"{project}{copy}"
                for mode, folder in plain.items():
                    (folder / name).write_bytes(encoded[mode][project])
                # Copies go under different index URLs: a renamed project would no
                # longer own its files' names, and its releases would not be grouped.
                started = time.perf_counter()
                cache.store(mirror(copy), project, page, fetched_at=time.time())
                store_ms += (time.perf_counter() - started) * 1000
        entry_bytes = (
            sum(p.stat().st_size for p in (root / "cache").rglob("*.entry")) // args.copies
        )

        print(f"## Table 1: the ten pages ({n_files:,} files), one process, best of {args.runs}\n")
        print("| Format | MB on disk | Decode ms | us per file |")
        print("| --- | ---: | ---: | ---: |")
        json_dec = msgspec.json.Decoder(Digest)
        mp_dec = msgspec.msgpack.Decoder(Digest)
        rows: list[tuple[str, int, float]] = [
            (
                "raw JSON",
                sum(map(len, bodies.values())),
                sum(best(lambda p=p, b=b: parse(b, p), args.runs) for p, b in bodies.items()),
            ),
            (
                "msgspec JSON",
                sum(map(len, encoded["msgspec JSON"].values())),
                sum(
                    best(lambda b=b: json_dec.decode(b), args.runs)
                    for b in encoded["msgspec JSON"].values()
                ),
            ),
            (
                "msgpack",
                sum(map(len, encoded["msgpack"].values())),
                sum(
                    best(lambda b=b: mp_dec.decode(b), args.runs)
                    for b in encoded["msgpack"].values()
                ),
            ),
        ]
        now = time.time()

        def entry_page(name: str) -> object:
            entry = cache.lookup(mirror(0), name, now=now)
            assert entry is not None
            return entry.page()

        def entry_newest(name: str) -> object:
            entry = cache.lookup(mirror(0), name, now=now)
            assert entry is not None
            return entry.files(newest(pages[name]))

        rows.append(
            (
                "entry, page()",
                entry_bytes,
                sum(best(lambda p=p: entry_page(p), args.runs) for p in PROJECTS),
            )
        )
        rows.append(
            (
                "entry, newest",
                entry_bytes,
                sum(best(lambda p=p: entry_newest(p), args.runs) for p in PROJECTS),
            )
        )
        for mode, size, ms in rows:
            print(f"| {mode} | {size / 1e6:.2f} | {ms:.1f} | {ms * 1000 / n_files:.3f} |")
        print(
            f"\nStoring all {args.copies * len(PROJECTS)} entries (group, encode, CRC, write): "
            f"{store_ms:.0f} ms, {store_ms / args.copies:.0f} ms per copy of the ten pages"
        )

        biggest = max(PROJECTS, key=lambda p: len(bodies[p]))
        refresh = best(lambda: cache.refresh(mirror(0), biggest, now=time.time()), args.runs)
        rewrite = best(
            lambda: cache.store(mirror(0), biggest, pages[biggest], fetched_at=time.time()),
            args.runs,
        )
        print(
            f"After a 304 on {biggest} ({len(pages[biggest].files):,} files): refresh (utime) "
            f"{refresh:.3f} ms, rewriting the entry {rewrite:.1f} ms\n"
        )

        total_files = n_files * args.copies
        print(
            f"## Table 2: a warm read of {args.copies * len(PROJECTS)} entries "
            f"({total_files:,} files), fresh interpreter, {args.runs} runs\n"
        )
        print("| Format | MB read | Median ms | Min-max ms |")
        print("| --- | ---: | ---: | ---: |")
        modes = [*plain, "entry, page()", "entry, newest", "entry, header"]
        samples: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(args.runs):
            for mode in modes:  # interleaved, so drift hits every format alike
                folder = plain.get(mode, root / "cache")
                out = subprocess.run(
                    [
                        *(sys.executable, "-c", READER, mode, str(folder)),
                        *(",".join(f"{p}={newest(pages[p])}" for p in PROJECTS), str(args.copies)),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.split()
                samples[mode].append(float(out[0]))
        for mode in modes:
            size = sum(len(b) for b in encoded[mode].values()) if mode in encoded else entry_bytes
            ms = samples[mode]
            print(
                f"| {mode} | {size * args.copies / 1e6:.1f} | {statistics.median(ms):.1f} | "
                f"{min(ms):.1f}-{max(ms):.1f} |"
            )

    def run_py(code: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.strip()

    timer = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"
    own = statistics.median(float(run_py(timer.format("pipfresh.cache"))) for _ in range(7))
    deps = statistics.median(
        float(run_py(timer.format("pipfresh.index.parse, pipfresh.auth"))) for _ in range(7)
    )
    heavy = run_py(
        "import sys, pipfresh.cache; "
        "print([m for m in ('aiohttp', 'httpx', 'rich', 'platformdirs') if m in sys.modules])"
    )
    print(
        f"\nImport pipfresh.cache: median {own * 1000:.1f} ms, of which "
        f"{deps * 1000:.1f} ms is pipfresh.index.parse + pipfresh.auth (a warm scan needs "
        f"them anyway); heavy modules loaded with it: {heavy}"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
