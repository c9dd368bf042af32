"""``pipfresh update`` stopped from outside: signals during the downloads and the
install, SIGKILL (and the next run's recovery from the journal), a lock left by a
dead process, a journal that cannot be used.

Real venvs, the local index, real uv and pip. Nothing here sleeps to synchronise:
downloads are held by the index server (:meth:`IndexServer.stall`) until the test
has acted, and the install step by a ``uv`` that blocks on a FIFO and says so in a
marker file (``make_blocking_uv`` in ``conftest.py``). Every case compares the full
freeze of the venv, read from its metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from integration.conftest import BlockingUv, Installs
from integration.test_scan_helpers import RUN_TIMEOUT, describe, run_pipfresh
from integration.test_update import Scene, lock_path, new_dependency, outdated_pair
from integration.test_update import started_update as background_update
from support.venvs import find_uv, freeze

#: outdated_pair + new_dependency, fully updated: ddd is the one the update adds.
UPDATED = {"aaa": "2.0", "bbb": "1.5", "ccc": "2.0", "ddd": "1.1"}
RECOVERED = re.compile(
    r"^pipfresh: restored (\d+) packages left half-updated by an interrupted update "
    r"\(started \d{4}-\d\d-\d\d \d\d:\d\d\)$"
)


def shared_cache(scene: Scene) -> Path:
    """One cache for every run of a test (``run_pipfresh`` gives each run its own
    unless ``--cache-dir`` names one): the journal must outlive its run."""
    return scene.tmp_path / "shared-cache"


def update_folder(scene: Scene) -> Path:
    cache = shared_cache(scene)
    return cache / "updates" / lock_path(cache, scene.venv).stem


def with_path(scene: Scene, folder: Path) -> dict[str, str]:
    return {**scene.env, "PATH": f"{folder}{os.pathsep}{scene.env['PATH']}"}


def update(scene: Scene, *args: str) -> subprocess.CompletedProcess[str]:
    return scene.update(*args, "--cache-dir", str(shared_cache(scene)))


def started_update(
    scene: Scene, *args: str, env: dict[str, str] | None = None
) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    """:func:`integration.test_update.started_update` with the test's shared cache."""
    return background_update(scene, *args, "--cache-dir", str(shared_cache(scene)), env=env)


def wait_until_blocked(uv: BlockingUv, proc: subprocess.Popen[str]) -> int:
    """The pid of the blocked ``uv`` script, once it has stopped inside the install."""
    # Bounded: returns as soon as the marker exists or pipfresh has exited.
    for _ in range(int(RUN_TIMEOUT * 20)):
        if uv.marker.exists() or proc.poll() is not None:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
    assert uv.marker.exists(), f"the installer never ran: {proc.communicate()}"
    return int(uv.marker.read_text())


def kill_blocked_uv(pid: int) -> None:
    # pipfresh started it in a session of its own, so killing pipfresh leaves it.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def killed_during_install(
    scene: Scene, make_blocking_uv: Callable[[Installs], BlockingUv], installs: Installs
) -> dict[str, str]:
    """Run an update of outdated_pair + new_dependency, SIGKILL it (and its blocked
    installer) inside the install step; the freeze before the update."""
    outdated_pair(scene)
    new_dependency(scene)
    before = freeze(scene.venv)
    uv = make_blocking_uv(installs)
    with started_update(scene, "-y", "--installer", "uv", env=with_path(scene, uv.bin)) as proc:
        pid = wait_until_blocked(uv, proc)
        try:
            expected = {
                "nothing": before,
                # The last pin is the added dependency: ccc 2.0 is in without its ddd.
                "all-but-last": {k: v for k, v in UPDATED.items() if k != "ddd"},
                "all": UPDATED,
            }[installs]
            assert freeze(scene.venv) == expected
            proc.kill()
            proc.communicate()
        finally:
            kill_blocked_uv(pid)
    assert proc.returncode == -signal.SIGKILL
    return before


