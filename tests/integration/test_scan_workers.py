"""A cold scan split between processes (pipfresh.scan_workers, issue 17).

Real ``python -m pipfresh`` runs against the index server on 127.0.0.1. Which process
made a request is found from the kernel: the client port of the request's connection
is looked up in /proc/net/tcp and its socket inode among the open files of the
pipfresh process and of its forked worker (so these tests run on Linux only, as the
worker split does by default).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from integration.test_scan_helpers import PIPFRESH, RUN_TIMEOUT, describe, pipfresh_env
from pipfresh.errors import UsageError
from pipfresh.scan_workers import WORKERS_ENV, process_count, split_concurrency
from support.index_server import IndexServer, RequestRecord, Respond, Stall
from support.venvs import Venv, make_venv

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc and the Linux split")

GOOD = [f"p{i:02d}" for i in range(28)]
# The fault cases of test_fault_matrix.py that end in a project error, one of each.
FAULTY = ["gone", "broken", "garbled", "stuck"]


def write_dist(site: Path, name: str, version: str) -> None:
    folder = site / f"{name}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    made = make_venv(tmp_path_factory.mktemp("workers") / "venv")
    for name in [*GOOD, *FAULTY]:
        write_dist(made.site_packages, name, "1.0")
    return made


def publish(server: IndexServer, *names: str) -> None:
    for name in names:
        for version in ("1.0", "2.0"):
            server.add_bytes(f"{name}-{version}-py3-none-any.whl", b"wheel")


def command(venv: Venv, server: IndexServer, *extra: str) -> list[str]:
    return [*PIPFRESH, "--python", str(venv.path), "-i", server.url, *extra]


def env_for(tmp_path: Path, workers: int, cache: Path | None = None) -> dict[str, str]:
    env = pipfresh_env(tmp_path, extra={WORKERS_ENV: str(workers)})
    env["PIPFRESH_CACHE_DIR"] = str(cache or tmp_path / f"cache-{workers}-{time.monotonic_ns()}")
    return env


# ----- who sent a request ---------------------------------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                found.add(link[8:-1])
    except OSError:
        pass
    return found


def _inode_of_port(port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                return fields[9]
    return None


def owner(record: RequestRecord, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the client end of the connection ``record`` came on."""
    inode = _inode_of_port(int(record.peer.rsplit(":", 1)[1]))
    if inode is None:
        return None
    for pid in pids:
        if inode in _socket_inodes(pid):
            return pid
    return None


def workers_of(proc: subprocess.Popen[str]) -> list[int]:
    """The forked workers of a pipfresh process: its children running its command line
    (the target's inspection is another interpreter)."""
    mine = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    found = []
    for task in os.listdir(f"/proc/{proc.pid}/task"):
        with open(f"/proc/{proc.pid}/task/{task}/children") as fh:
            for child in fh.read().split():
                try:
                    if Path(f"/proc/{child}/cmdline").read_bytes() == mine:
                        found.append(int(child))
                except OSError:
                    continue
    return found


def session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (a zombie counts: it was not reaped)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:
            members.append(int(entry))
    return members


