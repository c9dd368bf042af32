"""The table through the real entry point at COLUMNS=60, 80 and 200, against goldens.

``python -m pipfresh`` runs against the in-process index with stdout a pipe, so the
width comes from ``COLUMNS`` alone; the goldens are in ``tests/data/goldens``. The
environment's path and the run's seconds are the only parts replaced before comparing.
Upload times are set relative to now, so "Released" reads the same on any day.

``PIPFRESH_WRITE_GOLDENS=1`` rewrites the goldens from this run (review the diff).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from integration.test_scan_helpers import describe, run_pipfresh
from integration.test_update import Scene

GOLDENS = Path(__file__).parent.parent / "data" / "goldens"


def published(scene: Scene) -> None:
    """Four outdated packages: major, minor and patch moves, one held back below its
    latest by a requirement with a long range (the widest cell)."""
    now = datetime.now(timezone.utc)

    def ago(days: float) -> str:
        return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    releases = {
        "botocore": [("1.34.0", 500.2), ("1.35.99", 40.2)],
        "a-rather-long-package-name": [("0.9", 900.2), ("0.10.3", 3.2)],
        "urllib3": [("1.26.5", 1200.2), ("1.26.20", 100.2), ("2.2.3", 20.2)],
        "six": [("1.15.0", 2000.2), ("1.16.0", 800.2)],
    }
    for name, versions in releases.items():
        for version, days in versions:
            scene.server.add(scene.wheels(name, version), upload_time=ago(days))
    holder = scene.wheels("requests-like", "2.0", requires=("urllib3<2,>=1.21.1,!=1.25.0",))
    scene.server.add(holder, upload_time=ago(10.2))
    scene.pin(
        "botocore==1.34.0",
        "a-rather-long-package-name==0.9",
        "urllib3==1.26.5",
        "six==1.15.0",
        "requests-like==2.0",
    )


def normalised(stdout: str, prefix: str) -> str:
    text = stdout.replace(prefix, "<env>")
    text = re.sub(r"\(Python [0-9.]+\)", "(Python X)", text)
    return re.sub(r" in [0-9.]+ s$", " in N s", text, flags=re.M)


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_table_at_a_width_matches_its_golden(scene: Scene, columns: int) -> None:
    published(scene)
    result = run_pipfresh(
        "--python",
        scene.venv.python,
        "--index-url",
        scene.server.url,
        env={**scene.env, "COLUMNS": str(columns)},
        cwd=scene.tmp_path,
    )
    assert result.returncode == 0, describe(result)
    shown = normalised(result.stdout, str(scene.venv.path))
    golden = GOLDENS / f"table-columns-{columns}.txt"
    if os.environ.get("PIPFRESH_WRITE_GOLDENS") == "1":
        golden.write_text(shown)
    assert shown == golden.read_text()
    assert all(len(line) <= columns for line in shown.splitlines()[1:-1])
