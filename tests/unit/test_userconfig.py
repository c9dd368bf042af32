"""pipfresh's settings: CLI > PIPFRESH_* > [tool.pipfresh] > user file > defaults, with
sources; bad files and values as one-line errors naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipfresh.errors import ConfigError, UsageError
from pipfresh.settings import DEFAULT_CONCURRENCY, UpgradeConfig, resolve
from pipfresh.userconfig import find_pyproject, load_config_files


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with a nested working folder; no config written yet."""
    work = tmp_path / "proj" / "src" / "pkg"
    work.mkdir(parents=True)
    return tmp_path / "proj"


def write_project(project: Path, body: str) -> Path:
    path = project / "pyproject.toml"
    path.write_text('[project]\nname = "demo"\n\n[tool.pipfresh]\n' + body)
    return path


def write_user(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "user-config.toml"
    path.write_text(body)
    return path


def settle(
    project: Path,
    environ: dict[str, str] | None = None,
    config: UpgradeConfig | None = None,
) -> UpgradeConfig:
    return resolve(config or UpgradeConfig(), environ or {"PIPFRESH_CONFIG_FILE": ""}, project)


def test_defaults_without_any_file(project: Path) -> None:
    settings = settle(project)
    assert (settings.concurrency, settings.target, settings.cooldown) == (
        DEFAULT_CONCURRENCY,
        "latest",
        0.0,
    )
    assert (settings.exclude, settings.pre, settings.index_url) == ((), False, None)
    assert set(settings.sources.values()) == {"default"}


@pytest.mark.parametrize(
    ("cli", "env", "in_project", "in_user", "expected", "source"),
    [
        # each layer beats the ones below it
        ("patch", "minor", "minor", "minor", "patch", "cli"),
        (None, "patch", "minor", "minor", "patch", "PIPFRESH_TARGET"),
        (None, None, "patch", "minor", "patch", "project"),
        (None, None, None, "patch", "patch", "user"),
        (None, None, None, None, "latest", "default"),
    ],
)
def test_target_precedence(  # noqa: PLR0917 - one parameter per column of the table
    tmp_path: Path,
    project: Path,
    cli: str | None,
    env: str | None,
    in_project: str | None,
    in_user: str | None,
    expected: str,
    source: str,
) -> None:
    project_file = write_project(project, f'target = "{in_project}"\n' if in_project else "")
    user_file = write_user(tmp_path, f'target = "{in_user}"\n' if in_user else "")
    environ = {"PIPFRESH_CONFIG_FILE": str(user_file)}
    if env:
        environ["PIPFRESH_TARGET"] = env
    settings = resolve(UpgradeConfig(target=cli), environ, project / "src" / "pkg")  # type: ignore[arg-type]
    assert settings.target == expected
    where = {"project": str(project_file), "user": str(user_file)}.get(source, source)
    assert settings.sources["target"] == where


def test_every_key_from_the_project_file(project: Path) -> None:
    path = write_project(
        project,
        'exclude = ["types-*", "numpy"]\nconcurrency = 4\ntarget = "minor"\ncooldown = 7\n'
        'pre = true\nindex-url = "https://mirror.example/simple"\n'
        'extra_index_url = ["https://extra.example/simple"]\n',
    )
    settings = settle(project)
    assert settings.exclude == ("types-*", "numpy")
    assert (settings.concurrency, settings.target, settings.cooldown, settings.pre) == (
        4,
        "minor",
        7.0,
        True,
    )
    assert settings.index_url == "https://mirror.example/simple"
    assert settings.extra_index_urls == ("https://extra.example/simple",)
    assert settings.sources["cooldown"] == str(path)


def test_keys_are_taken_one_by_one_from_the_highest_layer_that_has_them(
    tmp_path: Path, project: Path
) -> None:
    write_project(project, "concurrency = 4\n")
    user = write_user(tmp_path, 'concurrency = 8\ntarget = "patch"\nexclude = ["a"]\n')
    settings = resolve(
        UpgradeConfig(exclude=("b",)),
        {"PIPFRESH_CONFIG_FILE": str(user), "PIPFRESH_COOLDOWN": "2.5"},
        project,
    )
    assert (settings.concurrency, settings.target, settings.cooldown) == (4, "patch", 2.5)
    # a list from a higher layer replaces a lower one, as pip's settings do
    assert settings.exclude == ("b",)
    assert settings.sources["exclude"] == "cli"
    assert settings.sources["cooldown"] == "PIPFRESH_COOLDOWN"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("types-*,numpy", ("types-*", "numpy")), (" a  b,\tc ", ("a", "b", "c")), (" ", ())],
)
def test_exclude_variable_is_split_on_commas_and_spaces(
    project: Path, raw: str, expected: tuple[str, ...]
) -> None:
    settings = settle(project, {"PIPFRESH_CONFIG_FILE": "", "PIPFRESH_EXCLUDE": raw})
    assert settings.exclude == expected