def journal_of(scene: Scene) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((update_folder(scene) / "journal.json").read_text())
    return document


# ----- SIGKILL during the install ----------------------------------------------------


@pytest.mark.parametrize(
    ("installs", "installer"),
    [
        pytest.param("all", "uv", id="changed-recovered-with-uv"),
        pytest.param("all", "pip", id="changed-recovered-with-pip"),
        pytest.param("all-but-last", "uv", id="half-changed-recovered-with-uv"),
        pytest.param("nothing", "uv", id="unchanged"),
    ],
)
def test_sigkill_during_install_is_undone_by_the_next_update(
    scene: Scene,
    make_blocking_uv: Callable[[Installs], BlockingUv],
    installs: Installs,
    installer: str,
) -> None:
    before = killed_during_install(scene, make_blocking_uv, installs)
    # What the killed run left for the next one: the snapshot, the wheels, the addition.
    record = journal_of(scene)
    assert record["before"] == before
    assert record["added"] == ["ddd"]
    assert record["prefix"] == str(scene.venv.path)
    restore = sorted(Path(entry["file"]).name for entry in record["restore"])
    assert restore == [f"{name}-1.0-py3-none-any.whl" for name in ("aaa", "bbb", "ccc")]
    assert all((update_folder(scene) / entry["file"]).is_file() for entry in record["restore"])

    result = update(scene, "-y", "--installer", installer, "--format", "json")
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr
    first = stderr_lines(result.stderr)[0]
    if installs == "nothing":
        assert re.fullmatch(
            r"pipfresh: an interrupted update \(started [\d: -]+\) had changed nothing; "
            r"cleaned up after it",
            first,
        ), describe(result)
    else:
        match = RECOVERED.match(first)
        assert match, describe(result)
        assert int(match[1]) == (4 if installs == "all" else 3)
    # The plan was made from the restored environment: every change starts from the
    # version installed before the killed update, and ddd is new again.
    document = json.loads(result.stdout)
    assert {c["name"]: c["before"] for c in document["plan"]["changes"]} == {
        "aaa": "1.0",
        "bbb": "1.0",
        "ccc": "1.0",
    }
    assert [a["name"] for a in document["plan"]["additions"]] == ["ddd"]
    assert freeze(scene.venv) == UPDATED
    assert not update_folder(scene).exists()


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_recovery_restores_the_exact_previous_freeze(
    scene: Scene, make_blocking_uv: Callable[[Installs], BlockingUv], installer: str
) -> None:
    """The library call the CLI makes, checked right after it returns."""
    from pipfresh.environment import inspect_target
    from pipfresh.install.pip import PipInstaller
    from pipfresh.install.process import Backend
    from pipfresh.install.uv import UvInstaller
    from pipfresh.upgrade import environment_lock, recover_interrupted

    before = killed_during_install(scene, make_blocking_uv, "all-but-last")
    cache = shared_cache(scene)
    target = inspect_target(str(scene.venv.python))
    uv = find_uv()
    assert uv is not None
    backend: Backend = UvInstaller(uv) if installer == "uv" else PipInstaller(sys.executable)
    with environment_lock(cache, target):
        message = recover_interrupted(cache, target, backend)
        assert message is not None
        assert RECOVERED.match(f"pipfresh: {message}"), message
        assert freeze(scene.venv) == before
        assert not update_folder(scene).exists()
        assert recover_interrupted(cache, target, backend) is None


