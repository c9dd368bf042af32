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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from integration.conftest import BlockingUv, Installs
from integration.test_scan_helpers import RUN_TIMEOUT, describe, run_pipfresh
from integration.test_update import Scene, lock_path, new_dependency, outdated_pair
from integration.test_update import started_update as background_update
from support.venvs import file_tree, find_uv, freeze

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
    """The environment's own state folder: lock, journal and the stash of kept files."""
    return lock_path(scene.venv).parent


def assert_clean(scene: Scene) -> None:
    """No journal and no kept files are left (the lock file stays: removing it could
    let two processes lock two different files)."""
    folder = update_folder(scene)
    assert not (folder / "journal.json").exists()
    assert not (folder / "stash").exists()


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
    scene: Scene,
    make_blocking_uv: Callable[[Installs], BlockingUv],
    installs: Installs,
    files: dict[str, str] | None = None,
    plant: Sequence[Path] = (),
) -> dict[str, str]:
    """Run an update of outdated_pair + new_dependency, SIGKILL it (and its blocked
    installer) inside the install step; the freeze before the update (and its file
    tree in ``files``). ``plant``: empty files made while the installer is blocked,
    as the installer itself would have made them."""
    outdated_pair(scene)
    new_dependency(scene)
    before = freeze(scene.venv)
    if files is not None:
        files.update(file_tree(scene.venv))
    uv = make_blocking_uv(installs)
    with started_update(scene, "-y", "--installer", "uv", env=with_path(scene, uv.bin)) as proc:
        pid = wait_until_blocked(uv, proc)
        for path in plant:
            path.write_bytes(b"")
        try:
            expected = {
                # The replaced versions' files are kept aside: those projects are absent.
                "nothing": {k: v for k, v in before.items() if k not in UPDATED},
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
    assert sorted(record["planned"]) == ["aaa", "bbb", "ccc", "ddd"]
    assert record["prefix"] == str(scene.venv.path)
    kept = {Path(original).name for original, _, _ in record["kept"]}
    # Folders that hold one distribution's files only are kept whole: one rename each.
    assert {"aaa-1.0.dist-info", "aaa"} <= kept
    assert all((update_folder(scene) / "stash" / slot).exists() for _, slot, _ in record["kept"])

    result = update(scene, "-y", "--installer", installer, "--format", "json")
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr
    first = stderr_lines(result.stderr)[0]
    # Even "nothing installed" changed the environment: the replaced versions' files
    # were kept aside, so aaa, bbb and ccc were absent until the restore.
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
    assert_clean(scene)


def test_recovery_removes_the_temporary_files_of_a_killed_uv(
    scene: Scene, make_blocking_uv: Callable[[Installs], BlockingUv]
) -> None:
    """uv writes a script as bin/.tmpXXXXXX and renames it into place: killed in
    between, it leaves the temporary file, which the restore removes too (seen once in
    the random SIGKILL test: 'bin/.tmprV8OAy' was left)."""
    files: dict[str, str] = {}
    half_written = [scene.venv.path / "bin" / ".tmprV8OAy", scene.venv.site_packages / ".tmp0aZ9yQ"]
    killed_during_install(scene, make_blocking_uv, "all", files, plant=half_written)
    result = update(scene, "-y", "--target", "patch", "--installer", "uv")
    assert result.returncode == 0, describe(result)
    assert RECOVERED.match(stderr_lines(result.stderr)[0]), describe(result)
    assert not any(path.exists() for path in half_written)
    assert file_tree(scene.venv) == files


@pytest.mark.parametrize("installs", ["all", "all-but-last", "nothing"])
def test_recovery_restores_the_exact_previous_files(
    scene: Scene, make_blocking_uv: Callable[[Installs], BlockingUv], installs: Installs
) -> None:
    """The library call the CLI makes, checked right after it returns: the same
    metadata and the same bytes in every file of site-packages and bin."""
    from pipfresh.environment import inspect_target
    from pipfresh.upgrade import environment_lock, recover_interrupted

    files: dict[str, str] = {}
    before = killed_during_install(scene, make_blocking_uv, installs, files)
    target = inspect_target(str(scene.venv.python))
    with environment_lock(target):
        message = recover_interrupted(target)
        assert message is not None
        assert RECOVERED.match(f"pipfresh: {message}"), message
        assert freeze(scene.venv) == before
        assert_clean(scene)
        assert file_tree(scene.venv) == files
        assert recover_interrupted(target) is None


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
    """The journal outlives a restore that failed, so the next run can finish it."""
    real = find_uv()
    if real is None:
        pytest.skip("uv is not installed")
    outdated_pair(scene)
    new_dependency(scene)
    before = freeze(scene.venv)
    folder = scene.tmp_path / "brokenbin"
    folder.mkdir()
    blocker = scene.venv.site_packages / "aaa"
    script = folder / "uv"
    script.write_text(  # installs, then puts a file where aaa's folder must go back, fails
        "#!/bin/sh\n"
        f'"{real}" "$@" || exit $?\n'
        f'case " $* " in *" install "*) rm -rf "{blocker}"; : > "{blocker}"; exit 1;; esac\n'
    )
    script.chmod(0o755)
    failed = scene.update(
        "-y", "--installer", "uv", "--cache-dir", str(shared_cache(scene)),
        env=with_path(scene, folder),
    )  # fmt: skip
    assert failed.returncode == 5, describe(failed)
    last = stderr_lines(failed.stderr)[-1]
    assert last.startswith("pipfresh: error: update failed (uv exited with status 1) and "), last
    assert f"{blocker}/__init__.py" in last, last
    assert last.endswith(
        f"the next 'pipfresh update' tries again (journal {update_folder(scene)}/journal.json)"
    ), last
    assert (update_folder(scene) / "journal.json").is_file()

    blocker.unlink()  # what stood in the way is gone: the next run finishes the restore
    restored = update(scene, "aaa", "-y", "--installer", "uv")
    assert restored.returncode == 0, describe(restored)
    assert re.fullmatch(
        r"pipfresh: put back 1 file that an interrupted update \(started [\d: -]+\) had "
        r"kept aside",
        stderr_lines(restored.stderr)[0],
    ), describe(restored)
    # Only aaa was asked for this time: the rest is back where it was.
    assert freeze(scene.venv) == {**before, "aaa": "2.0"}
    assert_clean(scene)


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
    assert_clean(scene)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("options", "when"),
    [
        # With a download cache, the wheels download while the plan is made.
        ((), "before the install"),
        # Without one, they download in the update's own stage.
        (("--no-cache",), "during the downloads"),
    ],
    ids=["while-planning", "download-stage"],
)
def test_signal_during_downloads_changes_nothing(
    scene: Scene, signum: signal.Signals, options: tuple[str, ...], when: str
) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    tmp = scene.tmp_path / "tmpdir"
    tmp.mkdir()
    env = {**scene.env, "TMPDIR": str(tmp)}
    stall = scene.server.stall("/files/*.whl")
    with started_update(scene, "-y", "--installer", "uv", *options, env=env) as proc:
        assert stall.wait_started(RUN_TIMEOUT), "no download was requested"
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 130, f"{proc.returncode}\n{stdout}\n{stderr}"
    verb = "interrupted" if signum == signal.SIGINT else "terminated"
    assert stderr_lines(stderr) == [f"pipfresh: {verb} {when}; nothing was changed"], stderr
    assert not list(shared_cache(scene).rglob("*.part"))  # no half download left
    assert freeze(scene.venv) == before
    # The downloads lived in the cache's update folder, and are gone with it.
    assert_clean(scene)
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
        "every package was restored to its previous version "
        "(checked: the same .dist-info folders as before)"
    )
    assert freeze(scene.venv) == before  # ddd, added by the update, removed again
    assert_clean(scene)


