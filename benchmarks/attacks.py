#!/usr/bin/env python3
"""Issue 13's attack table, re-run as a user runs pipfresh.

    .venv/bin/python benchmarks/attacks.py [--only SUBSTRING ...] [--record] [--keep]

Each row starts the hostile index of the tests (``tests/support/index_server.py``) on
127.0.0.1, builds what its attack needs (real wheels from ``tests/support/wheels.py``,
real venvs), and runs the real CLI, ``python -m pipfresh ...``, as a subprocess cut off
from this machine's pip configuration (``PIP_CONFIG_FILE=/dev/null``, no ``PIP_*`` /
``UV_*`` / ``PIPFRESH_*`` variables, its own ``--cache-dir`` under a scratch folder).

pipfresh runs under a tiny launcher that forks and execs it, waits, and reports
``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the peak RSS of the largest process of the
pipfresh tree (pipfresh itself, its installer, its interpreter probe), not of this
script. A row is **ok** when the exit status is the one expected, the output holds no
``Traceback`` nor ``internal error`` nor a raw control character (ESC, BEL, NUL, ...),
the row's own check passes (the right answer, nothing changed, no request, ...),
peak RSS < 200 MB and wall time < 600 s (the per-run deadline).

Prints a markdown table; ``--record`` appends it to RESULTS.md. Exits 1 when a row is
not ok.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import REPO_DIR, append_result

sys.path.insert(0, str(REPO_DIR / "tests"))

from support.index_server import JSON_TYPE, IndexServer, bomb
from support.venvs import Venv, clean_env, freeze, install, make_venv
from support.wheels import build_wheel

RSS_LIMIT_MB = 200
RUN_DEADLINE = 600.0  # seconds: the per-run deadline of the issue
NOBODY = 65534

#: Forks pipfresh, waits, reports the peak RSS of the tree it waited for (stderr tail).
LAUNCHER = """
import os, resource, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "pipfresh", *sys.argv[1:]])
_, status = os.waitpid(pid, 0)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"\\nPEAK_RSS_KB={peak}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""

#: Control characters that must never reach a terminal from untrusted data.
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")


@dataclass
class Run:
    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    rss_mb: float
    requests: int  # requests the row's server saw during this run

    @property
    def first_line(self) -> str:
        for line in self.stderr.splitlines():
            if line.strip():
                return line.strip()
        try:  # --format json: the first error of the document
            errors = json.loads(self.stdout).get("errors") or []
            return "(json) " + str(errors[0].get("reason", errors[0]))
        except (ValueError, AttributeError, IndexError, TypeError):
            pass
        for line in self.stdout.splitlines():
            if line.strip():
                return "(stdout) " + line.strip()
        return ""


@dataclass
class Lab:
    """One row's scratch folder, index server, and helpers."""

    root: Path
    server: IndexServer
    cache: Path
    env: dict[str, str]
    runs: list[Run] = field(default_factory=list)
    built: int = 0

    def venv(self, name: str = "venv") -> Venv:
        return make_venv(self.root / name)

    def wheel(self, name: str, version: str, **options: object) -> Path:
        self.built += 1
        folder = self.root / "wheels" / str(self.built)
        return build_wheel(folder, name, version, **options)  # type: ignore[arg-type]

    def installed(self, *wheels: Path, name: str = "venv") -> Venv:
        """A venv with these wheels really installed (RECORD and all) by uv, from the
        index (a wheel installed from a path is a direct-URL install, never updated)."""
        venv = self.venv(name)
        pins = []
        for wheel in wheels:
            entry = self.server.add(wheel)
            pins.append(f"{entry.project}=={entry.version}")
        install(venv, *pins, index_url=self.server.url, extra_args=["--no-deps"])
        return venv

    def pipfresh(self, *args: str | os.PathLike[str], env: dict[str, str] | None = None) -> Run:
        argv = [str(a) for a in args]
        before = self.server.total_requests
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, *argv],
            env=env or self.env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="surrogateescape",
            start_new_session=True,  # a timeout kills the whole tree
        )
        try:
            stdout, stderr = proc.communicate(timeout=RUN_DEADLINE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        seconds = time.monotonic() - started
        stderr, _, peak = stderr.rpartition("\nPEAK_RSS_KB=")
        rss = int(peak.strip() or 0) / 1024
        run = Run(argv, proc.returncode, stdout, stderr, seconds, rss, 0)
        run.requests = self.server.total_requests - before
        self.runs.append(run)
        return run


@dataclass(frozen=True)
class Verdict:
    run: Run
    expect: tuple[int, ...]
    problems: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Row:
    title: str
    attack: Callable[[Lab], Verdict]


ROWS: list[Row] = []


def row(title: str) -> Callable[[Callable[[Lab], Verdict]], Callable[[Lab], Verdict]]:
    def register(function: Callable[[Lab], Verdict]) -> Callable[[Lab], Verdict]:
        ROWS.append(Row(title, function))
        return function

    return register


def verdict(run: Run, expect: Sequence[int], *problems: str | None, note: str = "") -> Verdict:
    return Verdict(run, tuple(expect), tuple(p for p in problems if p), note)


def check(condition: bool, problem: str) -> str | None:
    return None if condition else problem


def documented(run: Run) -> dict[str, object] | None:
    try:
        document = json.loads(run.stdout)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def latest_of(run: Run) -> dict[str, str]:
    document = documented(run) or {}
    packages = document.get("packages", [])
    assert isinstance(packages, list)
    return {p["name"]: p["latest"] for p in packages}


def fake_dist(venv: Venv, name: str, version: str, metadata: bytes | None = None) -> None:
    """A bare ``.dist-info`` (enough for a scan; an update needs a real install)."""
    folder = venv.site_packages / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    text = metadata or f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
    (folder / "METADATA").write_bytes(text)


def page(name: str, files: list[dict[str, object]]) -> bytes:
    return json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files}).encode()


