"""``pipfresh cache info`` and ``pipfresh cache clear``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipfresh.cli.exitcodes import ExitCode
from pipfresh.cli.options import add_cache_options

ACTIONS = ("info", "clear")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        default="info",
        choices=ACTIONS,
        help="info (default): where the cache is and what it holds; clear: empty it",
    )
    add_cache_options(parser, scan=False)


def run(args: argparse.Namespace) -> int:
    from pipfresh.auth import redact_url
    from pipfresh.cache import Cache, default_cache_dir
    from pipfresh.ui.safe import printable
    from pipfresh.upgrade.downloads import MAX_BYTES, download_cache

    root = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir(os.environ)
    cache = Cache(root)
    wheels = download_cache(root)
    if args.action == "clear":
        removed = cache.clear()  # refuses an unsafe cache before anything is removed
        files = wheels.clear()
        sys.stdout.write(
            f"removed {removed} cached pages and {files} downloaded wheels from {root}\n"
        )
        return ExitCode.OK
    info = cache.info()
    files, size = wheels.size()
    sys.stdout.write(f"cache folder: {info.root}\n")
    sys.stdout.write(f"{info.entries} cached pages, {info.bytes / 1e6:.1f} MB\n")
    for index_url, count in sorted(info.projects_by_index.items()):
        sys.stdout.write(f"  {printable(redact_url(index_url))}: {count} projects\n")
    sys.stdout.write(
        f"{files} downloaded wheels, {size / 1e6:.1f} MB (kept up to {MAX_BYTES / 1e9:.0f} GB)\n"
    )
    return ExitCode.OK