@dataclass
class Gate:
    """Holds every project page request, each on its own Stall, until released."""

    stalls: dict[str, Stall] = field(default_factory=dict)
    records: dict[str, RequestRecord] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    open: bool = False

    def hook(self, record: RequestRecord) -> Stall | None:
        parts = record.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "simple":
            return None
        with self.lock:
            if self.open:
                return None
            stall = self.stalls[parts[1]] = Stall()
            self.records[parts[1]] = record
        return stall

    def held(self) -> dict[str, RequestRecord]:
        with self.lock:
            return {n: r for n, r in self.records.items() if not self.stalls[n].released}

    def release(self, name: str) -> None:
        with self.lock:
            stall = self.stalls[name]
        stall.release()

    def release_all(self) -> None:
        with self.lock:
            self.open = True
            stalls = list(self.stalls.values())
        for stall in stalls:
            stall.release()


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    """Poll a condition of the process table or the server (no event to wait on)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def held_by(gate: Gate, pids: list[int]) -> dict[int, list[str]]:
    by: dict[int, list[str]] = {}
    for name, record in gate.held().items():
        pid = owner(record, pids)
        if pid is not None:
            by.setdefault(pid, []).append(name)
    return by


@pytest.fixture
def gated(index_server: IndexServer) -> Iterator[tuple[IndexServer, Gate]]:
    publish(index_server, *GOOD)
    gate = Gate()
    index_server.on_request(gate.hook)
    try:
        yield index_server, gate
    finally:
        gate.release_all()


def start(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: Ctrl-C is sent to that
    )


def both_busy(proc: subprocess.Popen[str], gate: Gate) -> tuple[int, list[int]]:
    """Wait until the worker and the parent each hold a request; (worker, pids)."""
    found: list[int] = []

    def ready() -> bool:
        found[:] = workers_of(proc)
        if len(found) != 1:
            return False
        return len(held_by(gate, [proc.pid, found[0]])) == 2

    wait_until(ready)
    return found[0], [proc.pid, found[0]]


# ----- the plan (pure) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "projects", "cores", "platform", "expected"),
    [
        ({}, 100, 2, "linux", 2),
        ({}, 100, 1, "linux", 1),  # one core: one process
        ({}, 100, 4, "darwin", 1),  # off Linux: one process
        ({}, 23, 2, "linux", 1),  # few projects: the fork is not repaid
        ({}, 24, 2, "linux", 2),
        ({}, 1000, 64, "linux", 8),  # at most MAX_PROCESSES
        ({WORKERS_ENV: "1"}, 500, 4, "linux", 1),
        ({WORKERS_ENV: "3"}, 5, 1, "linux", 3),  # forced: whatever the count and cores
        ({WORKERS_ENV: "4"}, 2, 4, "linux", 2),  # never more processes than projects
    ],
)
def test_process_count(
    env: dict[str, str], projects: int, cores: int, platform: str, expected: int
) -> None:
    assert process_count(projects, 16, environ=env, cores=cores, platform=platform) == expected


@pytest.mark.parametrize("raw", ["0", "two", "-1", "65"])
def test_a_bad_workers_setting_is_one_clear_error(raw: str) -> None:
    with pytest.raises(UsageError, match=f"{WORKERS_ENV}={raw!r} must be a whole number"):
        process_count(100, 16, environ={WORKERS_ENV: raw})


def test_the_concurrency_is_split_not_multiplied() -> None:
    assert split_concurrency(16, 2) == [8, 8]
    assert split_concurrency(17, 3) == [6, 6, 5]
    assert sum(split_concurrency(16, 3)) == 16
    assert split_concurrency(2, 3) == [1, 1, 1]


# ----- same answers, one process or two --------------------------------------------------


def normalised(document: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    packages = sorted((p["name"], p["installed"], p["latest"]) for p in document["packages"])
    errors = sorted((e["name"], e["reason"]) for e in document["errors"])
    return packages, errors


def test_one_and_two_processes_give_the_same_report_over_the_fault_cases(
    venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    publish(index_server, *GOOD, "stuck")
    index_server.fail("broken", 500)  # retried, then an error
    index_server.inject("garbled", Respond(b"{not json"))
    index_server.inject("stuck", Stall())  # never answers: the timeout's error
    # "gone" is on no index: not found.
    cmd = command(venv, index_server, "--format", "json", "--timeout", "0.5")
    runs = {n: start(cmd, env_for(tmp_path, n), tmp_path) for n in (1, 2)}
    outputs = {n: proc.communicate(timeout=RUN_TIMEOUT) for n, proc in runs.items()}
    documents = {}
    for n, (out, err) in outputs.items():
        assert runs[n].returncode == 3, f"{n} processes: exit {runs[n].returncode}\n{err}"
        assert "Traceback" not in err, err
        documents[n] = json.loads(out)
    assert normalised(documents[1]) == normalised(documents[2])
    packages, errors = normalised(documents[2])
    assert packages == [(name, "1.0", "2.0") for name in GOOD]
    assert [name for name, _ in errors] == sorted(FAULTY)
    reasons = dict(errors)
    assert "HTTP 500" in reasons["broken"]
    assert "timed out" in reasons["stuck"] or "no complete answer" in reasons["stuck"]
    # Each good page was asked for once per run: no project was fetched twice.
    for name in GOOD:
        assert index_server.count(name) == 2, name


# ----- streaming order --------------------------------------------------------------------


def line_name(line: str) -> str:
    """The project a jsonl line is about (a package, or {"error": {...}})."""
    record = json.loads(line)
    name: str = record["error"]["name"] if "error" in record else record["name"]
    return name


@pytest.mark.parametrize("first", ["worker", "parent"])
def test_results_stream_in_completion_order_across_processes(
    venv: Venv, gated: tuple[IndexServer, Gate], tmp_path: Path, first: str
) -> None:
    server, gate = gated
    proc = start(
        command(venv, server, "--format", "jsonl", "--all"), env_for(tmp_path, 2), tmp_path
    )
    try:
        worker, pids = both_busy(proc, gate)
        held = held_by(gate, pids)
        early = held[worker][0] if first == "worker" else held[proc.pid][0]
        late = held[proc.pid][0] if first == "worker" else held[worker][0]
        # Everything else is answered, then the early one: its line comes out while
        # the late one is still held, from whichever process fetched it.
        with gate.lock:
            gate.open = True  # requests not sent yet pass freely
            pending = [n for n in gate.stalls if n not in (early, late)]
        for name in pending:
            gate.release(name)
        assert proc.stdout is not None
        seen: list[str] = []
        while len(seen) < len(GOOD) + len(FAULTY) - 2:
            seen.append(line_name(proc.stdout.readline()))
        assert early not in seen
        assert late not in seen
        gate.release(early)
        assert line_name(proc.stdout.readline()) == early
        gate.release(late)
        assert line_name(proc.stdout.readline()) == late
        _, err = proc.communicate(timeout=RUN_TIMEOUT)
        assert proc.returncode == 3, err  # the unpublished FAULTY projects: not found
    finally:
        gate.release_all()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# ----- a worker killed, Ctrl-C --------------------------------------------------------------


def test_a_killed_worker_costs_its_projects_an_error_line_each_not_the_run(
    venv: Venv, gated: tuple[IndexServer, Gate], tmp_path: Path
) -> None:
    server, gate = gated
    proc = start(command(venv, server, "--format", "json"), env_for(tmp_path, 2), tmp_path)
    try:
        worker, pids = both_busy(proc, gate)
        lost = held_by(gate, pids)[worker]
        os.kill(worker, signal.SIGKILL)
        gate.release_all()
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        gate.release_all()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert proc.returncode == 3, describe(result)
    assert "Traceback" not in err, describe(result)
    document = json.loads(out)
    errors = {e["name"]: e["reason"] for e in document["errors"]}
    reported = {p["name"]: p["latest"] for p in document["packages"]}
    # Every project once: answered right, or one line saying why not.
    assert sorted([*errors, *reported]) == sorted([*GOOD, *FAULTY])
    assert set(FAULTY) <= set(errors)
    assert all(latest == "2.0" for latest in reported.values())
    killed = {n for n, why in errors.items() if why.startswith("not checked")}
    assert set(lost) <= killed  # at least what it was waiting for when it died
    assert len(killed) <= 8  # at most what its 8 requests in flight had taken
    for name in killed:
        assert errors[name] == "not checked: its worker process was killed by SIGKILL"
    assert session_members(proc.pid) == []


def test_ctrl_c_during_a_worker_scan_ends_every_process(
    venv: Venv, gated: tuple[IndexServer, Gate], tmp_path: Path
) -> None:
    server, gate = gated
    proc = start(command(venv, server), env_for(tmp_path, 2), tmp_path)
    try:
        worker, _ = both_busy(proc, gate)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        gate.release_all()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "pipfresh: interrupted", err
    assert session_members(proc.pid) == [], "a process of the run is left"
    assert not Path(f"/proc/{worker}").exists()


# ----- the cache a worker scan wrote --------------------------------------------------------


def test_the_cache_a_worker_scan_writes_makes_the_next_run_warm(
    venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    publish(index_server, *GOOD, *FAULTY)
    cache = tmp_path / "shared-cache"
    cmd = command(venv, index_server, "--format", "json")
    cold = subprocess.run(
        cmd,
        env=env_for(tmp_path, 2, cache),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert cold.returncode == 0, describe(cold)
    # Both processes' page statistics reached the one statistics file.
    stats = json.loads((cache / "stats-v1.json").read_text())
    assert sorted(stats) == sorted([*GOOD, *FAULTY])
    index_server.reset_stats()
    # Automatic choice, as users run it: nothing needs the network, nothing forks.
    env = env_for(tmp_path, 2, cache)
    del env[WORKERS_ENV]
    warm = subprocess.run(
        cmd,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert warm.returncode == 0, describe(warm)
    assert index_server.total_requests == 0
    assert normalised(json.loads(warm.stdout)) == normalised(json.loads(cold.stdout))