def scan(lab: Lab, venv: Venv, *extra: str) -> Run:
    return lab.pipfresh(
        "--python", venv.path, "-i", lab.server.url, "--cache-dir", lab.cache,
        "--timeout", "5", "--format", "json", *extra,
    )  # fmt: skip


def update(lab: Lab, venv: Venv, *extra: str) -> Run:
    return lab.pipfresh(
        "update", "--python", venv.path, "-i", lab.server.url, "--cache-dir", lab.cache,
        "--timeout", "5", *extra,
    )  # fmt: skip


def demo_update(lab: Lab) -> tuple[Venv, dict[str, str]]:
    """demo 1.0 really installed; demo 2.0 on the index. (venv, freeze before)."""
    venv = lab.installed(lab.wheel("demo", "1.0"))
    lab.server.add(lab.wheel("demo", "2.0"))
    return venv, freeze(venv)


def unchanged(venv: Venv, before: dict[str, str]) -> str | None:
    after = freeze(venv)
    return check(after == before, f"environment changed: {before} -> {after}")


def no_stray_state(venv: Venv) -> str | None:
    state = venv.site_packages / ".pipfresh-update"
    journal = state / "journal.json"
    return check(not journal.exists(), f"journal kept at {journal}")


# --------------------------------------------------------------------------------------
# unbounded memory and time
# --------------------------------------------------------------------------------------


@row("gzip page, 8 MB sent, 8 GiB decoded (scan)")
def gzip_bomb(lab: Lab) -> Verdict:
    venv = lab.venv()
    fake_dist(venv, "demo", "1.0")
    fake_dist(venv, "other", "1.0")
    lab.server.add_bytes("other-2.0-py3-none-any.whl", b"wheel")
    lab.server.add_project("demo")
    lab.server.respond("demo", bomb("gzip", 8 << 30), headers={"Content-Encoding": "gzip"})
    run = scan(lab, venv)
    return verdict(
        run,
        [3],
        check(latest_of(run) == {"other": "2.0"}, "the other project was not answered"),
        check("page larger than 64 MB decoded" in run.stdout, "no 'page larger' error"),
    )


@row("brotli page (Content-Encoding: br, not asked for)")
def brotli(lab: Lab) -> Verdict:
    venv = lab.venv()
    fake_dist(venv, "demo", "1.0")
    lab.server.add_project("demo")
    # brotli is not in the client's Accept-Encoding (gzip, deflate), so any br body,
    # a bomb or not, must be refused undecoded: these bytes stand for a 6.5 KB bomb.
    lab.server.respond("demo", os.urandom(6500), headers={"Content-Encoding": "br"})
    run = scan(lab, venv)
    asked = [r.headers.get("accept-encoding") for r in lab.server.requests]
    return verdict(
        run,
        [3],
        check("unsupported Content-Encoding 'br'" in run.stdout, "br not refused"),
        check(all(a and "br" not in a for a in asked), f"br was asked for: {asked}"),
        note=f"Accept-Encoding sent: {asked[0] if asked else None}",
    )


