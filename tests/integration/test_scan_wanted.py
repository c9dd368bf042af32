"""``python -m pipfresh`` end to end on venvs built with deliberate caps: wanted, held back
by, extras, an inconsistent environment, --exclude, --target, --cooldown and
``[tool.pipfresh]``; plus one live run against PyPI (sympy caps mpmath)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from integration.test_cli_outdated import check_schema, table_rows
from integration.test_scan_helpers import (
    assert_usage_error,
    describe,
    pipfresh_env,
    publish,
    run_json,
    run_pipfresh,
)
from support.index_server import IndexServer
from support.venvs import Venv, VenvFactory, install
from support.wheels import WheelFactory


def days_ago(days: float) -> str:
    moment = datetime.now(timezone.utc) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Scene:
    server: IndexServer
    capped: Venv  # a 1.0 (b<2), c 1.0 (b>=1.5), b 1.0: the scenario
    extras_used: Venv  # e 1.0 (b<2 under extra "cap"), f 1.0 (e[cap]), b 1.0
    extras_unused: Venv  # e 1.0, g 1.0 (b<2 only on Windows / Python 2), b 1.0
    broken: Venv  # h 1.0 requires nothere>=1, which is not installed
    moves: Venv  # t 1.2.0 (index 1.2.5, 1.4.0, 2.0.0), u 1.0 (index 1.1 20 days old, 1.2 2 days)
    env: dict[str, str]
    root: Path

    def args(self, venv: Venv) -> list[str]:
        return ["--python", str(venv.path), "--index-url", self.server.url]

    def workdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(exist_ok=True)
        return path


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("scan-wanted")
    with IndexServer() as server:
        server.add(wheel_factory("a", "1.0", requires=["b<2"]))
        server.add(wheel_factory("c", "1.0", requires=["b>=1.5"]))
        publish(server, wheel_factory, "b", "1.0", "1.6", "2.0")
        server.add(wheel_factory("e", "1.0", requires=['b<2; extra == "cap"']))
        server.add(wheel_factory("f", "1.0", requires=["e[cap]"]))
        server.add(
            wheel_factory(
                "g", "1.0", requires=['b<2; sys_platform == "win32"', 'b<2; python_version < "3"']
            )
        )
        server.add(wheel_factory("h", "1.0", requires=["nothere>=1"]))
        publish(server, wheel_factory, "t", "1.2.0", "1.2.5", "1.4.0", "2.0.0")
        server.add(wheel_factory("u", "1.0"), upload_time=days_ago(100))
        server.add(wheel_factory("u", "1.1"), upload_time=days_ago(20))
        server.add(wheel_factory("u", "1.2"), upload_time=days_ago(2))
        venvs = VenvFactory(root)

        def venv(name: str, *pins: str) -> Venv:
            made = venvs(name)
            # --no-deps: the tests want environments an installer would refuse to make.
            install(made, *pins, index_url=server.url, extra_args=["--no-deps"])
            return made

        yield Scene(
            server=server,
            capped=venv("capped", "a==1.0", "c==1.0", "b==1.0"),
            extras_used=venv("extras-used", "e==1.0", "f==1.0", "b==1.0"),
            extras_unused=venv("extras-unused", "e==1.0", "g==1.0", "b==1.0"),
            broken=venv("broken", "h==1.0"),
            moves=venv("moves", "t==1.2.0", "u==1.0"),
            env=pipfresh_env(root),
            root=root,
        )


def by_name(document: dict[str, object]) -> dict[str, dict[str, object]]:
    packages = document["packages"]
    assert isinstance(packages, list)
    return {p["name"]: p for p in packages}


# --------------------------------------------------------------------------------------
# the scenario: a requires b<2, c requires b>=1.5, index b 1.0/1.6/2.0
# --------------------------------------------------------------------------------------

B_HELD = {
    "name": "b",
    "installed": "1.0",
    "wanted": "1.6",
    "latest": "2.0",
    "bump": "major",
    "released": None,
    "held_back_by": [{"name": "a", "version": "1.0", "requirement": "b<2"}],
    "kind": "index",
    "direct": False,  # a and c require it
}


def test_table_shows_wanted_and_who_holds_it_back(scene: Scene) -> None:
    result = run_pipfresh(*scene.args(scene.capped), env=scene.env, cwd=scene.root)
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert lines[1].split() == [
        "Package",
        "Installed",
        "Wanted",
        "Latest",
        "Bump",
        "Released",
        "Held",
        "back",
        "by",
    ]
    assert table_rows(result.stdout) == {
        "b": ["b", "1.0", "1.6", "2.0", "major", "a", "1.0", "(b<2)"],
    }
    row = next(line for line in lines if line.startswith("b "))
    assert row.rstrip().endswith("a 1.0 (b<2)")
    # c's requirement is already broken by b 1.0: said, not hidden
    assert "warning: the installed packages are already inconsistent:" in lines
    assert "  c 1.0 requires b>=1.5, but b 1.0 is installed" in lines
    assert lines[-1].startswith("3 checked, 1 outdated, 0 errors in ")


def test_json_carries_wanted_held_back_by_and_problems(scene: Scene) -> None:
    document = run_json(*scene.args(scene.capped), env=scene.env, cwd=scene.root)
    check_schema(document)
    assert document["packages"] == [B_HELD]
    assert document["problems"] == [
        {
            "name": "c",
            "version": "1.0",
            "requirement": "b>=1.5",
            "project": "b",
            "installed": "1.0",
        }
    ]


def test_jsonl_carries_wanted_and_held_back_by(scene: Scene) -> None:
    result = run_pipfresh(
        *scene.args(scene.capped), "--format", "jsonl", env=scene.env, cwd=scene.root
    )
    assert result.returncode == 0, describe(result)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == B_HELD
    assert list(lines[-1]) == ["summary"]
    # no room for problems in the stream: they go to stderr
    assert (
        "pipfresh: warning: inconsistent environment: c 1.0 requires b>=1.5, "
        "but b 1.0 is installed" in result.stderr
    )


def test_freeze_writes_the_wanted_version(scene: Scene) -> None:
    result = run_pipfresh(
        *scene.args(scene.capped), "--format", "freeze", env=scene.env, cwd=scene.root
    )
    assert result.returncode == 0, describe(result)
    assert result.stdout == "b==1.6\n"


# --------------------------------------------------------------------------------------
# extras and markers
# --------------------------------------------------------------------------------------


def test_an_extra_in_use_holds_back(scene: Scene) -> None:
    document = run_json(*scene.args(scene.extras_used), env=scene.env, cwd=scene.root)
    b = by_name(document)["b"]
    assert (b["wanted"], b["latest"]) == ("1.6", "2.0")
    assert b["held_back_by"] == [{"name": "e", "version": "1.0", "requirement": "b<2"}]
    assert document["problems"] == []


def test_extras_not_in_use_and_other_platforms_hold_nothing_back(scene: Scene) -> None:
    document = run_json(*scene.args(scene.extras_unused), env=scene.env, cwd=scene.root)
    b = by_name(document)["b"]
    assert (b["wanted"], b["latest"], b["held_back_by"]) == ("2.0", "2.0", [])
    result = run_pipfresh(*scene.args(scene.extras_unused), env=scene.env, cwd=scene.root)
    # nothing held back: the table keeps its plain columns
    assert result.stdout.splitlines()[1].split() == [
        "Package",
        "Installed",
        "Latest",
        "Bump",
        "Released",
    ]


# --------------------------------------------------------------------------------------
# an inconsistent environment
# --------------------------------------------------------------------------------------


def test_a_missing_dependency_is_reported(scene: Scene) -> None:
    result = run_pipfresh(*scene.args(scene.broken), "--all", env=scene.env, cwd=scene.root)
    assert result.returncode == 0, describe(result)
    assert "  h 1.0 requires nothere>=1, which is not installed" in result.stdout.splitlines()
    document = run_json(*scene.args(scene.broken), env=scene.env, cwd=scene.root)
    assert document["problems"] == [
        {
            "name": "h",
            "version": "1.0",
            "requirement": "nothere>=1",
            "project": "nothere",
            "installed": None,
        }
    ]
    # the missing project is not looked up: only installed ones are checked
    assert document["summary"]["checked"] == 1


# --------------------------------------------------------------------------------------
# --exclude
# --------------------------------------------------------------------------------------


def test_exclude_skips_the_project_entirely(scene: Scene) -> None:
    scene.server.reset_stats()
    document = run_json(
        *scene.args(scene.capped),
        "--exclude",
        "b*",
        "--exclude",
        "C",
        env=scene.env,
        cwd=scene.root,
    )
    assert document["packages"] == []
    assert document["summary"]["checked"] == 1
    assert scene.server.count("b") == 0
    assert scene.server.count("c") == 0
    assert scene.server.count("a") == 1
    # an excluded project still holds others back (and is still judged for problems)
    assert len(document["problems"]) == 1


def test_a_named_project_is_checked_even_when_excluded(scene: Scene) -> None:
    document = run_json(
        "b", *scene.args(scene.capped), "--exclude", "b", env=scene.env, cwd=scene.root
    )
    assert document["packages"] == [B_HELD]


def test_exclude_from_the_environment(scene: Scene) -> None:
    env = scene.env | {"PIPFRESH_EXCLUDE": "a, b"}
    document = run_json(*scene.args(scene.capped), env=env, cwd=scene.root)
    assert document["summary"]["checked"] == 1


# --------------------------------------------------------------------------------------
# --target and --cooldown
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "latest", "bump"),
    [("latest", "2.0.0", "major"), ("minor", "1.4.0", "minor"), ("patch", "1.2.5", "patch")],
)
def test_target(scene: Scene, target: str, latest: str, bump: str) -> None:
    document = run_json(*scene.args(scene.moves), "--target", target, env=scene.env, cwd=scene.root)
    t = by_name(document)["t"]
    assert (t["wanted"], t["latest"], t["bump"]) == (latest, latest, bump)


@pytest.mark.parametrize(
    ("cooldown", "latest", "outdated"),
    [("0", "1.2", True), ("1", "1.2", True), ("7", "1.1", True), ("30", "1.0", False)],
)
def test_cooldown(scene: Scene, cooldown: str, latest: str, outdated: bool) -> None:
    document = run_json(
        *scene.args(scene.moves), "--all", "--cooldown", cooldown, env=scene.env, cwd=scene.root
    )
    u = by_name(document)["u"]
    assert u["latest"] == latest
    assert (u["bump"] is not None) is outdated


# --------------------------------------------------------------------------------------
# [tool.pipfresh] and the user config file
# --------------------------------------------------------------------------------------


def test_tool_pipfresh_in_the_working_folders_pyproject(scene: Scene) -> None:
    cwd = scene.workdir("project")
    (cwd / "pyproject.toml").write_text(
        '[project]\nname = "app"\n\n[tool.pipfresh]\ntarget = "patch"\n'
        'exclude = ["u"]\ncooldown = 0\n'
    )
    nested = cwd / "src"
    nested.mkdir(exist_ok=True)
    document = run_json(*scene.args(scene.moves), env=scene.env, cwd=nested)
    assert by_name(document)["t"]["latest"] == "1.2.5"
    assert "u" not in by_name(document)
    assert document["summary"]["checked"] == 1
    # the command line beats the file
    override = run_json(*scene.args(scene.moves), "--target", "latest", env=scene.env, cwd=nested)
    assert by_name(override)["t"]["latest"] == "2.0.0"
    # ... and so does the environment
    env = scene.env | {"PIPFRESH_TARGET": "minor"}
    from_env = run_json(*scene.args(scene.moves), env=env, cwd=nested)
    assert by_name(from_env)["t"]["latest"] == "1.4.0"


def test_user_config_file_below_the_project(scene: Scene) -> None:
    user = scene.root / "user.toml"
    user.write_text('target = "minor"\nexclude = ["t"]\n')
    cwd = scene.workdir("project-with-target")
    (cwd / "pyproject.toml").write_text('[tool.pipfresh]\ntarget = "patch"\n')
    env = scene.env | {"PIPFRESH_CONFIG_FILE": str(user)}
    document = run_json(*scene.args(scene.moves), env=env, cwd=cwd)
    # exclude from the user file (t is not checked), target from the project (u has no
    # 1.0.x release newer than 1.0)
    assert document["packages"] == []
    assert document["summary"]["checked"] == 1
    plain = run_json(*scene.args(scene.moves), "--all", env=env, cwd=scene.workdir("elsewhere"))
    assert "t" not in by_name(plain)


def test_verbose_says_where_settings_came_from(scene: Scene) -> None:
    cwd = scene.workdir("verbose")
    (cwd / "pyproject.toml").write_text('[tool.pipfresh]\ntarget = "patch"\n')
    result = run_pipfresh(*scene.args(scene.moves), "-v", "--cooldown", "1", env=scene.env, cwd=cwd)
    assert result.returncode == 0, describe(result)
    assert f"pipfresh: target = 'patch' (from {cwd / 'pyproject.toml'})" in result.stderr
    assert "pipfresh: cooldown = 1.0 (from cli)" in result.stderr


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ('[tool.pipfresh]\ntarget = "major"\n', ["pyproject.toml", "tool.pipfresh.target"]),
        ("[tool.pipfresh]\nexclude = 3\n", ["pyproject.toml", "tool.pipfresh.exclude"]),
        ("[tool.pipfresh\n", ["pyproject.toml", "not valid TOML"]),
    ],
)
def test_a_bad_pyproject_is_a_one_line_usage_error(
    scene: Scene, body: str, needles: list[str]
) -> None:
    cwd = scene.workdir(f"bad-{abs(hash(body))}")
    (cwd / "pyproject.toml").write_text(body)
    result = run_pipfresh(*scene.args(scene.moves), env=scene.env, cwd=cwd)
    assert_usage_error(result, *needles)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--target", "major"], "major"),
        (["--cooldown", "-1"], "-1"),
        (["--cooldown", "week"], "week"),
    ],
)
def test_bad_options(scene: Scene, args: list[str], needle: str) -> None:
    result = run_pipfresh(*scene.args(scene.moves), *args, env=scene.env, cwd=scene.root)
    assert_usage_error(result, needle)


@pytest.mark.parametrize(
    ("variable", "value"), [("PIPFRESH_TARGET", "major"), ("PIPFRESH_COOLDOWN", "soon")]
)
def test_bad_variables(scene: Scene, variable: str, value: str) -> None:
    env = scene.env | {variable: value}
    result = run_pipfresh(*scene.args(scene.moves), env=env, cwd=scene.root)
    assert_usage_error(result, variable)


# --------------------------------------------------------------------------------------
# live: real PyPI packages, one capping another
# --------------------------------------------------------------------------------------

PYPI = "https://pypi.org/simple"


@pytest.mark.live
def test_live_sympy_holds_mpmath_back(make_venv: VenvFactory, tmp_path: Path) -> None:
    # sympy 1.12.1 requires mpmath<1.4.0,>=1.1.0 (1.12 had no cap); released metadata
    # never changes, and mpmath 1.4.1 exists, so mpmath's latest stays out of range.
    venv = make_venv()
    install(venv, "sympy==1.12.1", "mpmath==1.2.1", index_url=PYPI)
    env = pipfresh_env(tmp_path)
    args = ["--python", str(venv.path), "--index-url", PYPI]
    document = run_json(*args, env=env, cwd=tmp_path)
    mpmath = by_name(document)["mpmath"]
    assert mpmath["wanted"] == "1.3.0"
    latest = mpmath["latest"]
    assert isinstance(latest, str)
    assert tuple(int(p) for p in latest.split(".")[:2]) >= (1, 4)
    assert mpmath["held_back_by"] == [
        {"name": "sympy", "version": "1.12.1", "requirement": "mpmath<1.4.0"}
    ]
    assert document["problems"] == []
    table = run_pipfresh(*args, env=env, cwd=tmp_path)
    assert table.returncode == 0, describe(table)
    row = next(line for line in table.stdout.splitlines() if line.startswith("mpmath "))
    assert row.rstrip().endswith("sympy 1.12.1 (mpmath<1.4.0)")
