"""``pipfresh.update`` end to end, in this process: real venvs, the local index, real
installers.

The scenes are those of ``test_update.py`` (the ``scene`` fixture, ``outdated_pair``,
...), so the API is checked against what the CLI is checked against. ``os.environ``
is made what a CLI test's subprocess gets (:func:`api_environ`: no
``PIP_*``/``UV_*``/``PIPFRESH_*``, pip's config files off, the test's own cache and
``.netrc``), the working folder is the test's, and every check of the environment is
a full freeze of the venv read from its metadata.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest

import pipfresh
from integration.conftest import BlockingUv, Installs
from integration.test_scan_helpers import RUN_TIMEOUT, api_environ
from integration.test_update import Scene, lock_path, new_dependency, outdated_pair
from integration.test_update_faults import UPDATED, killed_during_install, shared_cache
from pipfresh import (
    Addition,
    Change,
    ChangeResult,
    Dropped,
    Plan,
    UpdateResult,
    UpgradeConfig,
    update,
)
from pipfresh.errors import RolledBack, UsageError
from support.venvs import Venv, clean_env, freeze


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api_environ(monkeypatch, tmp_path)
    # Not this repository's pyproject.toml: no [tool.pipfresh] from the folder we run in.
    monkeypatch.chdir(tmp_path)


def config(scene: Scene) -> UpgradeConfig:
    """The local index, and one cache (so one lock and journal) for the whole test."""
    return UpgradeConfig(index_url=scene.server.url, cache_dir=str(shared_cache(scene)))


def changes(plan: Plan) -> dict[str, str]:
    return {c.name: c.after for c in plan.changes}


def moved(result: UpdateResult) -> set[tuple[str, str, str, str]]:
    return {(r.name, r.before, r.after, r.status) for r in result.results}


@contextmanager
def lock_held(scene: Scene) -> Iterator[None]:
    """Hold the environment's update lock as another pipfresh process would."""
    path = lock_path(scene.venv)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_update_everything_outdated(scene: Scene, installer: Literal["uv", "pip"]) -> None:
    outdated_pair(scene)
    lines: list[str] = []
    result = update(
        str(scene.venv.path), config(scene), installer=installer, on_output=lines.append
    )
    assert changes(result.plan) == {"aaa": "2.0", "bbb": "1.5"}
    assert moved(result) == {("aaa", "1.0", "2.0", "updated"), ("bbb", "1.0", "1.5", "updated")}
    assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.5"}
    assert result.changed
    assert not result.dry_run
    assert result.installer == installer
    assert result.environment.prefix == str(scene.venv.path)
    assert [p.name for p in result.report.outdated] == ["aaa", "bbb"]
    assert set(result.timings) == {
        "scan",
        "plan",
        "download",
        "prepare",
        "keep",
        "install",
        "verify",
    }
    # The installer's own output reached the callback, line by line.
    assert all(line.endswith("\n") for line in lines)
    assert "aaa" in "".join(lines)


def test_new_dependency_is_reported_as_added(scene: Scene) -> None:
    new_dependency(scene)
    result = update(str(scene.venv.path), config(scene), installer="uv")
    [addition] = result.plan.additions
    assert isinstance(addition, Addition)
    assert (addition.name, addition.version) == ("ddd", "1.1")
    assert addition.reason == "new dependency of ccc 2.0"
    assert moved(result) == {("ccc", "1.0", "2.0", "updated"), ("ddd", "", "1.1", "added")}
    assert freeze(scene.venv) == {"ccc": "2.0", "ddd": "1.1"}


def test_dry_run_returns_the_plan_and_changes_nothing(scene: Scene) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    scene.server.reset_stats()
    # A dry run takes no lock: it plans even while another update holds it.
    with lock_held(scene):
        result = update(str(scene.venv.path), config(scene), dry_run=True)
    assert result.dry_run
    assert [(c.name, c.before, c.after) for c in result.plan.changes] == [
        ("aaa", "1.0", "2.0"),
        ("bbb", "1.0", "1.5"),
    ]
    assert all(isinstance(c, Change) for c in result.plan.changes)
    assert result.plan.changes[0].wheel.filename == "aaa-2.0-py3-none-any.whl"
    assert result.plan.changes[0].restore.filename == "aaa-1.0-py3-none-any.whl"
    assert result.results == ()
    assert not result.changed
    assert set(result.timings) == {"scan", "plan"}
    assert freeze(scene.venv) == before
    # No wheel was downloaded: planning asked only for pages and PEP 658 metadata.
    assert scene.server.requests
    assert not [r.path for r in scene.server.requests if r.path.endswith(".whl")]