@row("2 GiB page with its Content-Length (scan)")
def huge_page(lab: Lab) -> Verdict:
    venv = lab.venv()
    fake_dist(venv, "demo", "1.0")
    lab.server.add_project("demo")
    lab.server.stream("demo", 2 << 30)
    run = scan(lab, venv)
    return verdict(run, [3], check("page larger than 64 MB" in run.stdout, "no size error"))


@row("2 GiB chunked page, no Content-Length (scan)")
def huge_chunked_page(lab: Lab) -> Verdict:
    venv = lab.venv()
    fake_dist(venv, "demo", "1.0")
    lab.server.add_project("demo")
    lab.server.stream("demo", 2 << 30, chunked=True)
    run = scan(lab, venv)
    return verdict(run, [3], check("page larger than 64 MB" in run.stdout, "no size error"))


@row("2 GiB wheel download (`update -y`)")
def huge_wheel(lab: Lab) -> Verdict:
    venv, before = demo_update(lab)
    lab.server.stream("/files/demo-2.0-py3-none-any.whl", 2 << 30, content_type="x/y")
    run = update(lab, venv, "-y")
    return verdict(run, [3], unchanged(venv, before), no_stray_state(venv))


@row("2 GiB chunked wheel download (`update -y`)")
def huge_chunked_wheel(lab: Lab) -> Verdict:
    venv, before = demo_update(lab)
    lab.server.stream("/files/demo-2.0-py3-none-any.whl", 2 << 30, chunked=True)
    run = update(lab, venv, "-y")
    return verdict(run, [3], unchanged(venv, before), no_stray_state(venv))


def zip_bomb_wheel(name: str, version: str, decoded: int) -> bytes:
    """A wheel whose METADATA inflates to ``decoded`` zero bytes (true size declared)."""
    import struct

    member = f"{name}-{version}.dist-info/METADATA".encode()
    gz = bomb("gzip", decoded)
    data = gz[10:-8]
    crc = struct.unpack("<I", gz[-8:-4])[0]
    size = decoded & 0xFFFFFFFF
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(member), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        *(0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size, len(member)),
        *(0, 0, 0, 0, 0, 0),
    )
    body = local + member + data
    directory = central + member
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


@row("zip-bomb METADATA, 3 MB wheel, 3 GiB inflated (`update --dry-run`)")
def zip_bomb(lab: Lab) -> Verdict:
    venv, before = demo_update(lab)
    lab.server.remove("demo-2.0-py3-none-any.whl")
    lab.server.pep658 = False
    lab.server.add_bytes("demo-2.0-py3-none-any.whl", zip_bomb_wheel("demo", "2.0", 3 << 30))
    run = update(lab, venv, "--dry-run")
    return verdict(
        run,
        [0, 3],
        check("larger than 16 MB decoded" in run.stdout + run.stderr, "no size error"),
        unchanged(venv, before),
    )


@row("1 byte/s drip, `--timeout 5` (scan)")
def drip(lab: Lab) -> Verdict:
    venv = lab.venv()
    fake_dist(venv, "demo", "1.0")
    lab.server.add_project("demo")
    lab.server.drip("demo", interval=1.0, chunk=1, body=b" " * 10_000)
    run = scan(lab, venv)
    return verdict(
        run,
        [3],
        check(run.seconds < 30, f"not cut by the request deadline ({run.seconds:.0f} s)"),
        check("no complete answer within 15 s" in run.stdout, "no deadline error"),
    )


@row("20,000 Requires-Dist entries (`update --dry-run`)")
def many_requirements(lab: Lab) -> Verdict:
    venv = lab.installed(lab.wheel("demo", "1.0"))
    before = freeze(venv)
    requires = [f"dep{i:05d}>=1" for i in range(20_000)]
    lab.server.add(lab.wheel("demo", "2.0", requires=requires))
    # Every one exists, a real wheel with PEP 658 metadata, as on real projects: each
    # is a page (and a metadata file) the planner could ask for.
    for i in range(20_000):
        lab.server.add(lab.wheel(f"dep{i:05d}", "1.0"))
    run = update(lab, venv, "--dry-run")
    return verdict(
        run,
        [0, 3],
        unchanged(venv, before),
        check(run.requests < 2_000, f"{run.requests} requests: the budget did not bound them"),
        note=f"{run.requests} requests",
    )


