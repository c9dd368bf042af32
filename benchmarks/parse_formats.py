"""How fast can an index page be parsed? JSON decoders, HTML parsers, object building.

Usage::

    python benchmarks/parse_formats.py [--pages DIR] [--repeat N]

Pages are read from DIR (default /tmp/pages) as ``<project>.json`` and ``<project>.html``;
missing ones are downloaded from PyPI once. Every figure is the best of N runs, in ms,
single-threaded. Columns:

* ``json.loads`` / ``orjson`` / ``msgspec`` : decode to Python dicts and lists only;
* ``msgspec typed`` : decode into pipfresh's structs (unknown keys skipped), no IndexFile;
* ``JSON e2e`` : ``parse_project_page`` on the JSON page (what pipfresh does);
* ``HTMLParser`` : stdlib ``html.parser`` collecting every ``<a>``'s attributes;
* ``regex`` : pipfresh's anchor + attribute regexes, attributes only;
* ``HTML e2e`` : ``parse_project_page`` on the HTML page.

A second table compares building ``IndexFile`` objects with building plain tuples
from already-decoded entries, and a third the import cost of each decoder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import msgspec
import orjson

from pipfresh.index import parse
from pipfresh.models import IndexFile

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
ACCEPT = {"json": parse.JSON_CONTENT_TYPE, "html": "text/html"}


def fetch_missing(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for project in PROJECTS:
        for ext, accept in ACCEPT.items():
            target = folder / f"{project}.{ext}"
            if target.exists():
                continue
            request = urllib.request.Request(
                f"https://pypi.org/simple/{project}/", headers={"Accept": accept}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                target.write_bytes(response.read())


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


class AnchorCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def html_parser(text: str) -> list[dict[str, str | None]]:
    collector = AnchorCollector()
    collector.feed(text)
    collector.close()
    return collector.anchors


def regex_anchors(text: str) -> list[dict[str, str]]:
    return [parse._attributes(raw) for raw in parse._raw_tags(parse._A_START, text)]


def build_index_files(entries: list[Any]) -> tuple[IndexFile, ...]:
    return tuple(
        IndexFile(
            f.filename,
            f.url,
            f.requires_python,
            bool(f.yanked),
            f.upload_time,
            f.hashes.sha256 if f.hashes else None,
            f.size,
            bool(f.core_metadata),
        )
        for f in entries
    )


def build_tuples(entries: list[Any]) -> tuple[tuple[Any, ...], ...]:
    return tuple(
        (
            f.filename,
            f.url,
            f.requires_python,
            bool(f.yanked),
            f.upload_time,
            f.hashes.sha256 if f.hashes else None,
            f.size,
            bool(f.core_metadata),
        )
        for f in entries
    )


def import_ms(module: str, before: str = "time", runs: int = 7) -> float:
    """Wall-clock cost of importing ``module`` once ``before`` is loaded (median)."""
    code = (
        f"import time, {before}; t = time.perf_counter(); import {module}; "
        "print(time.perf_counter() - t)"
    )
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(samples) * 1000


def measure(
    folder: Path, project: str, r: int
) -> tuple[list[float], tuple[str, int, float, float]]:
    jb = (folder / f"{project}.json").read_bytes()
    hb = (folder / f"{project}.html").read_bytes()
    ht = hb.decode()
    url = f"https://pypi.org/simple/{project}/"
    page = parse.parse_project_page(jb, parse.JSON_CONTENT_TYPE, url, project)
    row = [
        len(jb) / 1024,
        len(hb) / 1024,
        float(len(page.files)),
        best(lambda: json.loads(jb), r),
        best(lambda: orjson.loads(jb), r),
        best(lambda: msgspec.json.decode(jb), r),
        best(lambda: parse._page_decoder.decode(jb), r),
        best(lambda: parse.parse_project_page(jb, parse.JSON_CONTENT_TYPE, url, project), r),
        best(lambda: html_parser(ht), r),
        best(lambda: regex_anchors(ht), r),
        best(lambda: parse.parse_project_page(hb, "text/html", url, project), r),
    ]
    entries = parse._page_decoder.decode(jb).files
    return row, (
        project,
        len(entries),
        best(lambda: build_index_files(entries), r),
        best(lambda: msgspec.convert(entries, list[IndexFile], from_attributes=True), r),
        best(lambda: build_tuples(entries), r),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=Path, default=Path("/tmp/pages"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    fetch_missing(args.pages)

    cols = [
        "json KB",
        "html KB",
        "files",
        "json.loads",
        "orjson",
        "msgspec",
        "msgspec typed",
        "JSON e2e",
        "HTMLParser",
        "regex",
        "HTML e2e",
    ]
    totals = [0.0] * len(cols)
    build_rows: list[tuple[str, int, float, float, float]] = []
    print(f"{'project':<13}" + "".join(f"{c:>14}" for c in cols))
    for project in PROJECTS:
        row, build_row = measure(args.pages, project, args.repeat)
        totals = [t + v for t, v in zip(totals, row, strict=True)]
        print(f"{project:<13}" + "".join(f"{v:>14.1f}" for v in row))
        build_rows.append(build_row)
    print(f"{'TOTAL':<13}" + "".join(f"{v:>14.1f}" for v in totals))
    mb = totals[0] / 1024
    print(
        f"\nScaled to 80 MB of JSON: JSON e2e {totals[7] / mb * 80:.0f} ms, "
        f"json.loads alone {totals[3] / mb * 80:.0f} ms, "
        f"orjson alone {totals[4] / mb * 80:.0f} ms, "
        f"msgspec typed alone {totals[6] / mb * 80:.0f} ms (single core)"
    )
    print(f"HTML bytes / JSON bytes: {totals[1] / totals[0]:.2f}")

    print(
        "\nBuilding objects from decoded entries (ms): IndexFile(...) calls, "
        "msgspec.convert(from_attributes=True) to IndexFile (what parse does), plain tuples"
    )
    print(f"{'project':<13}{'entries':>10}{'IndexFile()':>13}{'convert':>10}{'tuples':>10}")
    for project, n, obj_ms, conv_ms, tup_ms in build_rows:
        print(f"{project:<13}{n:>10}{obj_ms:>13.2f}{conv_ms:>10.2f}{tup_ms:>10.2f}")
    sums = [sum(row[i] for row in build_rows) for i in (1, 2, 3, 4)]
    n_all = int(sums[0])
    print(f"{'TOTAL':<13}{n_all:>10}{sums[1]:>13.2f}{sums[2]:>10.2f}{sums[3]:>10.2f}")
    print(
        f"per file (us): IndexFile() {sums[1] * 1000 / n_all:.2f}, "
        f"convert {sums[2] * 1000 / n_all:.2f}, tuple {sums[3] * 1000 / n_all:.2f}"
    )

    print("\nimport cost, fresh interpreter, median of 7 (ms)")
    for module in ("json", "orjson", "msgspec.json", "pipfresh.index.parse"):
        print(f"  {module:<22}{import_ms(module):>8.1f}")
    # What a decoder adds once the rest of pipfresh's parse path is loaded anyway.
    rest = "pipfresh.models, re, html, urllib.parse, typing"
    print(f"  marginal, after {rest}:")
    for module in ("json", "orjson", "msgspec.json"):
        print(f"    {module:<20}{import_ms(module, rest):>8.1f}")


if __name__ == "__main__":
    main()
