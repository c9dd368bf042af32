"""``python -m pipfresh`` end to end: a real venv with old versions installed from a local
index, every output format, exit statuses, projects that cannot be checked, bad input."""

from __future__ import annotations

import json
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from integration.test_scan_helpers import (
    RUN_TIMEOUT,
    assert_usage_error,
    describe,
    install_pins,
    pipfresh_env,
    publish,
    run_json,
    run_pipfresh,
)
from support.index_server import IndexServer
from support.venvs import Venv, VenvFactory
from support.wheels import WheelFactory

# Three days and an hour ago, so the table's age reads "3 days" whatever the clock says.
RELEASED = (datetime.now(timezone.utc) - timedelta(days=3, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Scene:
    server: IndexServer
    venv: Venv  # foo 1.0 (index: 1.0, 1.1, 2.0) and bar 1.0 (up to date)
    troubled: Venv  # foo 1.0, ghost 1.0 (index answers 404), broken 1.0 (index answers 500)
    env: dict[str, str]
    cwd: Path

    @property
    def args(self) -> list[str]:
        return ["--python", str(self.venv.path), "--index-url", self.server.url]

    @property
    def troubled_args(self) -> list[str]:
        return ["--python", str(self.troubled.path), "--index-url", self.server.url]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("cli-outdated")
    with IndexServer() as server:
        publish(server, wheel_factory, "foo", "1.0", "1.1")
        publish(server, wheel_factory, "foo", "2.0", upload_time=RELEASED)
        publish(server, wheel_factory, "bar", "1.0")
        publish(server, wheel_factory, "ghost", "1.0")
        publish(server, wheel_factory, "broken", "1.0")
        venvs = VenvFactory(root)
        venv = venvs("env")
        install_pins(venv, server.url, ["foo==1.0", "bar==1.0"])
        troubled = venvs("troubled")
        install_pins(troubled, server.url, ["foo==1.0", "ghost==1.0", "broken==1.0"])
        server.fail("ghost", 404)
        server.fail("broken", 500)
        yield Scene(server, venv, troubled, pipfresh_env(root), root)


def table_rows(stdout: str) -> dict[str, list[str]]:
    """Table rows by package name (first cell), cells split on whitespace."""
    rows: dict[str, list[str]] = {}
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Package"])
    for line in lines[header + 1 :]:
        cells = line.split()
        if not cells or cells[0].endswith(":") or cells[0][0].isdigit() or cells[0] == "*":
            break
        rows[cells[0]] = [c for c in cells if c != "*"]  # the direct-dependency mark
    return rows


# --------------------------------------------------------------------------------------
# table
# --------------------------------------------------------------------------------------


def test_table_lists_the_outdated_package_with_bump_and_age(scene: Scene) -> None:
    result = run_pipfresh(*scene.args, env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert lines[0] == f"{scene.venv.path} (Python {platform.python_version()})"
    assert lines[1].split() == ["Package", "Installed", "Latest", "Bump", "Released"]
    assert table_rows(result.stdout) == {
        "foo": ["foo", "1.0", "2.0", "major", "3", "days"],
    }
    # foo is required by nothing else installed: marked, and the mark explained.
    assert lines[2].startswith("foo *  ")
    assert lines[3] == "* direct dependency: required by no other installed package"
    assert lines[-1].startswith("2 checked, 1 outdated, 0 errors in ")
    assert "bar" not in result.stdout


def test_table_all_lists_up_to_date_packages(scene: Scene) -> None:
    result = run_pipfresh(*scene.args, "--all", env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    assert table_rows(result.stdout) == {
        "bar": ["bar", "1.0", "1.0"],
        "foo": ["foo", "1.0", "2.0", "major", "3", "days"],
    }


# --------------------------------------------------------------------------------------
# json / jsonl / freeze
# --------------------------------------------------------------------------------------

PACKAGE_KEYS = {
    "name",
    "installed",
    "wanted",
    "latest",
    "bump",
    "released",
    "held_back_by",
    "kind",
}


def check_schema(document: dict[str, object]) -> None:
    """The version-1 document of SPEC.md: keys and types (fields may only be added)."""
    assert {"version", "environment", "packages", "errors", "summary"} <= set(document)
    assert document["version"] == 1
    environment = document["environment"]
    assert isinstance(environment, dict)
    assert {"python", "python_version", "prefix"} <= set(environment)
    assert all(isinstance(environment[k], str) for k in ("python", "python_version", "prefix"))
    packages = document["packages"]
    assert isinstance(packages, list)
    for package in packages:
        assert set(package) >= PACKAGE_KEYS, package
        assert package["kind"] in {"index", "editable", "direct_url"}
        assert isinstance(package["held_back_by"], list)
        assert isinstance(package.get("direct", False), bool)
        for key in ("name", "installed"):
            assert isinstance(package[key], str)
        for key in ("wanted", "latest", "bump", "released"):
            assert package[key] is None or isinstance(package[key], str)
    errors = document["errors"]
    assert isinstance(errors, list)
    for error in errors:
        assert set(error) >= {"name", "reason"}
        assert isinstance(error["reason"], str)
        assert "\n" not in error["reason"]
    summary = document["summary"]
    assert isinstance(summary, dict)
    assert {"checked", "outdated", "errors", "seconds"} <= set(summary)
    for key in ("checked", "outdated", "errors"):
        assert type(summary[key]) is int
    assert type(summary["seconds"]) in (int, float)
    assert summary["seconds"] >= 0


def test_json_document_matches_the_version_1_schema(scene: Scene) -> None:
    document = run_json(*scene.args, env=scene.env, cwd=scene.cwd)
    check_schema(document)
    environment = document["environment"]
    assert environment["python"] == str(scene.venv.python)
    assert environment["python_version"] == platform.python_version()
    assert environment["prefix"] == str(scene.venv.path)
    assert document["packages"] == [
        {
            "name": "foo",
            "installed": "1.0",
            "wanted": "2.0",
            "latest": "2.0",
            "bump": "major",
            "released": RELEASED,
            "held_back_by": [],
            "kind": "index",
            # No dependency files here, and nothing installed requires foo.
            "direct": True,
        }
    ]
    assert document["errors"] == []
    summary = document["summary"]
    assert (summary["checked"], summary["outdated"], summary["errors"]) == (2, 1, 0)


def test_json_all_includes_up_to_date_packages(scene: Scene) -> None:
    document = run_json(*scene.args, "--all", env=scene.env, cwd=scene.cwd)
    check_schema(document)
    by_name = {p["name"]: p for p in document["packages"]}
    assert set(by_name) == {"foo", "bar"}
    bar = by_name["bar"]
    assert (bar["installed"], bar["wanted"], bar["latest"], bar["bump"]) == (
        "1.0",
        "1.0",
        "1.0",
        None,
    )
    assert bar["kind"] == "index"
    assert document["summary"]["outdated"] == 1


def test_jsonl_one_line_per_outdated_package_then_the_summary(scene: Scene) -> None:
    result = run_pipfresh(*scene.args, "--format", "jsonl", env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2, result.stdout
    assert lines[0] == {
        "name": "foo",
        "installed": "1.0",
        "wanted": "2.0",
        "latest": "2.0",
        "bump": "major",
        "released": RELEASED,
        "held_back_by": [],
        "kind": "index",
        "direct": True,
    }
    assert list(lines[1]) == ["summary"]
    summary = lines[1]["summary"]
    assert (summary["checked"], summary["outdated"], summary["errors"]) == (2, 1, 0)


def test_freeze_lines(scene: Scene) -> None:
    result = run_pipfresh(*scene.args, "--format", "freeze", env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    assert result.stdout == "foo==2.0\n"


# --------------------------------------------------------------------------------------
# exit statuses, names
# --------------------------------------------------------------------------------------


def test_exit_code_is_1_when_outdated_and_0_when_not(scene: Scene) -> None:
    outdated = run_pipfresh(*scene.args, "--exit-code", env=scene.env, cwd=scene.cwd)
    assert outdated.returncode == 1, describe(outdated)
    plain = run_pipfresh(*scene.args, env=scene.env, cwd=scene.cwd)
    assert plain.returncode == 0, describe(plain)
    current = run_pipfresh(
        "outdated", "bar", *scene.args, "--exit-code", env=scene.env, cwd=scene.cwd
    )
    assert current.returncode == 0, describe(current)
    assert "The 1 checked package is up to date." in current.stdout


def test_outdated_with_names_only_checks_the_named_projects(scene: Scene) -> None:
    scene.server.reset_stats()
    document = run_json("outdated", "foo", *scene.args, env=scene.env, cwd=scene.cwd)
    assert [p["name"] for p in document["packages"]] == ["foo"]
    assert document["summary"]["checked"] == 1
    assert scene.server.count("foo") == 1
    assert scene.server.count("bar") == 0


def test_bare_names_only_check_the_named_projects(scene: Scene) -> None:
    scene.server.reset_stats()
    document = run_json("foo", *scene.args, env=scene.env, cwd=scene.cwd)
    assert [p["name"] for p in document["packages"]] == ["foo"]
    assert document["summary"]["checked"] == 1
    assert scene.server.count("bar") == 0


@pytest.mark.parametrize(
    "argv",
    [
        ("outdated", "--format", "json", "foo"),  # names after options
        ("outdated", "--format", "json", "foo", "--all"),  # and between them
        ("--format", "json", "foo"),
    ],
)
def test_names_may_follow_options(scene: Scene, argv: tuple[str, ...]) -> None:
    result = run_pipfresh(*argv, *scene.args, env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    assert [p["name"] for p in json.loads(result.stdout)["packages"]] == ["foo"]


@pytest.mark.parametrize("command", [(), ("outdated",)])
def test_a_name_that_is_not_installed_is_an_error_and_the_rest_are_checked(
    scene: Scene, command: tuple[str, ...]
) -> None:
    result = run_pipfresh(
        *command, "fo", "foo", "--format", "json", *scene.args, env=scene.env, cwd=scene.cwd
    )
    assert result.returncode == 3, describe(result)
    document = json.loads(result.stdout)
    assert [p["name"] for p in document["packages"]] == ["foo"]
    assert document["errors"] == [
        {"name": "fo", "reason": f"not installed in {scene.venv.path} (did you mean 'foo'?)"}
    ]


def test_a_name_that_is_not_installed_is_a_line_of_the_table(scene: Scene) -> None:
    result = run_pipfresh("bra", *scene.args, env=scene.env, cwd=scene.cwd)
    assert result.returncode == 3, describe(result)
    assert f"error: bra: not installed in {scene.venv.path} (did you mean 'bar'?)" in (
        result.stdout.splitlines()
    )
    assert result.stderr == "", describe(result)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["updte"], "unknown command 'updte' (did you mean 'pipfresh update'?)"),
        (["outdatd", "foo"], "unknown command 'outdatd' (did you mean 'pipfresh outdated'?)"),
        (["list"], "unknown command 'list' (did you mean 'pipfresh outdated'?)"),
        (["upgrade"], "unknown command 'upgrade' (did you mean 'pipfresh update'?)"),
    ],
)
def test_a_command_typo_is_a_usage_error_with_a_suggestion(
    scene: Scene, argv: list[str], needle: str
) -> None:
    result = run_pipfresh(*argv, *scene.args, env=scene.env, cwd=scene.cwd)
    assert_usage_error(result, needle)


@pytest.mark.parametrize("name", ["old-reqs.txt", "./foo", "reqs/dev.in"])
def test_a_path_given_as_a_name_says_so(scene: Scene, name: str) -> None:
    result = run_pipfresh(name, *scene.args, env=scene.env, cwd=scene.cwd)
    assert_usage_error(result, f"{name!r} is a path, not a project name")


def test_an_existing_requirements_file_given_as_a_name_suggests_r(
    scene: Scene, tmp_path: Path
) -> None:
    (tmp_path / "reqs.txt").write_text("foo\n")
    result = run_pipfresh("reqs.txt", *scene.args, env=scene.env, cwd=tmp_path)
    assert_usage_error(result, "use -r reqs.txt")


def test_requirement_files_name_the_projects_to_check(scene: Scene, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("foo>=1.0  # pinned low\n")
    (tmp_path / "b.txt").write_text("-r a.txt\nghost-project==1\n")
    scene.server.reset_stats()
    result = run_pipfresh(
        "-r", "a.txt", "--requirement", "b.txt", "--format", "json", "--all",
        *scene.args, env=scene.env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 3, describe(result)
    document = json.loads(result.stdout)
    assert [p["name"] for p in document["packages"]] == ["foo"]
    assert [e["name"] for e in document["errors"]] == ["ghost-project"]
    assert scene.server.count("bar") == 0


def test_a_missing_requirements_file_is_a_usage_error(scene: Scene, tmp_path: Path) -> None:
    result = run_pipfresh("-r", "nope.txt", *scene.args, env=scene.env, cwd=tmp_path)
    assert_usage_error(result, "cannot read requirements file nope.txt")


# --------------------------------------------------------------------------------------
# projects that cannot be checked
# --------------------------------------------------------------------------------------


def test_unchecked_projects_exit_3_with_one_line_each_in_the_table(scene: Scene) -> None:
    result = run_pipfresh(*scene.troubled_args, "--exit-code", env=scene.env, cwd=scene.cwd)
    assert result.returncode == 3, describe(result)
    errors = [line for line in result.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, describe(result)
    assert errors[0].startswith("error: broken: HTTP 500 from "), errors
    assert scene.server.url in errors[0]
    assert errors[1].startswith("error: ghost: not found on any index"), errors
    # The scan went on: foo was checked and is reported.
    assert table_rows(result.stdout)["foo"][:4] == ["foo", "1.0", "2.0", "major"]
    assert "Traceback" not in result.stderr


def test_unchecked_projects_in_json_errors(scene: Scene) -> None:
    document = run_json(*scene.troubled_args, env=scene.env, cwd=scene.cwd, expect=3)
    check_schema(document)
    assert [e["name"] for e in document["errors"]] == ["broken", "ghost"]
    broken, ghost = document["errors"]
    assert "HTTP 500" in broken["reason"]
    assert "not found on any index" in ghost["reason"]
    assert [p["name"] for p in document["packages"]] == ["foo"]
    summary = document["summary"]
    assert (summary["checked"], summary["outdated"], summary["errors"]) == (3, 1, 2)


# --------------------------------------------------------------------------------------
# bad input: exit 2, one line, no traceback
# --------------------------------------------------------------------------------------


def test_nonexistent_python(scene: Scene) -> None:
    result = run_pipfresh("--python", "/nonexistent", env=scene.env, cwd=scene.cwd)
    assert_usage_error(result, "/nonexistent")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--concurrency", "0"], "concurrency"),
        (["--concurrency", "abc"], "abc"),
        (["--format", "xml"], "xml"),
        (["--frobnicate"], "--frobnicate"),
        (["--timeout", "-1"], "-1"),
        (["--timeout", "soon"], "soon"),
    ],
)
def test_bad_options(scene: Scene, args: list[str], needle: str) -> None:
    result = run_pipfresh(*scene.args, *args, env=scene.env, cwd=scene.cwd)
    assert_usage_error(result, needle)


def test_bad_concurrency_variable(scene: Scene) -> None:
    env = scene.env | {"PIPFRESH_CONCURRENCY": "many"}
    result = run_pipfresh(*scene.args, env=env, cwd=scene.cwd)
    assert_usage_error(result, "PIPFRESH_CONCURRENCY")


def test_index_url_with_an_invalid_port_is_reported_not_a_crash(scene: Scene) -> None:
    result = run_pipfresh(
        "--python",
        scene.venv.path,
        "--index-url",
        "http://alice:s3cr3t-port@127.0.0.1:99999/simple",
        env=scene.env,
        cwd=scene.cwd,
    )
    assert result.returncode in (2, 3), describe(result)
    assert "internal error" not in result.stderr
    assert "s3cr3t-port" not in result.stdout + result.stderr


# --------------------------------------------------------------------------------------
# the target's inspection starts before the scan's imports, and never outlives pipfresh
# --------------------------------------------------------------------------------------

# Runs pipfresh.cli.main in a fresh interpreter (so that nothing is imported yet) and
# writes down each subprocess it starts: its first arguments, the modules of concern
# already imported then, and its exit status once main returned (None: never waited for).
SPY = """
import json, os, subprocess, sys

out_path, *argv = sys.argv[1:]
HEAVY = ("pipfresh.scan", "pipfresh.settings", "pipfresh.models", "pipfresh.installed",
         "pipfresh.cache", "pipfresh.api", "msgspec", "packaging")
started = []

class Recording(subprocess.Popen):
    def __init__(self, args, *rest, **kwargs):
        heavy = sorted(m for m in sys.modules if m.startswith(HEAVY))
        super().__init__(args, *rest, **kwargs)
        started.append((self, [str(a) for a in args[:2]], heavy))

subprocess.Popen = Recording

class CtrlC:
    # Ctrl-C while this module is being imported.
    def find_spec(self, name, path=None, target=None):
        if name == os.environ.get("SPY_INTERRUPT_IMPORTING"):
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, CtrlC())
from pipfresh.cli import main

rc = main(argv)
with open(out_path, "w") as out:
    children = [{"args": a, "heavy": h, "returncode": p.returncode} for p, a, h in started]
    json.dump({"rc": rc, "children": children}, out)
sys.exit(rc)
"""


@dataclass
class SpiedRun:
    returncode: int
    stderr: str
    children: list[dict[str, Any]]
    seconds: float


def run_spied(
    *args: str | Path, env: dict[str, str], cwd: Path, tmp_path: Path, **extra_env: str
) -> SpiedRun:
    record = tmp_path / "spy.json"
    env = env | {"PIPFRESH_CACHE_DIR": str(tmp_path / "cache"), **extra_env}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", SPY, str(record), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    seconds = time.monotonic() - started
    spied = json.loads(record.read_text())
    assert spied["rc"] == result.returncode, describe(result)
    return SpiedRun(result.returncode, result.stderr, spied["children"], seconds)


def sleeper(tmp_path: Path) -> Path:
    """A target that never answers."""
    path = tmp_path / "python"
    path.write_text("#!/bin/sh\nexec sleep 60\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("command", [(), ("update", "--dry-run")], ids=["outdated", "update"])
def test_the_target_is_started_before_the_scan_is_imported(
    scene: Scene, tmp_path: Path, command: tuple[str, ...]
) -> None:
    run = run_spied(*command, *scene.args, env=scene.env, cwd=scene.cwd, tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    first = run.children[0]
    assert first["args"] == [str(scene.venv.python), "-E"]
    assert first["heavy"] == []
    assert first["returncode"] == 0


@pytest.mark.parametrize(
    ("args", "extra_env", "needle"),
    [
        pytest.param(("--offline", "--no-cache"), {}, "--offline", id="settings"),
        pytest.param((), {"PIPFRESH_CONCURRENCY": "many"}, "PIPFRESH_CONCURRENCY", id="env"),
        pytest.param(("update", "-y"), {"PIPFRESH_TARGET": "huge"}, "huge", id="update"),
    ],
)
def test_a_usage_error_after_the_start_kills_and_reaps_the_target(
    scene: Scene, tmp_path: Path, args: tuple[str, ...], extra_env: dict[str, str], needle: str
) -> None:
    python = sleeper(tmp_path)
    run = run_spied(
        "--python", python, *args, env=scene.env, cwd=scene.cwd, tmp_path=tmp_path, **extra_env
    )
    assert run.returncode == 2
    assert run.stderr.startswith("pipfresh: error:")
    assert needle in run.stderr
    assert run.stderr.count("\n") == 1
    assert [c["args"][0] for c in run.children] == [str(python)]
    assert run.children[0]["returncode"] == -signal.SIGKILL
    assert run.seconds < 30


def test_ctrl_c_during_the_imports_kills_and_reaps_the_target(scene: Scene, tmp_path: Path) -> None:
    python = sleeper(tmp_path)
    run = run_spied(
        "--python",
        python,
        env=scene.env,
        cwd=scene.cwd,
        tmp_path=tmp_path,
        SPY_INTERRUPT_IMPORTING="pipfresh.scan",
    )
    assert run.returncode == 130
    assert run.stderr == "\npipfresh: interrupted\n"
    assert run.children[0]["returncode"] == -signal.SIGKILL


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--latest",), id="update-option"),
        pytest.param(("update",), id="update-unconfirmed"),
        pytest.param(("update", "-y", "--format", "jsonl"), id="update-format"),
        pytest.param(("cache", "info"), id="cache"),
    ],
)
def test_usage_errors_found_before_the_start_start_nothing(
    scene: Scene, tmp_path: Path, args: tuple[str, ...]
) -> None:
    run = run_spied(
        *args, "--python", sleeper(tmp_path), env=scene.env, cwd=scene.cwd, tmp_path=tmp_path
    )
    assert run.children == []


@pytest.mark.parametrize(
    ("args", "extra_env", "line"),
    [
        pytest.param(
            ("--python", "/nonexistent"),
            {},
            "pipfresh: error: --python /nonexistent: not found",
            id="missing",
        ),
        pytest.param(
            ("update", "-y", "--python", "/nonexistent"),
            {},
            "pipfresh: error: --python /nonexistent: not found",
            id="missing-update",
        ),
        pytest.param(
            ("--python", "3.99"),
            {"PATH": "/nonexistent", "PYENV_ROOT": "/nonexistent"},
            "pipfresh: error: --python 3.99: no interpreter found on PATH or in pyenv",
            id="version",
        ),
        pytest.param(
            (),
            {"VIRTUAL_ENV": "/nonexistent"},
            "pipfresh: error: $VIRTUAL_ENV=/nonexistent: no Python interpreter in this folder",
            id="virtual-env",
        ),
        pytest.param(
            ("--python", "{broken}"),
            {},
            "pipfresh: error: {broken}: not a Python interpreter pipfresh can use (exit 3: boom)",
            id="broken",
        ),
        # The settings are checked first, as before the inspection started early.
        pytest.param(
            ("--python", "/nonexistent"),
            {"PIPFRESH_CONCURRENCY": "many"},
            "pipfresh: error: PIPFRESH_CONCURRENCY='many' is not a whole number",
            id="settings-first",
        ),
        pytest.param(
            ("--python", "{broken}", "--offline", "--no-cache"),
            {},
            "pipfresh: error: --offline answers from the cache, so it cannot go with --no-cache",
            id="settings-first-broken",
        ),
    ],
)
def test_target_errors_are_one_line_after_the_settings_errors(
    scene: Scene, tmp_path: Path, args: tuple[str, ...], extra_env: dict[str, str], line: str
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho boom >&2; exit 3\n")
    broken.chmod(0o755)
    env = scene.env | extra_env
    result = run_pipfresh(*(a.format(broken=broken) for a in args), env=env, cwd=tmp_path)
    assert (result.returncode, result.stderr, result.stdout) == (
        2,
        line.format(broken=broken) + "\n",
        "",
    ), describe(result)