# ----- the lock ------------------------------------------------------------------------

HOLD_THE_LOCK = """
import sys
from pipfresh.environment import inspect_target
from pipfresh.upgrade import environment_lock

with environment_lock(inspect_target(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_lock_left_by_a_killed_process_does_not_block(scene: Scene) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(scene.venv.python)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"  # returns once the lock is taken
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
    assert lock_path(scene.venv).exists()  # the file stays; its flock died with the process

    result = update(scene, "-y", "--installer", "uv")
    assert result.returncode == 0, describe(result)
    assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.5"}


# ----- a journal that cannot be used or trusted -----------------------------------------


def valid_journal(scene: Scene, **changes: Any) -> bytes:
    site = scene.venv.site_packages
    document = {
        "format": 2,
        "pipfresh_version": "0.1.0",
        "prefix": str(scene.venv.path),
        "python": str(scene.venv.python),
        "started": "2026-11-28T12:02:00+00:00",
        "pid": 2**22 + 1,  # above Linux's default pid_max: nobody's
        "before": {"aaa": "1.0", "bbb": "1.0"},
        "metadata": [str(site / "aaa-1.0.dist-info"), str(site / "bbb-1.0.dist-info")],
        "planned": ["aaa"],
        "kept": [[str(site / "aaa" / "__init__.py"), "00000/000000", False]],
        "clear": [str(site / "aaa" / "__init__.py")],
        **changes,
    }
    return json.dumps(document).encode()


JOURNALS: dict[str, tuple[Callable[[Scene], bytes], str]] = {
    "truncated-json": (lambda s: valid_journal(s)[:40], "not JSON"),
    "binary-garbage": (lambda s: bytes(range(256)), "not JSON"),
    "not-an-object": (lambda s: b"[1, 2, 3]", "not a JSON object"),
    "newer-format": (
        lambda s: valid_journal(s, format=7),
        "written by a newer pipfresh (format 7, this one reads 2)",
    ),
    "missing-field": (
        lambda s: valid_journal(s, python=None),
        "'python' is missing or not a str",
    ),
    "slot-outside-the-stash": (
        lambda s: valid_journal(s, kept=[[str(s.venv.site_packages / "x"), "../../evil", False]]),
        "kept slot '../../evil' is outside stash/",
    ),
    "restore-outside-the-environment": (
        lambda s: valid_journal(s, kept=[["/etc/cron.d/evil", "00000/000000", False]]),
        "/etc/cron.d/evil is outside the environment",
    ),
    "delete-outside-the-environment": (
        lambda s: valid_journal(s, clear=["/etc/passwd"]),
        "/etc/passwd is outside the environment",
    ),
    "another-environment": (
        lambda s: valid_journal(s, prefix="/somewhere/else"),
        "it is for /somewhere/else, not ",
    ),
}


def plant(scene: Scene, body: bytes, mode: int = 0o600) -> Path:
    folder = update_folder(scene)
    folder.mkdir(mode=0o700, exist_ok=True)
    journal = folder / "journal.json"
    journal.write_bytes(body)
    journal.chmod(mode)
    return journal


@pytest.mark.parametrize("case", list(JOURNALS))
def test_corrupt_journal_stops_the_update_in_one_line(scene: Scene, case: str) -> None:
    outdated_pair(scene)
    before, files = freeze(scene.venv), file_tree(scene.venv)
    make, reason = JOURNALS[case]
    journal = plant(scene, make(scene))

    result = update(scene, "-y", "--installer", "uv")
    # Refused before anything is touched: exit 3, as any update stopped unchanged.
    assert result.returncode == 3, describe(result)
    assert "Traceback" not in result.stderr
    [line] = stderr_lines(result.stderr)
    assert line.startswith(
        f"pipfresh: error: refusing the journal an interrupted update left ({journal}: "
    ), line
    assert "nothing was changed, but " in line
    assert reason in line
    assert line.endswith(f"then delete {journal} to go on"), line
    assert freeze(scene.venv) == before
    assert file_tree(scene.venv) == files
    assert journal.is_file()  # kept: the user decides


@pytest.mark.parametrize(
    ("owner", "mode", "reason"),
    [
        (12345, 0o600, "owned by user 12345, not by you"),
        (None, 0o666, "writable by other users"),
    ],
)
def test_a_planted_journal_is_not_trusted(
    scene: Scene, owner: int | None, mode: int, reason: str
) -> None:
    """A journal another user could have written is never acted on."""
    if owner is not None and os.geteuid() != 0:
        pytest.skip("needs root to give a file away")
    outdated_pair(scene)
    before = freeze(scene.venv)
    journal = plant(scene, valid_journal(scene, planned=["aaa", "bbb"]), mode)
    if owner is not None:
        os.chown(journal, owner, owner)
    result = update(scene, "-y", "--installer", "uv")
    assert result.returncode == 3, describe(result)
    assert reason in result.stderr
    assert freeze(scene.venv) == before


def test_outdated_warns_about_a_corrupt_journal(scene: Scene) -> None:
    outdated_pair(scene)
    journal = plant(scene, b"\x00garbage")
    result = run_pipfresh(
        "--python", scene.venv.python, "--index-url", scene.server.url,
        "--cache-dir", str(shared_cache(scene)),
        env=scene.env, cwd=scene.tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    [line] = stderr_lines(result.stderr)
    assert line.startswith("pipfresh: warning: an interrupted update left a journal that "), line
    assert line.endswith(f"'pipfresh update' will refuse to run until {journal} is deleted"), line


def test_a_cache_folder_that_cannot_be_written_stops_the_update_in_one_line(
    scene: Scene,
) -> None:
    """The downloads go to the cache folder; without it nothing is installed. A
    read-only scan still runs."""
    outdated_pair(scene)
    before = freeze(scene.venv)
    blocker = scene.tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = str(blocker / "cache")
    result = scene.update("-y", "--installer", "uv", "--cache-dir", cache)
    assert result.returncode == 3, describe(result)
    assert stderr_lines(result.stderr)[-1] == (
        f"pipfresh: error: cannot write the downloads in {cache}/wheels: "
        "Not a directory; nothing was changed"
    ), describe(result)
    assert freeze(scene.venv) == before
    scan = run_pipfresh(
        "--python", scene.venv.python, "--index-url", scene.server.url, "--cache-dir", cache,
        env=scene.env, cwd=scene.tmp_path,
    )  # fmt: skip
    assert scan.returncode == 0, describe(scan)
    assert "journal" not in scan.stderr  # no interrupted update is imagined there