# --------------------------------------------------------------------------------------
# remote pages pointing at local files
# --------------------------------------------------------------------------------------


def local_link(lab: Lab, url: str) -> Verdict:
    venv, before = demo_update(lab)
    served = lab.server.files("demo")
    listed = [
        {"filename": f.filename, "url": lab.server.file_url(f.filename), "hashes": {}}
        for f in served
    ]
    listed.append({"filename": "demo-3.0-py3-none-any.whl", "url": url, "hashes": {}})
    lab.server.respond("demo", page("demo", listed), content_type=JSON_TYPE)
    run = update(lab, venv, "--dry-run", "--format", "json")
    document = documented(run) or {}
    plan = document.get("plan", {})
    after = {c["name"]: c["after"] for c in plan.get("changes", [])} if plan else {}
    return verdict(
        run,
        [0],
        check(after == {"demo": "2.0"}, f"plan {after}, not demo -> 2.0 (3.0 must be ignored)"),
        unchanged(venv, before),
    )


@row('`"url": "file:///dev/zero"` in a remote JSON page (`update --dry-run`)')
def dev_zero(lab: Lab) -> Verdict:
    return local_link(lab, "file:///dev/zero")


@row("a FIFO as a `file://` link in a remote JSON page (`update --dry-run`)")
def fifo_link(lab: Lab) -> Verdict:
    fifo = lab.root / "fifo.whl"
    os.mkfifo(fifo)
    return local_link(lab, fifo.as_uri())


# --------------------------------------------------------------------------------------
# the terminal trusts the index
# --------------------------------------------------------------------------------------

ANSI = "\x1b]0;pwned\x07\x1b[2J\x1b[HAll packages verified OK"


@row("ANSI escapes in a filename's build tag (`update -y`, table)")
def ansi_filename(lab: Lab) -> Verdict:
    venv, _before = demo_update(lab)
    filename = f"demo-3.0-1{ANSI}-py3-none-any.whl"
    lab.server.add_bytes(filename, b"not a wheel", project="demo")
    run = update(lab, venv, "-y", "-v")
    return verdict(run, [0, 3, 4])


@row("ANSI escapes in a hash (`update -y`, table)")
def ansi_hash(lab: Lab) -> Verdict:
    venv, before = demo_update(lab)
    wheel = lab.server.files("demo")
    newest = next(f for f in wheel if f.version == "2.0")
    lab.server.remove(newest.filename)
    lab.server.add_bytes(newest.filename, newest.data, hashes={"sha256": ANSI})
    run = update(lab, venv, "-y", "-v")
    return verdict(run, [3], unchanged(venv, before))


@row("ANSI escapes in an installed Name (scan, table)")
def ansi_installed_name(lab: Lab) -> Verdict:
    venv = lab.venv()
    name = f"evil{ANSI}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\n".encode()
    fake_dist(venv, "evil", "1.0", metadata=metadata)
    fake_dist(venv, "demo", "1.0")
    lab.server.add_bytes("demo-2.0-py3-none-any.whl", b"wheel")
    run = lab.pipfresh("--python", venv.path, "-i", lab.server.url, "--cache-dir", lab.cache, "-v")
    return verdict(run, [0, 3], check("demo" in run.stdout, "demo not listed"))


@row("NUL in a wheel's build tag (scan and `update --dry-run`)")
def nul_build_tag(lab: Lab) -> Verdict:
    venv, before = demo_update(lab)
    lab.server.add_bytes("demo-3.0-1\x00x-py3-none-any.whl", b"not a wheel", project="demo")
    first = scan(lab, venv)
    run = update(lab, venv, "--dry-run")
    return verdict(
        run,
        [0, 3],
        check(
            first.code in (0, 3) and "internal error" not in first.stderr,
            f"scan: exit {first.code}: {first.first_line[:80]}",
        ),
        unchanged(venv, before),
        note=f"scan: exit {first.code}",
    )


# --------------------------------------------------------------------------------------
# the update's state is not owned
# --------------------------------------------------------------------------------------


