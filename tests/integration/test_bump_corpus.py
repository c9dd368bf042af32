"""Round trips of ``bump`` over the real corpus (tests/fixtures/bump/real/, see
SOURCES.md) against a local index: the engine looks every project up on 127.0.0.1,
writes, and then

* the files differ from the originals on exactly the expected lines, and on each of
  them only in the specifier's version text (hashed lines: also in their ``--hash``
  options, which now name exactly the new release's files);
* the files parse again with the same requirements (names, sections, extras, markers);
* a second bump proposes nothing;
* pip resolves the rewritten files (``--dry-run --no-deps``, hash-checking mode for the
  pip-compile output) from the same wheels, isolated from this machine's pip setup.

The index gives each project one newer release: the next major after the highest
major its pins name (``>=1.9.0`` -> 2.0.0, ``<10`` -> 11.0.0), 1.0.0 for a name with no
version, each release as two wheels (so a hashed line gets two sorted hashes).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet

from integration.test_scan_helpers import pipfresh_env
from pipfresh._bump.engine import apply, bump
from pipfresh._bump.files import read_files
from pipfresh._bump.model import Pin
from pipfresh.settings import UpgradeConfig
from support.index_server import IndexServer
from support.venvs import pip_dry_run_offline
from support.wheels import build_wheel

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "bump" / "real"
TAGS = ("py3-none-any", "py2.py3-none-any")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Case:
    root: str  # relative to real/: the file named to bump
    expected: dict[tuple[str, int], tuple[str, str]]  # (file, line) -> (package, new spec)
    pip_check: bool  # whether pip resolves the rewritten root


def _sigstore_expected() -> dict[tuple[str, int], tuple[str, str]]:
    # every pin is ==X.Y.Z and moves to ==(X+1).0.0: written from the file, not the engine
    text = (REAL / "sigstore-python" / "requirements.txt").read_text()
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^([a-z0-9-]+)==(\d+)[.\d]* \\$", line)
        if match:
            out[("requirements.txt", number)] = (match[1], f"=={int(match[2]) + 1}.0.0")
    assert len(out) == 32
    return out


CASES = [
    Case(
        "flask/pyproject.toml",
        {
            ("pyproject.toml", 24): ("blinker", ">=2.0.0"),
            ("pyproject.toml", 25): ("click", ">=9.0.0"),
            ("pyproject.toml", 26): ("importlib-metadata", ">=4.0.0"),
            ("pyproject.toml", 27): ("itsdangerous", ">=3.0.0"),
            ("pyproject.toml", 28): ("jinja2", ">=4.0.0"),
            ("pyproject.toml", 29): ("markupsafe", ">=3.0.0"),
            ("pyproject.toml", 30): ("werkzeug", ">=4.0.0"),
            ("pyproject.toml", 34): ("asgiref", ">=4.0"),  # [project.optional-dependencies]
            ("pyproject.toml", 87): ("flit_core", "<6"),  # [build-system] requires
        },
        pip_check=False,  # its build backend is flit_core, which the local wheels are not
    ),
    Case("sigstore-python/requirements.txt", _sigstore_expected(), pip_check=True),
    Case(
        "aiohttp/requirements/constraints.in",
        {
            ("test.in", 7): ("proxy.py", ">= 3.0.0"),
            ("broken-projects.in", 1): ("Pillow", "< 12"),
            ("runtime-deps.in", 3): ("aiodns", ">= 4.0.0"),
            ("runtime-deps.in", 4): ("aiohappyeyeballs", ">= 3.0.0"),
            ("runtime-deps.in", 5): ("aiosignal", ">= 2.0.0"),
            ("runtime-deps.in", 6): ("async-timeout", ">= 6.0, < 7.0"),
            ("runtime-deps.in", 9): ("frozenlist", ">= 2.0.0"),
            ("runtime-deps.in", 10): ("multidict", ">=8.0, < 9.0"),
            ("runtime-deps.in", 11): ("yarl", ">= 3.0.0, < 4.0"),
        },
        pip_check=True,
    ),
]


def _majors(specifier: str) -> list[int]:
    return [int(spec.version.split(".")[0]) for spec in SpecifierSet(specifier)]


def newest(pins: list[Pin]) -> str:
    """The one release the local index has of a project: the next major after every
    major its pins name."""
    majors = [m for pin in pins for m in _majors(pin.specifier)]
    return f"{max(majors) + 1}.0.0" if majors else "1.0.0"


def corpus_pins() -> dict[str, list[Pin]]:
    by_name: dict[str, list[Pin]] = {}
    for case in CASES:
        root = REAL / case.root
        for dep in read_files([root], root.parent):
            for pin in dep.pins:
                if pin.leave_alone in (None, "unversioned"):
                    by_name.setdefault(pin.canonical, []).append(pin)
    return by_name


@dataclass
class Index:
    server: IndexServer
    wheels: Path
    digests: dict[str, set[str]]  # canonical name -> sha256 of its release's files
    version: dict[str, str]  # canonical name -> its release


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    wheels = tmp_path_factory.mktemp("corpus-wheels")
    digests: dict[str, set[str]] = {}
    versions: dict[str, str] = {}
    with IndexServer() as server:
        for name, pins in sorted(corpus_pins().items()):
            versions[name] = newest(pins)
            for tag in TAGS:
                entry = server.add(build_wheel(wheels, name, versions[name], tag=tag))
                digests.setdefault(name, set()).add(entry.sha256)
        yield Index(server, wheels, digests, versions)


def without_hashes(text: str) -> list[tuple[int, str]]:
    """(line number, text) of the file's lines with every --hash option taken out, the
    lines that held nothing else dropped."""
    out = []
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        stripped = _HASH.sub("", line)
        if stripped != line and not stripped.strip(" \t\\\r\n"):
            continue
        out.append((number, stripped))
    return out


def run_bump(root: Path, index: Index, tmp_path: Path, *, write: bool) -> object:
    config = UpgradeConfig(index_url=index.server.url, cache_dir=str(tmp_path / "cache"))
    report = bump(
        [root],
        config,
        python_version="3.12",
        cwd=root.parent,
        environ=pipfresh_env(tmp_path),
    )
    assert report.errors == ()
    if write:
        apply(report)
    return report


@pytest.mark.parametrize("case", CASES, ids=[c.root.split("/")[0] for c in CASES])
def test_bump_w_changes_only_version_text_and_a_second_bump_is_a_no_op(
    case: Case, index: Index, tmp_path: Path
) -> None:
    top = case.root.split("/")[0]
    shutil.copytree(REAL / top, tmp_path / top)
    root = tmp_path / case.root
    before = {d.path: d for d in read_files([root], root.parent)}

    run_bump(root, index, tmp_path, write=True)

    after = {d.path: d for d in read_files([root], root.parent)}  # parses again
    assert list(after) == list(before)
    changed: dict[tuple[str, int], tuple[str, str]] = {}
    for path, old in before.items():
        new = after[path]
        assert [(p.name, p.section, p.extras, p.marker) for p in new.pins] == [
            (p.name, p.section, p.extras, p.marker) for p in old.pins
        ]
        # a hashed line's shorter --hash list moves the lines after it: pair by order
        now_of = {o.line: (o, n) for o, n in zip(old.pins, new.pins, strict=True)}
        old_lines, new_lines = without_hashes(old.text), without_hashes(new.text)
        assert len(old_lines) == len(new_lines)
        for (number, a), (_, b) in zip(old_lines, new_lines, strict=True):
            if a == b:
                continue
            pin, moved = now_of[number]
            # the only difference is the specifier text: every other byte is as it was
            assert a.replace(pin.specifier, moved.specifier, 1) == b
            changed[(path.name, number)] = (pin.name, moved.specifier)
        # a hashed pin that moved names exactly the new release's files, sorted as
        # pip-compile writes them; one that did not keeps its hashes
        for pin, moved in now_of.values():
            if not pin.hashes:
                continue
            texts = [new.text[s.start : s.end] for s in moved.hashes]
            digests = {t.removeprefix("--hash=sha256:") for t in texts}
            if (path.name, pin.line) in changed:
                assert digests == index.digests[pin.canonical]
                assert texts == sorted(texts)
            else:
                assert digests == {
                    old.text[s.start : s.end].removeprefix("--hash=sha256:") for s in pin.hashes
                }
    assert changed == case.expected

    again = run_bump(root, index, tmp_path, write=False)
    assert again.changes == ()  # type: ignore[attr-defined]
    assert {d.path: d.text for d in read_files([root], root.parent)} == {
        p: d.text for p, d in after.items()
    }


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.pip_check], ids=lambda c: c.root.split("/")[0]
)
def test_pip_resolves_the_rewritten_files(case: Case, index: Index, tmp_path: Path) -> None:
    top = case.root.split("/")[0]
    shutil.copytree(REAL / top, tmp_path / top)
    root = tmp_path / case.root
    run_bump(root, index, tmp_path, write=True)
    result = pip_dry_run_offline(root, index.wheels, "--no-deps", cwd=root.parent)
    assert result.returncode == 0, result.stderr
    (would,) = [line for line in result.stdout.splitlines() if line.startswith("Would install")]
    installed = set(would.removeprefix("Would install ").split())
    # what pip installs: the requirements (not the -c constraints) whose marker holds
    # for the Python running pip, this one
    requested = {
        pin.canonical
        for dep in read_files([root], root.parent)
        if dep.kind == "requirements"
        for pin in dep.pins
        if pin.marker is None or Marker(pin.marker).evaluate()
    }
    assert len(installed) == len(requested) > 0
    for item in installed:
        name, _, version = item.rpartition("-")
        canonical = name.lower().replace("_", "-").replace(".", "-")
        assert index.version[canonical] == version, item