@pytest.mark.parametrize("names", [["aaa"], "aaa"], ids=["list", "bare-string"])
def test_update_one_named_package(scene: Scene, names: list[str] | str) -> None:
    outdated_pair(scene)
    result = update(str(scene.venv.path), config(scene), names=names, installer="uv")
    assert changes(result.plan) == {"aaa": "2.0"}
    assert moved(result) == {("aaa", "1.0", "2.0", "updated")}
    assert [p.name for p in result.report.packages] == ["aaa"]
    assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.0"}


def test_held_back_package_is_dropped_with_its_reason(scene: Scene) -> None:
    scene.publish("eee", "1.0", "2.0")
    scene.publish("fff", "1.0", requires=("eee<2",))
    scene.pin("eee==1.0", "fff==1.0")
    result = update(str(scene.venv.path), config(scene), installer="uv")
    assert result.plan.empty
    [dropped] = result.plan.dropped
    assert isinstance(dropped, Dropped)
    assert (dropped.name, dropped.before, dropped.after) == ("eee", "1.0", "2.0")
    assert "fff 1.0 requires eee<2" in dropped.reason
    assert not result.changed
    assert freeze(scene.venv) == {"eee": "1.0", "fff": "1.0"}


def test_second_update_is_refused_while_the_lock_is_held(scene: Scene) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    with lock_held(scene), pytest.raises(UsageError) as raised:
        update(str(scene.venv.path), config(scene), installer="uv")
    assert "another pipfresh update is running" in str(raised.value)
    assert freeze(scene.venv) == before
    # Released: the same call now runs.
    assert update(str(scene.venv.path), config(scene), installer="uv").changed