def planted_journal(venv: Venv, canary: Path, **override: object) -> dict[str, object]:
    """A journal an attacker would plant: restore removes the canary, reinstalls..."""
    document: dict[str, object] = {
        "format": 2,
        "pipfresh_version": "0",
        "prefix": str(venv.path),
        "python": str(venv.python),
        "started": "2026-01-01T00:00:00+00:00",
        "pid": 1,
        "before": {"demo": "1.0"},
        "metadata": [],
        "planned": ["demo"],
        "kept": [],
        "clear": [str(canary)],
    }
    document.update(override)
    return document


@row("a journal planted in a shared cache (old `updates/<digest>/` place, `update -y`)")
def journal_in_cache(lab: Lab) -> Verdict:
    venv, _before = demo_update(lab)
    canary = lab.root / "canary"
    canary.write_text("keep me")
    digest = hashlib.sha256(str(venv.path.resolve()).encode()).hexdigest()[:24]
    for folder in (lab.cache / "updates" / digest, lab.cache):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "journal.json").write_text(json.dumps(planted_journal(venv, canary)))
    run = update(lab, venv, "-y")
    return verdict(
        run,
        [0],
        check(freeze(venv).get("demo") == "2.0", "demo not updated"),
        check(canary.exists(), "the canary named by the planted journal was removed"),
    )


def plant_in_state(venv: Venv, document: dict[str, object], *, owner: int | None) -> Path:
    state = venv.site_packages / ".pipfresh-update"
    state.mkdir(mode=0o700, exist_ok=True)
    journal = state / "journal.json"
    journal.write_text(json.dumps(document))
    journal.chmod(0o600)
    if owner is not None:
        os.chown(journal, owner, owner)
    return journal


@row("a journal owned by `nobody` in the env state folder (`update -y`)")
def journal_foreign(lab: Lab) -> Verdict:
    venv, before = demo_update(lab)
    canary = venv.site_packages / "canary.txt"
    canary.write_text("keep me")
    plant_in_state(venv, planted_journal(venv, canary), owner=NOBODY)
    run = update(lab, venv, "-y")
    return verdict(
        run,
        [2, 3],
        check(canary.exists(), "the canary named by the planted journal was removed"),
        unchanged(venv, before),
    )


@row("a journal of ours in the env state folder naming a path outside (`update -y`)")
def journal_outside(lab: Lab) -> Verdict:
    venv, before = demo_update(lab)
    canary = lab.root / "outside-canary.txt"
    canary.write_text("keep me")
    document = planted_journal(venv, canary, kept=[[str(canary), "../../x", False]])
    plant_in_state(venv, document, owner=None)
    run = update(lab, venv, "-y")
    return verdict(
        run,
        [2, 3],
        check(canary.exists(), "the canary outside the environment was removed"),
        unchanged(venv, before),
    )


@row("a journal of ours naming a symlink out (`clear` through a link, `update -y`)")
def journal_symlink(lab: Lab) -> Verdict:
    venv, _before = demo_update(lab)
    outside = lab.root / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text("keep me")
    link = venv.site_packages / "sneaky"
    link.symlink_to(outside)
    document = planted_journal(venv, outside, clear=[str(link / "canary.txt")])
    plant_in_state(venv, document, owner=None)
    run = update(lab, venv, "-y")
    return verdict(
        run,
        [0, 2, 3],
        check((outside / "canary.txt").exists(), "removed a file through a symlink"),
    )


def warm(lab: Lab) -> Venv:
    venv = lab.venv()
    fake_dist(venv, "demo", "1.0")
    lab.server.add_bytes("demo-1.0-py3-none-any.whl", b"wheel")
    lab.server.add_bytes("demo-2.0-py3-none-any.whl", b"wheel")
    return venv


@row("world-writable cache (`chmod o+w`; scan, then `cache clear`)")
def cache_world_writable(lab: Lab) -> Verdict:
    venv = warm(lab)
    assert scan(lab, venv).code == 0
    lab.cache.chmod(lab.cache.stat().st_mode | stat.S_IWOTH)
    entries = sorted(lab.cache.rglob("*"))
    first = scan(lab, venv)
    run = lab.pipfresh("cache", "clear", "--cache-dir", lab.cache)
    return verdict(
        run,
        [2],
        check(first.code == 0 and latest_of(first) == {"demo": "2.0"}, "scan: wrong answer"),
        check("writable by others" in first.stderr, "scan did not say why the cache is unused"),
        check(sorted(lab.cache.rglob("*")) == entries, "cache clear removed something"),
        note=f"scan: exit {first.code}, {first.first_line[:70]}",
    )