def test_read_only_runs_warn_and_leave_an_interrupted_update_alone(
    scene: Scene, make_blocking_uv: Callable[[Installs], BlockingUv]
) -> None:
    killed_during_install(scene, make_blocking_uv, "all")
    cache = str(shared_cache(scene))
    journal = update_folder(scene) / "journal.json"
    expected = re.compile(
        r"^pipfresh: warning: an interrupted update \(started [\d: -]+\) may have left "
        + re.escape(str(scene.venv.path))
        + r" half-updated; 'pipfresh update' will restore it$"
    )
    outdated = run_pipfresh(
        "--python", scene.venv.python, "--index-url", scene.server.url, "--cache-dir", cache,
        env=scene.env, cwd=scene.tmp_path,
    )  # fmt: skip
    dry_run = update(scene, "--dry-run")
    for result in (outdated, dry_run):
        assert result.returncode == 0, describe(result)
        assert [line for line in stderr_lines(result.stderr) if expected.match(line)], describe(
            result
        )
        assert "Traceback" not in result.stderr
        assert freeze(scene.venv) == UPDATED  # still as the killed update left it
        assert journal.is_file()


def test_failed_rollback_is_finished_by_the_next_update(scene: Scene) -> None:
    """The journal outlives a rollback that failed, so the next run can finish it."""
    real = find_uv()
    if real is None:
        pytest.skip("uv is not installed")
    outdated_pair(scene)
    new_dependency(scene)
    before = freeze(scene.venv)
    folder = scene.tmp_path / "brokenbin"
    folder.mkdir()
    script = folder / "uv"
    script.write_text(  # the install changes everything and fails; so does the rollback
        "#!/bin/sh\n"
        'case " $* " in *" --reinstall "*) exit 1;; esac\n'
        f'"{real}" "$@" || exit $?\n'
        'case " $* " in *" install "*) exit 1;; esac\n'
    )
    script.chmod(0o755)
    failed = scene.update(
        "-y", "--installer", "uv", "--cache-dir", str(shared_cache(scene)),
        env=with_path(scene, folder),
    )  # fmt: skip
    assert failed.returncode == 5, describe(failed)
    last = stderr_lines(failed.stderr)[-1]
    assert last.startswith("pipfresh: error: update failed (uv exited with status 1) and "), last
    assert last.endswith(
        f"the next 'pipfresh update' tries again from {update_folder(scene)} "
        "(delete that folder to give up on restoring)"
    ), last
    assert freeze(scene.venv) == UPDATED
    assert (update_folder(scene) / "journal.json").is_file()

    restored = update(scene, "aaa", "-y", "--installer", "uv")
    assert restored.returncode == 0, describe(restored)
    assert RECOVERED.match(stderr_lines(restored.stderr)[0]), describe(restored)
    # Only aaa was asked for this time: the rest is back where it was.
    assert freeze(scene.venv) == {**before, "aaa": "2.0"}
    assert not update_folder(scene).exists()


# ----- SIGKILL, SIGTERM and SIGINT during the downloads --------------------------------


def test_sigkill_during_downloads_leaves_nothing_to_recover(scene: Scene) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    stall = scene.server.stall("/files/*.whl")
    with started_update(scene, "-y", "--installer", "uv") as proc:
        assert stall.wait_started(RUN_TIMEOUT), "no download was requested"
        assert update_folder(scene).is_dir()
        assert not (update_folder(scene) / "journal.json").exists()
        proc.kill()
        proc.communicate()
    assert freeze(scene.venv) == before
    stall.release()
    scene.server.clear_faults()

    result = update(scene, "-y", "--installer", "uv")
    assert result.returncode == 0, describe(result)
    assert stderr_lines(result.stderr) == [], describe(result)  # nothing to recover
    assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.5"}
    assert not update_folder(scene).exists()


