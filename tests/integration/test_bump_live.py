"""The issue's must-show, against the real PyPI (``live``: skipped when it cannot be
reached): on the three real projects' files of the corpus, ``pipfresh bump -w``
changes only version text (and a hashed line's ``--hash`` options), pip resolves the
result, and a second ``pipfresh bump`` changes nothing.

What PyPI holds changes every day, so these tests assert properties of the result,
never particular versions. The pip-compile output is checked with ``--no-deps``: its
pins are raised one by one to each project's newest release, and whether that set is
still co-installable is ``--consistent``'s business, not ``-w``'s; each pin must still
be one pip finds on PyPI with a file matching its new hashes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integration.test_scan_helpers import describe, pipfresh_env, run_pipfresh
from pipfresh._bump.files import read_files
from pipfresh._bump.model import DepFile
from support.venvs import clean_env

pytestmark = [pytest.mark.live, pytest.mark.slow]

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "bump" / "real"
PYPI = "https://pypi.org/simple"


def outside_specifiers(dep: DepFile) -> str:
    """The text with every pin's specifier and every --hash option taken out."""
    spans = sorted(
        [(p.span.start, p.span.end) for p in dep.pins if p.span is not None]
        + [(h.start, h.end) for p in dep.pins for h in p.hashes]
    )
    pieces, pos = [], 0
    for start, end in spans:
        pieces.append(dep.text[pos:start])
        pos = end
    text = "".join(pieces) + dep.text[pos:]
    # a hash list of another length: the lines that held only a hash are not counted
    return "".join(line for line in text.splitlines(keepends=True) if line.strip(" \t\\\r\n"))


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=cwd,
        check=False,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("root", "pip_args"),
    [
        ("sigstore-python/requirements.txt", ("--no-deps", "-r", "requirements.txt")),
        ("aiohttp/requirements/test.in", ("-r", "test.in")),
        ("flask/pyproject.toml", (".",)),
    ],
    ids=["pip-compile-hashes", "r-c-tree", "pyproject"],
)
def test_bump_w_on_pypi_changes_only_versions_and_pip_resolves_the_result(
    root: str, pip_args: tuple[str, ...], tmp_path: Path
) -> None:
    top = root.split("/", maxsplit=1)[0]
    shutil.copytree(REAL / top, tmp_path / top)
    path = tmp_path / root
    if path.name == "pyproject.toml":
        # pip builds the project to read its metadata: give it the package it names
        (path.parent / "src" / "flask").mkdir(parents=True)
        (path.parent / "src" / "flask" / "__init__.py").write_text("")
        (path.parent / "README.md").write_text("")
        (path.parent / "LICENSE.txt").write_text("")
    env = pipfresh_env(tmp_path)
    env["PIPFRESH_CACHE_DIR"] = str(tmp_path / "cache")  # shared by both runs
    args = ("bump", path, "--index-url", PYPI, "--python", sys.executable)
    before = {d.path: d for d in read_files([path], path.parent)}

    written = run_pipfresh(*args, "-w", "--format", "json", env=env, cwd=path.parent)
    assert written.returncode == 0, describe(written)
    document = json.loads(written.stdout)
    assert document["summary"]["changes"] > 0, "nothing to bump on PyPI: the corpus is stale?"

    after = {d.path: d for d in read_files([path], path.parent)}
    assert list(after) == list(before)
    for file, old in before.items():
        new = after[file]
        assert outside_specifiers(new) == outside_specifiers(old), file.name
        assert [(p.name, p.marker, p.extras) for p in new.pins] == [
            (p.name, p.marker, p.extras) for p in old.pins
        ]
        for old_pin, new_pin in zip(old.pins, new.pins, strict=True):
            if old_pin.hashes and new_pin.specifier != old_pin.specifier:
                assert new_pin.hashes, new_pin.name  # a hashed pin stays hashed

    resolved = pip(*pip_args, cwd=path.parent)
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    assert "Would install" in resolved.stdout

    again = run_pipfresh(*args, "--exit-code", env=env, cwd=path.parent)
    assert again.returncode == 0, describe(again)
    assert {d.path: d.text for d in read_files([path], path.parent)} == {
        f: d.text for f, d in after.items()
    }