@row("cache owned by `nobody` (scan, then `cache clear`)")
def cache_foreign(lab: Lab) -> Verdict:
    venv = warm(lab)
    assert scan(lab, venv).code == 0
    os.chown(lab.cache, NOBODY, NOBODY)
    entries = sorted(lab.cache.rglob("*"))
    first = scan(lab, venv)
    run = lab.pipfresh("cache", "clear", "--cache-dir", lab.cache)
    return verdict(
        run,
        [2],
        check(first.code == 0 and latest_of(first) == {"demo": "2.0"}, "scan: wrong answer"),
        check("owned by uid 65534" in first.stderr, "scan did not say why the cache is unused"),
        check(sorted(lab.cache.rglob("*")) == entries, "cache clear removed something"),
        note=f"scan: exit {first.code}",
    )


@row("symlinked cache folder (`--cache-dir link -> folder`), `cache clear`")
def cache_symlinked_root(lab: Lab) -> Verdict:
    venv = warm(lab)
    real = lab.root / "elsewhere"
    real.mkdir()
    (real / "precious.txt").write_text("keep me")
    link = lab.root / "link-cache"
    link.symlink_to(real)
    first = lab.pipfresh(
        "--python", venv.path, "-i", lab.server.url, "--cache-dir", link, "--format", "json"
    )
    run = lab.pipfresh("cache", "clear", "--cache-dir", link)
    return verdict(
        run,
        [0, 2],
        check((real / "precious.txt").exists(), "cache clear deleted a file in the target"),
        check(first.code == 0, f"scan: exit {first.code}"),
        note=f"scan: exit {first.code}",
    )


@row("symlinked folders inside the cache, `cache clear`")
def cache_symlinked_inside(lab: Lab) -> Verdict:
    venv = warm(lab)
    assert scan(lab, venv).code == 0
    real = lab.root / "elsewhere"
    real.mkdir()
    (real / "precious.txt").write_text("keep me")
    for child in list(lab.cache.iterdir()):
        if child.is_dir():
            shutil.rmtree(child)
            child.symlink_to(real)
    run = lab.pipfresh("cache", "clear", "--cache-dir", lab.cache)
    return verdict(
        run, [0, 2], check((real / "precious.txt").exists(), "cache clear followed a link")
    )


@row("FIFOs as cache entry and stats file (scan, `cache info`, `cache clear`)")
def cache_fifos(lab: Lab) -> Verdict:
    venv = warm(lab)
    assert scan(lab, venv).code == 0
    replaced = 0
    for path in list(lab.cache.rglob("*")):
        if path.is_file() and (path.suffix == ".entry" or path.name.startswith("stats")):
            path.unlink()
            os.mkfifo(path, 0o600)
            replaced += 1
    first = scan(lab, venv)
    info = lab.pipfresh("cache", "info", "--cache-dir", lab.cache)
    run = lab.pipfresh("cache", "clear", "--cache-dir", lab.cache)
    return verdict(
        run,
        [0],
        check(replaced >= 2, f"only {replaced} files replaced by FIFOs"),
        check(first.code == 0 and latest_of(first) == {"demo": "2.0"}, "scan: wrong answer"),
        check(info.code == 0, f"cache info: exit {info.code}"),
        note=f"{replaced} FIFOs; scan {first.seconds:.1f} s, info {info.seconds:.1f} s",
    )


@row("FIFO as the journal in the env state folder (`update -y`)")
def journal_fifo(lab: Lab) -> Verdict:
    venv, before = demo_update(lab)
    state = venv.site_packages / ".pipfresh-update"
    state.mkdir(mode=0o700)
    os.mkfifo(state / "journal.json", 0o600)
    first = scan(lab, venv)
    run = update(lab, venv, "-y")
    return verdict(
        run,
        [2, 3],
        unchanged(venv, before),
        check(first.code == 0, f"scan: exit {first.code}"),
        note=f"scan: exit {first.code}, {first.first_line[:60]}",
    )


# --------------------------------------------------------------------------------------
# misleading failures
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def mounted(*command: str, target: Path) -> Iterator[str | None]:
    """Run a mount command; yield None when mounted, else why not; unmount after."""
    made = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if made.returncode != 0:
        yield (made.stderr or made.stdout).strip() or f"exit {made.returncode}"
        return
    try:
        yield None
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