@pytest.mark.parametrize(
    ("signum", "line"),
    [
        (signal.SIGINT, "pipfresh: interrupted during the downloads; nothing was changed"),
        (signal.SIGTERM, "pipfresh: terminated during the downloads; nothing was changed"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_during_downloads_changes_nothing(
    scene: Scene, signum: signal.Signals, line: str
) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    tmp = scene.tmp_path / "tmpdir"
    tmp.mkdir()
    env = {**scene.env, "TMPDIR": str(tmp)}
    stall = scene.server.stall("/files/*.whl")
    with started_update(scene, "-y", "--installer", "uv", env=env) as proc:
        assert stall.wait_started(RUN_TIMEOUT), "no download was requested"
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 130, f"{proc.returncode}\n{stdout}\n{stderr}"
    assert stderr_lines(stderr) == [line], stderr
    assert freeze(scene.venv) == before
    # The downloads lived in the cache's update folder, and are gone with it.
    assert not update_folder(scene).exists()
    assert list(tmp.iterdir()) == []


# ----- SIGTERM during the install ------------------------------------------------------


def test_sigterm_during_install_is_rolled_back(
    scene: Scene, make_blocking_uv: Callable[[Installs], BlockingUv]
) -> None:
    outdated_pair(scene)
    new_dependency(scene)
    before = freeze(scene.venv)
    uv = make_blocking_uv("all")
    with started_update(scene, "-y", "--installer", "uv", env=with_path(scene, uv.bin)) as proc:
        pid = wait_until_blocked(uv, proc)
        try:
            assert freeze(scene.venv) == UPDATED  # really half-way: installed, not verified
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT)
        finally:
            kill_blocked_uv(pid)
    assert proc.returncode == 4, f"{proc.returncode}\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr
    assert stderr_lines(stderr)[-1] == (
        "pipfresh: error: update failed (terminated); "
        "every package was restored to its previous version"
    )
    assert freeze(scene.venv) == before  # ddd, added by the update, removed again
    assert not update_folder(scene).exists()


# ----- the lock ------------------------------------------------------------------------

HOLD_THE_LOCK = """
import sys, types
from pathlib import Path
from pipfresh.upgrade import environment_lock

target = types.SimpleNamespace(prefix=sys.argv[2])
with environment_lock(Path(sys.argv[1]), target) as path:
    print(path, flush=True)
    sys.stdin.read()
"""


def test_lock_left_by_a_killed_process_does_not_block(scene: Scene) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    cache = shared_cache(scene)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(cache), str(scene.venv.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        held = Path(holder.stdout.readline().strip())  # returns once the lock is taken
        assert held == lock_path(cache, scene.venv)
        blocked = update(scene, "-y", "--installer", "uv")
        assert blocked.returncode == 2, describe(blocked)
        assert "another pipfresh update is running" in blocked.stderr
        assert freeze(scene.venv) == before
        holder.kill()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
    assert holder.returncode == -signal.SIGKILL
    assert held.exists()  # the file stays; its flock died with the process

    result = update(scene, "-y", "--installer", "uv")
    assert result.returncode == 0, describe(result)
    assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.5"}


# ----- a journal that cannot be used ---------------------------------------------------


def valid_journal(scene: Scene, **changes: Any) -> bytes:
    document = {
        "format": 1,
        "pipfresh_version": "0.1.0",
        "prefix": str(scene.venv.path),
        "python": str(scene.venv.python),
        "started": "2026-11-28T12:02:00+00:00",
        "pid": 2**22 + 1,  # above Linux's default pid_max: nobody's
        "before": {"aaa": "0.9", "bbb": "1.0"},
        "restore": [{"file": "restore/aaa-0.9-py3-none-any.whl", "sha256": "0" * 64}],
        "added": [],
        **changes,
    }
    return json.dumps(document).encode()


JOURNALS: dict[str, tuple[Callable[[Scene], bytes], str]] = {
    "truncated-json": (lambda s: valid_journal(s)[:40], "not JSON"),
    "binary-garbage": (lambda s: bytes(range(256)), "not JSON"),
    "not-an-object": (lambda s: b"[1, 2, 3]", "not a JSON object"),
    "newer-format": (
        lambda s: valid_journal(s, format=7),
        "written by a newer pipfresh (format 7, this one reads 1)",
    ),
    "missing-field": (
        lambda s: valid_journal(s, python=None),
        "'python' is missing or not a str",
    ),
    "wheel-outside-its-folder": (
        lambda s: valid_journal(s, restore=[{"file": "../../../evil.whl", "sha256": "0"}]),
        "restore wheel '../../../evil.whl' is outside restore/",
    ),
    "another-environment": (
        lambda s: valid_journal(s, prefix="/somewhere/else"),
        "it is for /somewhere/else, not ",
    ),
}


@pytest.mark.parametrize("case", list(JOURNALS))
def test_corrupt_journal_stops_the_update_in_one_line(scene: Scene, case: str) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    make, reason = JOURNALS[case]
    folder = update_folder(scene)
    folder.mkdir(parents=True)
    journal = folder / "journal.json"
    journal.write_bytes(make(scene))

    result = update(scene, "-y", "--installer", "uv")
    assert result.returncode == 5, describe(result)
    assert "Traceback" not in result.stderr
    [line] = stderr_lines(result.stderr)
    assert line.startswith(
        f"pipfresh: error: an interrupted update left a journal that cannot be used ({journal}: "
    ), line
    assert reason in line
    assert line.endswith(f"then delete {folder} to go on"), line
    assert freeze(scene.venv) == before
    assert journal.is_file()  # kept: the user decides


def test_missing_restore_wheel_keeps_the_journal(scene: Scene) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)  # aaa 1.0: not the journal's 0.9, so a restore is needed
    folder = update_folder(scene)
    folder.mkdir(parents=True)
    (folder / "journal.json").write_bytes(valid_journal(scene))
    wheel = folder / "restore" / "aaa-0.9-py3-none-any.whl"

    result = scene.update(
        "-y", "--installer", "uv", "--cache-dir", str(shared_cache(scene)),
        env={**scene.env, "TZ": "UTC"},
    )  # fmt: skip
    assert result.returncode == 5, describe(result)
    assert stderr_lines(result.stderr) == [
        "pipfresh: error: an interrupted update (started 2026-11-28 12:02) cannot be undone: "
        f"restore wheel {wheel} cannot be read (No such file or directory); the next "
        f"'pipfresh update' tries again from {folder} (delete that folder to give up on "
        "restoring)"
    ], describe(result)
    assert freeze(scene.venv) == before
    assert (folder / "journal.json").is_file()


def test_outdated_warns_about_a_corrupt_journal(scene: Scene) -> None:
    outdated_pair(scene)
    folder = update_folder(scene)
    folder.mkdir(parents=True)
    (folder / "journal.json").write_bytes(b"\x00garbage")
    result = run_pipfresh(
        "--python", scene.venv.python, "--index-url", scene.server.url,
        "--cache-dir", str(shared_cache(scene)),
        env=scene.env, cwd=scene.tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    [line] = stderr_lines(result.stderr)
    assert line.startswith("pipfresh: warning: an interrupted update left a journal that "), line
    assert line.endswith(f"'pipfresh update' will refuse to run until {folder} is deleted"), line


def test_a_cache_folder_that_cannot_be_written_stops_the_update_in_one_line(
    scene: Scene,
) -> None:
    """The lock and the journal live in the cache folder; without them an update could
    not promise a restore, so it does not start. A read-only scan still runs."""
    outdated_pair(scene)
    before = freeze(scene.venv)
    blocker = scene.tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = str(blocker / "cache")
    result = scene.update("-y", "--installer", "uv", "--cache-dir", cache)
    assert result.returncode == 2, describe(result)
    assert stderr_lines(result.stderr) == [
        f"pipfresh: error: cannot write the update's lock in the cache folder {cache}: "
        "Not a directory (choose another with --cache-dir or PIPFRESH_CACHE_DIR)"
    ]
    assert freeze(scene.venv) == before
    scan = run_pipfresh(
        "--python", scene.venv.python, "--index-url", scene.server.url, "--cache-dir", cache,
        env=scene.env, cwd=scene.tmp_path,
    )  # fmt: skip
    assert scan.returncode == 0, describe(scan)
    assert "journal" not in scan.stderr  # no interrupted update is imagined there