def externally_managed(venv: Venv, tmp_path: Path) -> Path:
    """A stand-in interpreter that reports ``venv`` as a PEP 668 system environment.

    It answers pipfresh's inspection with the venv's own facts, altered to say "not a
    venv, EXTERNALLY-MANAGED present"; everything else (installers included) runs the
    venv's real interpreter, which those facts name.
    """
    from pipfresh import _target_script

    script = Path(_target_script.__file__).read_text(encoding="utf-8")
    proc = subprocess.run(
        [str(venv.python), "-E", "-c", script],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=RUN_TIMEOUT,
        check=True,
    )
    facts = {**json.loads(proc.stdout), "in_venv": False, "externally_managed_file": True}
    (tmp_path / "facts.json").write_text(json.dumps(facts))
    python = tmp_path / "system-python"
    python.write_text(f'#!/bin/sh\nexec cat "{tmp_path / "facts.json"}"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return python


def test_refuses_externally_managed_target(scene: Scene) -> None:
    outdated_pair(scene)
    python = externally_managed(scene.venv, scene.tmp_path)
    before = freeze(scene.venv)
    scene.server.reset_stats()
    with pytest.raises(UsageError) as raised:
        update(str(python), config(scene), installer="uv")
    assert str(raised.value) == (
        f"{scene.venv.path} is externally managed (PEP 668): use a virtual environment, "
        "or pass --break-system-packages"
    )
    assert scene.server.total_requests == 0
    assert freeze(scene.venv) == before


def test_dry_run_of_externally_managed_target_is_allowed(scene: Scene) -> None:
    outdated_pair(scene)
    python = externally_managed(scene.venv, scene.tmp_path)
    before = freeze(scene.venv)
    result = update(str(python), config(scene), dry_run=True)
    assert changes(result.plan) == {"aaa": "2.0", "bbb": "1.5"}
    assert freeze(scene.venv) == before


def test_externally_managed_target_updated_with_break_system_packages(scene: Scene) -> None:
    outdated_pair(scene)
    python = externally_managed(scene.venv, scene.tmp_path)
    result = update(str(python), config(scene), installer="uv", break_system_packages=True)
    assert result.environment.externally_managed
    assert moved(result) == {("aaa", "1.0", "2.0", "updated"), ("bbb", "1.0", "1.5", "updated")}
    assert freeze(scene.venv) == {"aaa": "2.0", "bbb": "1.5"}


def test_installer_failure_raises_rolled_back(
    scene: Scene, failing_uv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    monkeypatch.setenv("PATH", f"{failing_uv}{os.pathsep}{os.environ['PATH']}")
    lines: list[str] = []
    with pytest.raises(RolledBack) as raised:
        update(str(scene.venv.path), config(scene), installer="uv", on_output=lines.append)
    assert str(raised.value) == (
        "update failed (uv exited with status 1); "
        "every package was restored to its previous version "
        "(checked: the same .dist-info folders as before)"
    )
    assert isinstance(raised.value, pipfresh.PipfreshError)
    # The error carries the failed install's output, which the callback saw too.
    assert raised.value.output
    assert "".join(lines).startswith(raised.value.output)
    assert "".join(lines) == raised.value.output  # the restore itself runs no installer
    assert freeze(scene.venv) == before


RECOVERED = re.compile(
    r"^restored 4 packages left half-updated by an interrupted update "
    r"\(started \d{4}-\d\d-\d\d \d\d:\d\d\)$"
)


def test_update_first_restores_an_update_that_was_killed(
    scene: Scene, make_blocking_uv: Callable[[Installs], BlockingUv]
) -> None:
    before = killed_during_install(scene, make_blocking_uv, "all")
    assert freeze(scene.venv) == UPDATED  # left as the killed run left it
    result = update(str(scene.venv.path), config(scene), installer="uv")
    assert result.recovered is not None
    assert RECOVERED.match(result.recovered), result.recovered
    # Planned from the restored environment, not from the half-updated one.
    assert {c.name: c.before for c in result.plan.changes} == before
    assert [a.name for a in result.plan.additions] == ["ddd"]
    assert moved(result) == {
        ("aaa", "1.0", "2.0", "updated"),
        ("bbb", "1.0", "1.5", "updated"),
        ("ccc", "1.0", "2.0", "updated"),
        ("ddd", "", "1.1", "added"),
    }
    assert freeze(scene.venv) == UPDATED


def test_dry_run_warns_of_a_killed_update_and_leaves_it(
    scene: Scene, make_blocking_uv: Callable[[Installs], BlockingUv]
) -> None:
    killed_during_install(scene, make_blocking_uv, "all")
    result = update(str(scene.venv.path), config(scene), dry_run=True)
    assert result.recovered is None
    [warning] = result.warnings
    assert re.fullmatch(
        r"an interrupted update \(started [\d: -]+\) may have left "
        + re.escape(str(scene.venv.path))
        + r" half-updated; 'pipfresh update' will restore it",
        warning,
    ), warning
    assert freeze(scene.venv) == UPDATED
    # Still there for the next real update to restore.
    assert update(str(scene.venv.path), config(scene), installer="uv").recovered is not None


def test_unknown_installer_is_refused_before_anything_runs() -> None:
    with pytest.raises(UsageError) as raised:
        update("/nonexistent/python", installer="poetry")  # type: ignore[arg-type]
    assert str(raised.value) == "installer must be one of auto, uv, pip, got 'poetry'"


def test_public_names() -> None:
    from pipfresh import api, plan, upgrade

    assert update is api.update
    assert UpdateResult is api.UpdateResult
    assert (Plan, Change, Addition, Dropped) == (
        plan.Plan,
        plan.Change,
        plan.Addition,
        plan.Dropped,
    )
    assert ChangeResult is upgrade.ChangeResult
    public = {"update", "UpdateResult", "Plan", "Change", "Addition", "Dropped", "ChangeResult"}
    assert public <= set(pipfresh.__all__)
    assert public <= set(dir(pipfresh))
    assert all(getattr(pipfresh, name) is not None for name in pipfresh.__all__)


def test_update_attribute_is_the_function_after_importing_the_modules() -> None:
    # A fresh interpreter, so that the submodules really are imported first.
    code = (
        "import importlib.util, inspect\n"
        "import pipfresh.upgrade, pipfresh.planning, pipfresh.plan\n"
        "import pipfresh\n"
        "from pipfresh import update, UpdateResult\n"
        "assert importlib.util.find_spec('pipfresh.update') is None\n"
        "assert pipfresh.update is update\n"
        "print(inspect.isfunction(update), update.__module__, UpdateResult.__name__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "pipfresh.api", "UpdateResult"]


def test_metadata_budget_bounds_each_resolution_not_the_whole_plan(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kkk 2.0 needs lll to move, mmm 2.0 needs nnn to move; each co-move costs one
    # metadata file. With a budget of one file, resolving both at once gives up, and
    # each on its own (with a budget of its own) then succeeds.
    import pipfresh.resolve

    for holder, held in (("kkk", "lll"), ("mmm", "nnn")):
        scene.publish(held, "1.0", "2.0")
        scene.publish(holder, "1.0", requires=(f"{held}<2",))
        scene.publish(holder, "2.0", requires=(f"{held}>=2",))
    scene.pin("kkk==1.0", "lll==1.0", "mmm==1.0", "nnn==1.0")
    monkeypatch.setattr(pipfresh.resolve, "MAX_FETCHES", 1)
    result = update(str(scene.venv.path), config(scene), dry_run=True)
    assert changes(result.plan) == {"kkk": "2.0", "lll": "2.0", "mmm": "2.0", "nnn": "2.0"}
    assert result.plan.dropped == ()