@row("read-only site-packages (bind mount `ro`, `update -y`)")
def read_only_site(lab: Lab) -> Verdict:
    venv, before = demo_update(lab)
    site = venv.site_packages
    with mounted("mount", "--bind", str(site), str(site), target=site) as bind_failed:
        failed = bind_failed
        if failed is None:
            remount = ["mount", "-o", "remount,bind,ro", str(site)]
            again = subprocess.run(remount, capture_output=True, text=True, check=False)
            failed = again.stderr.strip() if again.returncode else None
        if failed is not None:
            return skipped(lab, f"cannot make a read-only mount: {failed}")
        run = update(lab, venv, "-y")
        journal = (site / ".pipfresh-update" / "journal.json").exists()
    return verdict(
        run,
        [3],
        unchanged(venv, before),
        check(not journal, "journal kept"),
        check("writ" in run.stderr.lower(), "the error does not say it is not writable"),
    )


@row("full disk: site-packages on a 2 MB tmpfs, a 1.5 MB wheel (`update -y`)")
def full_disk(lab: Lab) -> Verdict:
    venv = lab.venv()
    site = venv.site_packages
    saved = lab.root / "site-saved"
    shutil.copytree(site, saved, symlinks=True)
    with mounted("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(site), target=site) as why:
        if why is not None:
            return skipped(lab, f"mount -t tmpfs failed: {why}")
        for child in saved.iterdir():
            if child.is_dir():
                shutil.copytree(child, site / child.name, symlinks=True)
            else:
                shutil.copy2(child, site / child.name)
        lab.server.add(lab.wheel("demo", "1.0"))
        install(venv, "demo==1.0", index_url=lab.server.url, extra_args=["--no-deps"])
        before = freeze(venv)
        # Random bytes do not compress: the wheel is as large as what it installs.
        payload = os.urandom(1_100_000).hex()[:1_500_000]
        lab.server.add(lab.wheel("demo", "2.0", files={"demo/blob.py": f"B = {payload!r}\n"}))
        run = update(lab, venv, "-y")
        after = freeze(venv)
        stray = sorted(p.name for p in site.glob("demo-2.0*"))
        journal = (site / ".pipfresh-update" / "journal.json").exists()
    return verdict(
        run,
        [3],
        check(after == before, f"environment changed: {before} -> {after}"),
        check(not stray, f"stray {stray}"),
        check(not journal, "journal kept"),
        check("room" in run.stderr or "space" in run.stderr, "the error does not say 'room'"),
    )


@row("`update --offline` with a warm cache (requests counted at the server)")
def offline(lab: Lab) -> Verdict:
    venv, _before = demo_update(lab)
    warmed = update(lab, venv, "--dry-run")
    runs = [
        update(lab, venv, "--offline", "--dry-run"),
        update(lab, venv, "--offline", "-y"),
        lab.pipfresh("--python", venv.path, "--offline", "--cache-dir", lab.cache),
        lab.pipfresh("cache", "info", "--cache-dir", lab.cache),
    ]
    codes = [r.code for r in runs]
    asked = sum(r.requests for r in runs)
    run = runs[1]
    return verdict(
        run,
        [0, 3],
        check(asked == 0, f"{asked} requests while offline"),
        check(all(c in (0, 1, 3) for c in codes), f"exit codes {codes}"),
        note=f"warm-up exit {warmed.code}; offline exits {codes}; {asked} requests",
    )


@row("a password with `/` and `#` in `-i` (never printed)")
def password(lab: Lab) -> Verdict:
    venv = lab.venv()
    fake_dist(venv, "demo", "1.0")
    secret = "s3cr/t#Fault-Pa55"
    url = f"http://alice:{secret}@127.0.0.1:{lab.server.port}/simple"
    run = lab.pipfresh("--python", venv.path, "-i", url, "--cache-dir", lab.cache, "-v")
    text = run.stdout + run.stderr
    pieces = ["s3cr", "Fault-Pa55", secret]
    return verdict(
        run, [2], check(not any(p in text for p in pieces), "a piece of the password is shown")
    )


# --------------------------------------------------------------------------------------


def skipped(lab: Lab, reason: str) -> Verdict:
    run = Run([], -1, "", reason, 0.0, 0.0, 0)
    return Verdict(run, (-1,), (), note=f"SKIPPED: {reason}")


def judge(result: Verdict) -> list[str]:
    run = result.run
    if result.note.startswith("SKIPPED"):
        return []
    problems = list(result.problems)
    if run.code not in result.expect:
        problems.append(f"exit {run.code}, expected {'/'.join(map(str, result.expect))}")
    text = run.stdout + run.stderr
    for marker in ("Traceback", "internal error", "MemoryError"):
        if marker in text:
            problems.append(marker)
    if _RAW_CONTROL.search(text):
        found = sorted({repr(c) for c in _RAW_CONTROL.findall(text)})
        problems.append(f"raw control characters printed: {' '.join(found)}")
    if run.rss_mb >= RSS_LIMIT_MB:
        problems.append(f"peak RSS {run.rss_mb:.0f} MB")
    if run.seconds >= RUN_DEADLINE:
        problems.append(f"{run.seconds:.0f} s")
    return problems


def cell(text: str, width: int = 110) -> str:
    text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    if len(text) > width:
        text = text[: width - 3] + "..."
    return text.replace("|", "\\|").replace("`", "'")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="rows whose title has this")
    parser.add_argument("--record", action="store_true", help="append the table to RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each row's output")
    options = parser.parse_args(argv)
    # The server's own log of clients that hang up on a bomb is the attack working.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    if os.geteuid() != 0:
        print("note: not root: the foreign-owner and mount rows will fail or skip")
    rows = [r for r in ROWS if not options.only or any(o in r.title for o in options.only)]
    lines = [
        "| # | Attack | Exit | First stderr line (truncated) | Wall s | Peak RSS MB | Verdict |",
        "|---|--------|------|-------------------------------|-------:|------------:|---------|",
    ]
    failed = 0
    started = time.monotonic()
    for number, item in enumerate(rows, 1):
        root = Path(tempfile.mkdtemp(prefix="pipfresh-attack-"))
        env = clean_env()
        for key in [k for k in env if k.startswith("PIPFRESH_")]:
            del env[key]
        netrc = root / "empty.netrc"
        netrc.touch(mode=0o600)
        env |= {"PIPFRESH_CONFIG_FILE": "", "NETRC": str(netrc), "NO_COLOR": "1"}
        env |= {"COLUMNS": "200", "PIPFRESH_CACHE_DIR": str(root / "cache")}
        with IndexServer() as server:
            lab = Lab(root, server, root / "cache", env)
            try:
                result = item.attack(lab)
            except Exception as exc:  # a broken row is reported, not a crash of the table
                result = Verdict(Run([], -1, "", f"row error: {exc!r}", 0, 0, 0), (), (repr(exc),))
        problems = judge(result)
        failed += bool(problems)
        run = result.run
        state = "ok" if not problems else "NOT OK: " + "; ".join(problems)
        if result.note:
            state += f" ({result.note})"
        lines.append(
            f"| {number} | {item.title} | {run.code} | `{cell(run.first_line)}` "
            f"| {run.seconds:.1f} | {run.rss_mb:.0f} | {cell(state, 200)} |"
        )
        print(lines[-1], flush=True)
        if options.verbose or problems:
            for each in lab.runs:
                print(f"    $ pipfresh {' '.join(each.args)}\n    exit {each.code}", flush=True)
                print("    " + cell(each.stdout, 600) + "\n    " + cell(each.stderr, 600))
        if not options.keep:
            subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True, check=False)
            shutil.rmtree(root, ignore_errors=True)
    table = "\n".join(lines)
    print()
    print(table)
    total = time.monotonic() - started
    summary = f"{len(rows) - failed}/{len(rows)} rows ok, {total:.0f} s in all"
    print(f"\n{summary}")
    if options.record:
        description = (
            f"issue 13's attacks against the real CLI (`python -m pipfresh`, isolated from "
            f"pip's config, own cache) and the hostile index on 127.0.0.1; peak RSS of the "
            f"pipfresh process tree (RUSAGE_CHILDREN); ok = expected exit, no Traceback / "
            f"internal error / raw control character, the row's check, RSS < "
            f"{RSS_LIMIT_MB} MB, wall < {RUN_DEADLINE:.0f} s. {summary}."
        )
        append_result("Hostile-index attack table (issue 13)", description, table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
