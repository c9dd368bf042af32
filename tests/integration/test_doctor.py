"""``pipfresh update --test CMD`` end to end: real venvs, the local index, uv.

The "project" is a ``check.py`` in the test's folder, run by the venv's python; what it
checks depends on the packages' versions, so a published new version breaks it or not.
Bytecode is not written (PYTHONDONTWRITEBYTECODE) so that file trees compare exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import pipfresh
from integration.test_scan_helpers import RUN_TIMEOUT, api_environ, describe, run_pipfresh
from integration.test_update import Scene, started_update
from pipfresh import UpgradeConfig
from pipfresh.doctor.session import TestEvent
from support.venvs import file_tree, find_uv, freeze

pytestmark = pytest.mark.skipif(find_uv() is None, reason="uv is not installed")

#: ``alpha.api.answer()`` must be 42: alpha 2.0 returns 41.
CHECK = """\
import importlib.metadata as md
import alpha.api
got = alpha.api.answer()
assert got == 42, f"alpha.api.answer() gave {got}, expected 42"
"""


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def publish_answer(scene: Scene, name: str, version: str, answer: int, **kw: Any) -> None:
    scene.server.add(
        scene.wheels(
            name, version, files={f"{name}/api.py": f"def answer():\n    return {answer}\n"}, **kw
        )
    )


def quartet(scene: Scene) -> None:
    """alpha 2.0 breaks check.py; beta 2.0 and gamma 2.0 do not; gamma 2.0 needs delta>=2."""
    publish_answer(scene, "alpha", "1.0", 42)
    publish_answer(scene, "alpha", "2.0", 41)
    scene.publish("beta", "1.0", "2.0")
    scene.publish("gamma", "1.0")
    scene.publish("gamma", "2.0", requires=("delta>=2",))
    scene.publish("delta", "1.0", "2.0")
    scene.pin("alpha==1.0", "beta==1.0", "gamma==1.0", "delta==1.0")


def env_of(scene: Scene) -> dict[str, str]:
    return {**scene.env, "PYTHONDONTWRITEBYTECODE": "1"}


def run_tested(scene: Scene, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    return scene.update(
        "-y", "--installer", "uv", "--test", command, "--format", "json", *args, env=env_of(scene)
    )


def document_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, describe(result)
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_culprit_reverted_rest_kept_and_remembered(scene: Scene) -> None:
    quartet(scene)
    (scene.tmp_path / "check.py").write_text(CHECK)
    document = document_of(run_tested(scene, "python check.py"))
    assert freeze(scene.venv) == {"alpha": "1.0", "beta": "2.0", "gamma": "2.0", "delta": "2.0"}
    test = document["test"]
    assert [c["name"] for c in test["culprits"]] == ["alpha"]
    culprit = test["culprits"][0]
    assert culprit["changes"] == [{"name": "alpha", "before": "1.0", "attempted": "2.0"}]
    assert any("alpha.api.answer() gave 41" in line for line in culprit["failures"])
    assert test["final"]["passed"] is True
    assert test["flaky"] == []
    # before, all, then a few bisection states and the final run.
    assert 4 <= test["runs"] <= 7
    assert {r["name"]: r["after"] for r in document["result"]["results"]} == {
        "beta": "2.0",
        "gamma": "2.0",
        "delta": "2.0",
    }
    # The scan marks it, and the next update leaves that version alone.
    scan = ("outdated", "--python", scene.venv.python, "--index-url", scene.server.url)
    listed = run_pipfresh(*scan, "--format", "json", env=env_of(scene), cwd=scene.tmp_path)
    marks = {p["name"]: p.get("broke_tests") for p in json.loads(listed.stdout)["packages"]}
    assert marks == {"alpha": today()}, describe(listed)
    table = run_pipfresh(*scan, env=env_of(scene), cwd=scene.tmp_path)
    assert f"broke tests on {today()}" in table.stdout, describe(table)
    again = scene.update("-y", "--installer", "uv", "--format", "json", env=env_of(scene))
    assert json.loads(again.stdout)["skipped_broken"] == ["alpha 2.0"], describe(again)
    assert "broke the tests" in again.stderr
    assert freeze(scene.venv)["alpha"] == "1.0"
    retried = scene.update(
        "-y", "--installer", "uv", "--retry-broken", "--format", "json", env=env_of(scene)
    )
    assert freeze(scene.venv)["alpha"] == "2.0", describe(retried)


def test_table_summary_names_the_culprit_and_the_cost(scene: Scene) -> None:
    quartet(scene)
    (scene.tmp_path / "check.py").write_text(CHECK)
    result = scene.update("-y", "--installer", "uv", "--test", "python check.py", env=env_of(scene))
    assert result.returncode == 0, describe(result)
    assert "reverted alpha 1.0 -> 2.0: breaks the tests" in result.stdout
    assert "alpha.api.answer() gave 41" in result.stdout
    assert "test runs," in result.stdout
    assert "s in tests; final run green" in result.stdout
    assert "pipfresh: tests passed" in result.stderr


def test_two_culprits_among_eight_units(scene: Scene) -> None:
    names = [f"p{i}" for i in range(1, 9)]
    for name in names:
        publish_answer(scene, name, "1.0", 42)
        publish_answer(scene, name, "2.0", 41 if name in ("p3", "p6") else 42)
    scene.pin(*(f"{n}==1.0" for n in names))
    check = "".join(f"import {n}.api\nassert {n}.api.answer() == 42, '{n}'\n" for n in names)
    (scene.tmp_path / "check.py").write_text(check)
    document = document_of(run_tested(scene, "python check.py"))
    test = document["test"]
    assert sorted(c["name"] for c in test["culprits"]) == ["p3", "p6"]
    expected = {n: "1.0" if n in ("p3", "p6") else "2.0" for n in names}
    assert freeze(scene.venv) == expected
    # about k*log2(n) + 2, plus a run per culprit for the rest and one alone each
    assert test["runs"] <= 14, test["runs"]
    assert test["final"]["passed"] is True


def test_tests_failing_before_change_nothing(scene: Scene) -> None:
    quartet(scene)
    env = env_of(scene)
    before = file_tree(scene.venv)
    result = scene.update(
        "-y", "--installer", "uv", "--test", "echo first; echo broken here; exit 3", env=env
    )
    assert result.returncode == 6, describe(result)
    assert "tests fail before the update (exit status 3); nothing was changed" in result.stderr
    assert "broken here" in result.stderr
    assert file_tree(scene.venv) == before


def test_flaky_unit_is_reported_as_flaky(scene: Scene) -> None:
    publish_answer(scene, "alpha", "1.0", 42)
    publish_answer(scene, "alpha", "2.0", 42)
    scene.publish("beta", "1.0", "2.0")
    scene.pin("alpha==1.0", "beta==1.0")
    # With alpha 2.0 the tests fail every other run: fail, pass, fail, pass...
    (scene.tmp_path / "check.py").write_text(
        "import importlib.metadata as md, pathlib\n"
        "count = pathlib.Path('count')\n"
        "if md.version('alpha') == '2.0':\n"
        "    n = int(count.read_text()) + 1 if count.exists() else 1\n"
        "    count.write_text(str(n))\n"
        "    if n % 2:\n"
        "        raise SystemExit('flaked')\n"
    )
    document = document_of(run_tested(scene, "python check.py", "--test-retries", "1"))
    test = document["test"]
    assert test["flaky"] == ["alpha"]
    assert test["culprits"] == []
    assert freeze(scene.venv) == {"alpha": "1.0", "beta": "2.0"}


def blocking_third_run(scene: Scene) -> Path:
    """check.py whose third run (before, all, then the first bisection state) writes its
    pid to the returned marker and blocks on a FIFO that nobody writes."""
    os.mkfifo(scene.tmp_path / "fifo")
    (scene.tmp_path / "check.py").write_text(
        "import os, pathlib\n"
        "count = pathlib.Path('count')\n"
        "n = int(count.read_text()) + 1 if count.exists() else 1\n"
        "count.write_text(str(n))\n"
        "if n == 3:\n"
        "    pathlib.Path('blocked.tmp').write_text(str(os.getpid()))\n"
        "    os.rename('blocked.tmp', 'blocked')\n"
        "    open('fifo').read()\n" + CHECK
    )
    return scene.tmp_path / "blocked"


def wait_for(marker: Path, proc: subprocess.Popen[str]) -> None:
    # Bounded polling for the marker the blocked test run writes.
    for _ in range(int(RUN_TIMEOUT * 20)):
        if marker.exists() or proc.poll() is not None:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
    assert marker.exists(), "the bisection never started"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_a_bisection_step_restores_the_original(
    scene: Scene, signum: signal.Signals
) -> None:
    quartet(scene)
    original = file_tree(scene.venv)
    marker = blocking_third_run(scene)
    args = ("-y", "--installer", "uv", "--test", "python check.py")
    with started_update(scene, *args, env=env_of(scene)) as proc:
        wait_for(marker, proc)
        assert file_tree(scene.venv) != original  # really in a bisection state
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 4, stderr
    assert "interrupted while testing the upgrades" in stderr
    assert file_tree(scene.venv) == original
    assert not alive(int(marker.read_text()))  # the blocked test run was stopped too
    assert not (scene.venv.site_packages / ".pipfresh-update" / "journal.json").exists()


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_sigkill_during_a_bisection_step_is_recovered(scene: Scene) -> None:
    quartet(scene)
    original = file_tree(scene.venv)
    marker = blocking_third_run(scene)
    args = ("-y", "--installer", "uv", "--test", "python check.py")
    with started_update(scene, *args, env=env_of(scene)) as proc:
        wait_for(marker, proc)
        assert (scene.venv.site_packages / ".pipfresh-update" / "journal.json").exists()
        assert file_tree(scene.venv) != original  # really in a bisection state
        proc.kill()
        proc.communicate(timeout=RUN_TIMEOUT)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    # The next run restores the original first, then finds the tests failing: exit 6.
    result = scene.update("-y", "--installer", "uv", "--test", "exit 1", env=env_of(scene))
    assert result.returncode == 6, describe(result)
    assert "interrupted update" in result.stderr
    assert file_tree(scene.venv) == original


def test_python_api_reports_each_run_and_the_outcome(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    quartet(scene)
    (scene.tmp_path / "check.py").write_text(CHECK)
    api_environ(monkeypatch, scene.tmp_path)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.chdir(scene.tmp_path)
    events: list[TestEvent] = []
    result = pipfresh.update(
        str(scene.venv.python),
        UpgradeConfig(index_url=scene.server.url),
        installer="uv",
        test="python check.py",
        on_test=events.append,
    )
    assert result.tested is not None
    assert [c.unit.name for c in result.tested.culprits] == ["alpha"]
    assert events[0].stage == "before"
    assert events[0].run.passed
    assert events[1].stage == "all"
    assert not events[1].run.passed
    assert events[-1].stage == "final"
    assert events[-1].run.passed
    assert len(events) == result.tested.runs
    assert {r.name: r.after for r in result.results} == {
        "beta": "2.0",
        "gamma": "2.0",
        "delta": "2.0",
    }
    assert freeze(scene.venv)["alpha"] == "1.0"
