"""``pipfresh bump`` through the real entry point (``python -m pipfresh bump``) in a
subprocess, against a local index on 127.0.0.1: the table, the JSON document,
``--exit-code``, ``--write``, ``--dry-run``, bad input (broken TOML, a line pip rejects,
an include cycle, a file that cannot be replaced: exit 2, one line, nothing written),
``--offline`` and the command's own options."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration.test_scan_helpers import (
    PIPFRESH,
    RUN_TIMEOUT,
    assert_usage_error,
    describe,
    pipfresh_env,
    run_pipfresh,
)
from support.index_server import IndexServer
from support.wheels import build_wheel

RELEASES = {"alpha": ("1.0.0", "2.0.1"), "beta": ("1.2", "1.9.0"), "gamma": ("3.0",)}

REQUIREMENTS = "# the app\nalpha==1.0.0\nbeta>=1.2  # kept\ngamma\n-c constraints.txt\n"
CONSTRAINTS = "alpha==1.0.0\n"
PYPROJECT = """\
[project]
name = "demo"
requires-python = ">=3.9"
dependencies = ["alpha>=1.0,<2"]

[dependency-groups]
dev = ["beta~=1.2"]
"""
BUMPED = {
    "requirements.txt": "# the app\nalpha==2.0.1\nbeta>=1.9  # kept\ngamma\n-c constraints.txt\n",
    "constraints.txt": "alpha==2.0.1\n",
    "pyproject.toml": PYPROJECT.replace(">=1.0,<2", ">=2.0,<3").replace("~=1.2", "~=1.9"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    wheels = tmp_path_factory.mktemp("bump-cli-wheels")
    with IndexServer() as index:
        for name, versions in RELEASES.items():
            for version in versions:
                index.add(build_wheel(wheels, name, version))
        yield index


@dataclass
class Project:
    server: IndexServer
    path: Path
    env: dict[str, str]

    def run(self, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
        return run_pipfresh("bump", *args, *self.index_args, env=self.env, cwd=self.path)

    @property
    def index_args(self) -> list[str]:
        return ["--index-url", self.server.url, "--python-version", "3.12"]

    def texts(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.path.iterdir()) if p.is_file()}


@pytest.fixture
def project(server: IndexServer, tmp_path: Path) -> Project:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "requirements.txt").write_text(REQUIREMENTS)
    (folder / "constraints.txt").write_text(CONSTRAINTS)
    (folder / "pyproject.toml").write_text(PYPROJECT)
    return Project(server, folder, pipfresh_env(tmp_path))


def without_time(text: str) -> str:
    return re.sub(r" in \d+\.\d\d s$", " in T s", text, flags=re.MULTILINE)


# --------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------


def test_the_table_lists_every_pin_to_raise(project: Project) -> None:
    result = project.run()
    assert result.returncode == 0, describe(result)
    assert without_time(result.stdout) == (
        "File:line           Package  Now       Latest  Proposed  Bump\n"
        "pyproject.toml:4    alpha    >=1.0,<2  2.0.1   >=2.0,<3  major\n"
        "pyproject.toml:7    beta     ~=1.2     1.9.0   ~=1.9     minor\n"
        "constraints.txt:1   alpha    ==1.0.0   2.0.1   ==2.0.1   major\n"
        "requirements.txt:2  alpha    ==1.0.0   2.0.1   ==2.0.1   major\n"
        "requirements.txt:3  beta     >=1.2     1.9.0   >=1.9     minor\n"
        "pyproject.toml:4: alpha: bumped together with constraints.txt:1, requirements.txt:2\n"
        "pyproject.toml:7: beta: bumped together with requirements.txt:3\n"
        "constraints.txt:1: alpha: bumped together with pyproject.toml:4, requirements.txt:2\n"
        "requirements.txt:2: alpha: bumped together with pyproject.toml:4, constraints.txt:1\n"
        "requirements.txt:3: beta: bumped together with pyproject.toml:7\n"
        "requirements.txt:4: gamma: left alone (no version to raise)\n"
        "5 pins checked in 3 files, 5 to bump, 1 left alone in T s\n"
    )
    assert result.stderr == ""
    assert project.texts() == {
        "constraints.txt": CONSTRAINTS.encode(),
        "pyproject.toml": PYPROJECT.encode(),
        "requirements.txt": REQUIREMENTS.encode(),
    }


PIN_FIELDS = {
    "file": str,
    "line": int,
    "package": str,
    "section": str,
    "now": str,
    "latest": (str, type(None)),
    "proposed": (str, type(None)),
    "version": (str, type(None)),
    "bump": (str, type(None)),
    "changes": bool,
    "skipped": list,
    "left_alone": (str, type(None)),
    "bumped_with": list,
    "note": (str, type(None)),
    "held_back_by": list,
}


def test_json_has_the_documented_fields(project: Project) -> None:
    result = project.run("--format", "json")
    assert result.returncode == 0, describe(result)
    document = json.loads(result.stdout)
    assert set(document) == {"version", "python", "files", "pins", "errors", "warnings", "summary"}
    assert document["version"] == 1
    assert document["python"] == "3.12.0"
    # pyproject.toml first, then the requirements/constraints files by name
    assert document["files"] == ["pyproject.toml", "constraints.txt", "requirements.txt"]
    for pin in document["pins"]:
        assert set(pin) == set(PIN_FIELDS)
        for key, kind in PIN_FIELDS.items():
            assert isinstance(pin[key], kind), (key, pin)
    rows = [
        (p["file"], p["line"], p["package"], p["section"], p["now"], p["proposed"], p["bump"])
        for p in document["pins"]
    ]
    assert rows == [
        ("pyproject.toml", 4, "alpha", "project.dependencies", ">=1.0,<2", ">=2.0,<3", "major"),
        ("pyproject.toml", 7, "beta", "dependency-groups.dev", "~=1.2", "~=1.9", "minor"),
        ("constraints.txt", 1, "alpha", "constraints", "==1.0.0", "==2.0.1", "major"),
        ("requirements.txt", 2, "alpha", "requirements", "==1.0.0", "==2.0.1", "major"),
        ("requirements.txt", 3, "beta", "requirements", ">=1.2", ">=1.9", "minor"),
        ("requirements.txt", 4, "gamma", "requirements", "", None, None),
    ]
    gamma = document["pins"][5]
    assert (gamma["left_alone"], gamma["changes"], gamma["latest"]) == ("unversioned", False, None)
    assert document["pins"][0]["bumped_with"] == ["constraints.txt:1", "requirements.txt:2"]
    assert document["errors"] == []
    assert document["warnings"] == []
    summary = document["summary"]
    assert {k: v for k, v in summary.items() if k != "seconds"} == {
        "pins": 6,
        "changes": 5,
        "left_alone": 1,
        "errors": 0,
    }
    assert isinstance(summary["seconds"], float)


def test_exit_code_is_1_until_the_pins_are_written(project: Project) -> None:
    first = project.run("--exit-code")
    assert first.returncode == 1, describe(first)
    assert project.texts()["requirements.txt"] == REQUIREMENTS.encode()

    written = project.run("-w")
    assert written.returncode == 0, describe(written)
    assert written.stdout.endswith("wrote 3 files\n")
    assert project.texts() == {name: text.encode() for name, text in sorted(BUMPED.items())}

    again = project.run("--exit-code")
    assert again.returncode == 0, describe(again)
    assert without_time(again.stdout).endswith(
        "5 pins checked in 3 files, 0 to bump, 1 left alone: "
        "every pin admits the newest eligible release in T s\n"
    )


def test_dry_run_prints_a_unified_diff_and_writes_nothing(project: Project) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in project.path.iterdir()}
    result = project.run("--dry-run")
    assert result.returncode == 0, describe(result)
    assert result.stdout == (
        "--- a/pyproject.toml\n"
        "+++ b/pyproject.toml\n"
        "@@ -1,7 +1,7 @@\n"
        " [project]\n"
        ' name = "demo"\n'
        ' requires-python = ">=3.9"\n'
        '-dependencies = ["alpha>=1.0,<2"]\n'
        '+dependencies = ["alpha>=2.0,<3"]\n'
        " \n"
        " [dependency-groups]\n"
        '-dev = ["beta~=1.2"]\n'
        '+dev = ["beta~=1.9"]\n'
        "--- a/constraints.txt\n"
        "+++ b/constraints.txt\n"
        "@@ -1 +1 @@\n"
        "-alpha==1.0.0\n"
        "+alpha==2.0.1\n"
        "--- a/requirements.txt\n"
        "+++ b/requirements.txt\n"
        "@@ -1,5 +1,5 @@\n"
        " # the app\n"
        "-alpha==1.0.0\n"
        "-beta>=1.2  # kept\n"
        "+alpha==2.0.1\n"
        "+beta>=1.9  # kept\n"
        " gamma\n"
        " -c constraints.txt\n"
    )
    assert result.stderr == ""
    assert {p.name: p.stat().st_mtime_ns for p in project.path.iterdir()} == before
    assert project.texts()["requirements.txt"] == REQUIREMENTS.encode()

    # the diff applies to the files and gives what --write writes
    if shutil.which("git") is None:
        return
    applied = subprocess.run(
        ["git", "apply", "--unsafe-paths", "-"],
        input=result.stdout,
        capture_output=True,
        text=True,
        cwd=project.path,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    assert project.texts() == {name: text.encode() for name, text in sorted(BUMPED.items())}


# --------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing written
# --------------------------------------------------------------------------------------


def assert_nothing_written(project: Project, before: dict[str, bytes]) -> None:
    assert project.texts() == before
    assert not [p for p in project.path.rglob("*") if p.name.endswith(".pipfresh-tmp")]


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        (
            "pyproject.toml",
            '[project]\nname = "demo"\ndependencies = ["alpha>=1.0,<2",\n\n[tool.x]\n',
            r"pyproject\.toml:\d+: not valid TOML",
        ),
        (
            "pyproject.toml",
            '[project]\nname = "demo"\ndependencies = [\n  "alpha>=1.0",\n  "beta>>2",\n]\n',
            r"pyproject\.toml:5: not a valid requirement",
        ),
        (
            "requirements.txt",
            "alpha==1.0.0\nbeta>>2\n",
            r"requirements\.txt:2: not a valid requirement",
        ),
        ("requirements.txt", "alpha==1.0.0\n--frobnicate\n", r"requirements\.txt:2: "),
        (
            "constraints.txt",
            "alpha==1.0.0\n-r missing.txt\n",
            r"constraints\.txt:2: .*missing\.txt",
        ),
    ],
    ids=["broken-toml", "toml-bad-requirement", "pip-rejects", "unknown-option", "missing-include"],
)
def test_a_file_that_does_not_parse_stops_everything(
    project: Project, name: str, text: str, needle: str
) -> None:
    (project.path / name).write_text(text)
    before = project.texts()
    result = project.run("-w")
    assert_usage_error(result)
    assert re.search(needle, result.stderr), describe(result)
    assert_nothing_written(project, before)


def test_an_include_cycle_is_an_error(project: Project) -> None:
    (project.path / "constraints.txt").write_text("alpha==1.0.0\n-r requirements.txt\n")
    before = project.texts()
    result = project.run("-w")
    # constraints.txt is read first (by name), so requirements.txt's -c closes the cycle
    assert_usage_error(result, "requirements.txt:5: include cycle:")
    assert "constraints.txt -> requirements.txt -> constraints.txt" in result.stderr
    assert_nothing_written(project, before)


def test_a_file_that_cannot_be_replaced_is_reported_before_any_write(project: Project) -> None:
    # a symlink is refused whoever runs the test (root may write a 0444 file)
    real = project.path / "real-constraints.txt"
    (project.path / "constraints.txt").rename(real)
    (project.path / "constraints.txt").symlink_to(real.name)
    before = project.texts()
    result = project.run("-w")
    assert_usage_error(result, "constraints.txt: not a regular file")
    assert_nothing_written(project, before)
    assert (project.path / "constraints.txt").is_symlink()


def _unprivileged() -> list[str] | None:
    """A command prefix that runs as an unprivileged user, or None when the tests
    are not root (they already are unprivileged: no prefix needed, an empty list)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    # The checkout may sit in a folder only root can enter (a mktemp -d clone): then
    # the unprivileged user cannot run pipfresh at all, and the test cannot be made.
    probe = subprocess.run(
        [*prefix, *PIPFRESH, "--version"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return prefix if probe.returncode == 0 else None


def test_a_read_only_file_beside_a_writable_one_leaves_both_unchanged(server: IndexServer) -> None:
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip(
            "running as root, and no unprivileged user can run pipfresh here "
            "(no setpriv, or the checkout is not readable to it): root may write a 0444 file"
        )
    # a folder the unprivileged user owns (pytest's tmp_path is root's own, mode 0700)
    folder = Path(tempfile.mkdtemp(prefix="pipfresh-bump-ro-"))
    try:
        (folder / "requirements.txt").write_text("alpha==1.0.0\n-c constraints.txt\n")
        (folder / "constraints.txt").write_text("beta==1.2\n")
        env = pipfresh_env(folder)  # writes the empty .netrc it names
        if prefix:
            for path in (folder, *folder.iterdir()):
                os.chown(path, 65534, 65534)
        (folder / "constraints.txt").chmod(0o444)
        env["PIPFRESH_CACHE_DIR"] = str(folder / "cache")
        env["HOME"] = str(folder)
        argv = [*prefix, *PIPFRESH, "bump", "-w", "--index-url", server.url]
        argv += ["--python-version", "3.12"]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
            timeout=RUN_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert_usage_error(result, "constraints.txt: not writable")
        assert (folder / "requirements.txt").read_text() == "alpha==1.0.0\n-c constraints.txt\n"
        assert (folder / "constraints.txt").read_text() == "beta==1.2\n"
        assert not list(folder.glob("*.pipfresh-tmp"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------
# --offline, and the project an index cannot answer
# --------------------------------------------------------------------------------------


def test_offline_never_connects(project: Project) -> None:
    project.server.reset_stats()
    cold = project.run("--offline", "--format", "json")
    assert cold.returncode == 3, describe(cold)
    assert project.server.total_requests == 0
    assert {e["name"] for e in json.loads(cold.stdout)["errors"]} == {"alpha", "beta"}

    # a warm cache answers everything offline, still without a connection
    project.env["PIPFRESH_CACHE_DIR"] = str(project.path.parent / "shared-cache")
    online = project.run("--format", "json")
    assert online.returncode == 0, describe(online)
    assert project.server.total_requests == 2  # one page per project
    project.server.reset_stats()
    offline = project.run("--offline", "--format", "json")
    assert offline.returncode == 0, describe(offline)
    assert project.server.total_requests == 0
    assert json.loads(offline.stdout)["pins"] == json.loads(online.stdout)["pins"]


def test_a_project_the_index_does_not_know_is_an_error_of_its_own(project: Project) -> None:
    (project.path / "requirements.txt").write_text("alpha==1.0.0\nnosuch-project==1.0\n")
    result = project.run("-w")
    assert result.returncode == 3, describe(result)
    assert "error: nosuch-project: " in result.stdout
    # the other pins are still bumped
    assert (project.path / "requirements.txt").read_text() == "alpha==2.0.1\nnosuch-project==1.0\n"


# --------------------------------------------------------------------------------------
# the command's own options
# --------------------------------------------------------------------------------------


def test_help_lists_only_bumps_options(project: Project) -> None:
    result = run_pipfresh("bump", "--help", env=project.env, cwd=project.path)
    assert result.returncode == 0, describe(result)
    assert result.stdout.startswith("usage: pipfresh bump ")
    options = result.stdout.partition("exit status:")[0]
    for option in (
        "-w, --write",
        "--dry-run",
        "--python-version X.Y",
        "--exit-code",
        "--format {table,json}",
        "FILE",
        "--python",
        "--index-url",
        "--offline",
        "--cache-dir",
        "--target",
        "--exclude",
        "--cooldown",
    ):
        assert option in options, option
    for option in ("--all", "--yes", "--latest", "--installer", "--test", "-r FILE", "--direct"):
        assert option not in options, option
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("-y",), "-y: only for 'pipfresh update'"),
        (("--latest",), "--latest: only for 'pipfresh update'"),
        (("--installer", "uv"), "--installer: only for 'pipfresh update'"),
        (("--all",), "--all: only for 'pipfresh outdated'"),
        (("-r", "requirements.txt"), "-r: only for 'pipfresh outdated'"),
        (("-w", "--dry-run"), "not allowed with argument"),
        (("--format", "jsonl"), "invalid choice: 'jsonl'"),
        (("--python-version", "three"), "--python-version: expected a version like 3.12"),
    ],
)
def test_an_option_of_another_command_is_a_usage_error(
    project: Project, argv: tuple[str, ...], needle: str
) -> None:
    before = project.texts()
    result = run_pipfresh("bump", *argv, env=project.env, cwd=project.path)
    assert_usage_error(result, needle)
    assert project.texts() == before