def test_pip_index_variable_beats_a_config_file_index(project: Path) -> None:
    write_project(project, 'index-url = "https://mirror.example/simple"\n')
    environ = {"PIPFRESH_CONFIG_FILE": "", "PIP_INDEX_URL": "https://other.example/simple"}
    settings = settle(project, environ)
    assert settings.index_url is None  # left for pip's configuration to fill
    assert settings.sources["index_url"] == "PIP_INDEX_URL"
    isolated = resolve(UpgradeConfig(isolated=True), environ, project)
    assert isolated.index_url == "https://mirror.example/simple"


def test_the_nearest_pyproject_is_the_projects(project: Path) -> None:
    inner = project / "src" / "pkg" / "pyproject.toml"
    inner.write_text('[project]\nname = "inner"\n')
    write_project(project, 'target = "patch"\n')
    assert find_pyproject(project / "src" / "pkg") == inner
    # the nearest one has no [tool.pipfresh]: no project settings
    assert settle(project / "src" / "pkg").target == "latest"
    assert settle(project / "src").target == "patch"


def test_user_file_default_location(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_config_dir", lambda app: str(tmp_path / app))
    (tmp_path / "pipfresh").mkdir()
    (tmp_path / "pipfresh" / "config.toml").write_text("cooldown = 3\n")
    files = load_config_files({}, project)
    assert [str(f.path) for f in files] == [str(tmp_path / "pipfresh" / "config.toml")]
    assert resolve(UpgradeConfig(), {}, project).cooldown == 3.0


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ("concurrency = 'many'\n", ["tool.pipfresh.concurrency", "whole number"]),
        ("concurrency = true\n", ["tool.pipfresh.concurrency"]),
        ("target = 'major'\n", ["tool.pipfresh.target", "latest, minor, patch"]),
        ("cooldown = -1\n", ["tool.pipfresh.cooldown"]),
        ("cooldown = 'week'\n", ["tool.pipfresh.cooldown"]),
        ("pre = 'yes'\n", ["tool.pipfresh.pre"]),
        ("exclude = 'numpy'\n", ["tool.pipfresh.exclude", "list of strings"]),
        ("exclude = [1]\n", ["tool.pipfresh.exclude"]),
        ("extra-index-url = 'https://x'\n", ["tool.pipfresh.extra-index-url"]),
        ("index-url = 3\n", ["tool.pipfresh.index-url"]),
        ("colour = true\n", ["unknown key", "tool.pipfresh.colour"]),
        ("target = \n", ["not valid TOML"]),
    ],
)
def test_bad_project_file(project: Path, body: str, needles: list[str]) -> None:
    path = write_project(project, body)
    with pytest.raises(ConfigError) as caught:
        settle(project)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    for needle in needles:
        assert needle in message


def test_tool_pipfresh_must_be_a_table(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool]\npipfresh = 3\n")
    with pytest.raises(ConfigError, match=r"\[tool\.pipfresh\] must be a table"):
        settle(project)


def test_bad_user_file_names_the_file_and_key(tmp_path: Path, project: Path) -> None:
    user = write_user(tmp_path, "concurrency = 0.5\n")
    with pytest.raises(ConfigError, match=r"user-config\.toml: concurrency must be a whole"):
        settle(project, {"PIPFRESH_CONFIG_FILE": str(user)})


def test_a_missing_named_user_file_is_an_error(tmp_path: Path, project: Path) -> None:
    with pytest.raises(ConfigError, match=r"PIPFRESH_CONFIG_FILE=.*no such file"):
        settle(project, {"PIPFRESH_CONFIG_FILE": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("PIPFRESH_TARGET", "major", "PIPFRESH_TARGET"),
        ("PIPFRESH_COOLDOWN", "soon", "PIPFRESH_COOLDOWN"),
        ("PIPFRESH_COOLDOWN", "-2", "PIPFRESH_COOLDOWN"),
        ("PIPFRESH_COOLDOWN", "nan", "PIPFRESH_COOLDOWN"),
        ("PIPFRESH_CONCURRENCY", "many", "PIPFRESH_CONCURRENCY"),
        ("PIPFRESH_CONCURRENCY", "0", "PIPFRESH_CONCURRENCY"),
    ],
)
def test_bad_variables(project: Path, variable: str, value: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        settle(project, {"PIPFRESH_CONFIG_FILE": "", variable: value})


def test_bad_concurrency_in_a_file_names_the_file(project: Path) -> None:
    path = write_project(project, "concurrency = 1000\n")
    with pytest.raises(UsageError, match=f"concurrency \\({path}\\) must be between"):
        settle(project)


@pytest.mark.parametrize(
    ("cli", "expected", "source"), [(None, True, "project"), (False, False, "cli")]
)
def test_no_pre_on_the_command_line_overrides_pre_true_in_a_config_file(
    project: Path, cli: bool | None, expected: bool, source: str
) -> None:
    path = write_project(project, "pre = true\n")
    settings = resolve(UpgradeConfig(pre=cli), {"PIPFRESH_CONFIG_FILE": ""}, project)
    assert settings.pre is expected
    assert settings.sources["pre"] == {"project": str(path)}.get(source, source)


@pytest.mark.parametrize(
    ("argv", "expected"), [([], None), (["--pre"], True), (["--no-pre"], False)]
)
def test_pre_flags_parse_to_three_states(argv: list[str], expected: bool | None) -> None:
    from pipfresh.cli import build_parser

    assert build_parser().parse_args(argv).pre is expected
