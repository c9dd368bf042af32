"""The command line itself, through the real entry point in a subprocess: each command's
help and usage errors, -V, exit codes in --help, completion scripts loaded in bash, a
closed stdout/stderr with every format, and untrusted strings escaped on the terminal."""

from __future__ import annotations

import shutil
import subprocess
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
from support.venvs import Venv, VenvFactory

N_PROJECTS = 60


def fake_install(venv: Venv, name: str, version: str) -> None:
    """A dist-info folder, as an installer leaves it (no files: only metadata is read)."""
    info = venv.site_packages / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


@dataclass
class Scene:
    server: IndexServer
    venv: Venv
    env: dict[str, str]
    cwd: Path

    @property
    def args(self) -> list[str]:
        return ["--python", str(self.venv.path), "--index-url", self.server.url]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("cli-commands")
    with IndexServer() as server:
        venv = VenvFactory(root)("env")
        for i in range(1, N_PROJECTS + 1):
            name = f"proj-{i:03d}"
            for version in ("1.0", "2.0"):
                server.add_bytes(f"{name}-{version}.tar.gz", b"not read")
            fake_install(venv, name, "1.0")
        yield Scene(server, venv, pipfresh_env(root), root)


# --------------------------------------------------------------------------------------
# help, version, usage errors
# --------------------------------------------------------------------------------------

COMMON = ("--python", "--index-url", "--offline", "--cache-dir")


@pytest.mark.parametrize(
    ("command", "present", "absent"),
    [
        (
            "outdated",
            ("--all", "--exit-code", "--format", "-r FILE", *COMMON),
            ("--dry-run", "-y"),
        ),
        (
            "update",
            ("--dry-run", "--yes", "--interactive", "--latest", *COMMON),
            ("--all", "--exit-code", "-r FILE"),
        ),
        ("cache", ("{info,clear}", "--cache-dir"), ("--python", "--all", "--offline")),
        ("completion", ("{bash,zsh,fish}",), ("--python", "--all")),
    ],
)
def test_each_command_has_its_own_help(
    scene: Scene, command: str, present: tuple[str, ...], absent: tuple[str, ...]
) -> None:
    result = run_pipfresh(command, "--help", env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    assert result.stdout.startswith(f"usage: pipfresh {command} ")
    for option in present:
        assert option in result.stdout, option
    options = result.stdout.partition("exit status:")[0]
    for option in absent:
        assert option not in options, option
    assert "70   internal error" in result.stdout
    assert result.stderr == ""


def test_top_help_lists_the_commands_and_the_exit_statuses(scene: Scene) -> None:
    result = run_pipfresh("--help", env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    for line in ("  outdated ", "  update ", "  cache ", "  completion ", "  -V, --version"):
        assert line in result.stdout
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "70 ", "130 "):
        assert f"\n  {code}" in result.stdout, code


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(scene: Scene, flag: str) -> None:
    from pipfresh import __version__

    result = run_pipfresh(flag, env=scene.env, cwd=scene.cwd)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"pipfresh {__version__}\n", "")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("update", "--dry-run", "--exit-code"), "--exit-code: only for 'pipfresh outdated'"),
        (("update", "-y", "--all"), "--all: only for 'pipfresh outdated'"),
        (("update", "-y", "-r", "reqs.txt"), "-r: only for 'pipfresh outdated'"),
        (("--dry-run",), "--dry-run: only for 'pipfresh update'"),
        (("outdated", "-y"), "-y: only for 'pipfresh update'"),
        (("cache", "--python", "x"), "--python: only for 'pipfresh outdated' or 'pipfresh update'"),
        (("cache", "purge"), "invalid choice: 'purge'"),
        (("completion", "tcsh"), "invalid choice: 'tcsh'"),
        (("completion",), "the following arguments are required: shell"),
        (("update", "--format", "jsonl", "-y"), "invalid choice: 'jsonl'"),
        (("--frobnicate",), "unrecognized arguments: --frobnicate"),
    ],
)
def test_an_option_that_does_not_apply_is_a_one_line_usage_error(
    scene: Scene, argv: tuple[str, ...], needle: str
) -> None:
    result = run_pipfresh(*argv, env=scene.env, cwd=scene.cwd)
    assert_usage_error(result, needle, "--help')")


def test_the_command_word_may_follow_options(scene: Scene) -> None:
    result = run_pipfresh(*scene.args, "update", "--dry-run", env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    assert result.stdout.startswith("Update plan for ")


# --------------------------------------------------------------------------------------
# a closed stdout or stderr
# --------------------------------------------------------------------------------------

FORMATS = ("table", "json", "jsonl", "freeze")


def run_with_closed(
    scene: Scene, *args: str, stream: str, read_first_line: bool
) -> tuple[int, str]:
    """Run with stdout (or stderr) a pipe whose reader leaves: at once, or after
    the first line (``| head -1``); the exit status and what went to the other stream."""
    env = scene.env | {"FORCE_COLOR": "1"}
    process = subprocess.Popen(
        [*PIPFRESH, *scene.args, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=scene.cwd,
    )
    closed, other = (
        (process.stdout, process.stderr) if stream == "stdout" else (process.stderr, process.stdout)
    )
    assert closed is not None
    assert other is not None
    if read_first_line:
        closed.readline()
    closed.close()
    try:
        rest = other.read().decode()
        process.wait(RUN_TIMEOUT)
    finally:
        process.kill()
        other.close()
    return process.returncode, rest


@pytest.mark.parametrize("refresh", [(), ("--refresh",)], ids=["", "refresh"])
@pytest.mark.parametrize("read_first_line", [False, True], ids=["closed", "head-1"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_closed_stdout_ends_quietly(
    scene: Scene, fmt: str, read_first_line: bool, refresh: tuple[str, ...]
) -> None:
    for _ in range(3):
        code, stderr = run_with_closed(
            scene, "--format", fmt, *refresh, stream="stdout", read_first_line=read_first_line
        )
        assert (code, stderr) == (0, ""), stderr


@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_a_closed_stderr_ends_quietly(scene: Scene, fmt: str) -> None:
    code, stdout = run_with_closed(
        scene, "--format", fmt, "-v", "--refresh", stream="stderr", read_first_line=False
    )
    assert code == 0
    assert "Traceback" not in stdout
    assert "internal error" not in stdout


# --------------------------------------------------------------------------------------
# completion
# --------------------------------------------------------------------------------------


def complete_in_bash(scene: Scene, script: str, words: list[str]) -> list[str]:
    """Load ``script`` in a real bash and ask its completion function for ``words``
    (the last is the word being completed)."""
    driver = (
        f"{script}\n"
        'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()\n'
        '_pipfresh pipfresh "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", driver, "bash", *words],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return [line for line in result.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bash_script(scene: Scene) -> str:
    result = run_pipfresh("completion", "bash", env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    return result.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["pipfresh", ""], ["outdated", "update", "bump", "cache", "completion"]),
        (["pipfresh", "up"], ["update"]),
        (["pipfresh", "update", "--dry"], ["--dry-run"]),
        (["pipfresh", "update", "--al"], []),  # --all is not an update option
        (["pipfresh", "--al"], ["--all"]),  # without a command: outdated's options
        (["pipfresh", "outdated", "--exit"], ["--exit-code"]),
        (["pipfresh", "--format", ""], ["table", "json", "jsonl", "freeze"]),
        (["pipfresh", "update", "--format", ""], ["table", "json", "freeze"]),
        (["pipfresh", "update", "--installer", "u"], ["uv"]),
        (["pipfresh", "cache", ""], ["info", "clear"]),
        (["pipfresh", "completion", "z"], ["zsh"]),
        (["pipfresh", "--target", "m"], ["minor"]),
    ],
)
def test_the_bash_script_completes_commands_and_options(
    scene: Scene, bash_script: str, words: list[str], expected: list[str]
) -> None:
    assert complete_in_bash(scene, bash_script, words) == expected


def test_the_bash_script_registers_itself(scene: Scene, bash_script: str) -> None:
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", f"{bash_script}\ncomplete -p pipfresh"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.stdout.strip() == "complete -o default -F _pipfresh pipfresh", result.stderr


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command_and_option(scene: Scene, shell: str) -> None:
    from pipfresh.cli import COMMANDS, build_parser

    result = run_pipfresh("completion", shell, env=scene.env, cwd=scene.cwd)
    assert result.returncode == 0, describe(result)
    for name in COMMANDS:
        assert name in result.stdout
        for action in build_parser(name)._actions:
            for flag in action.option_strings:
                spelled = (
                    flag
                    if shell == "zsh"
                    else (f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
                )
                assert spelled in result.stdout, (name, flag)
    if shutil.which(shell):
        check = ["zsh", "-n"] if shell == "zsh" else ["fish", "--no-execute"]
        loaded = subprocess.run(
            [*check], input=result.stdout, capture_output=True, text=True, check=False
        )
        assert loaded.returncode == 0, loaded.stderr


def test_a_new_command_appears_in_the_completion_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipfresh import cli
    from pipfresh.cli.completion import script

    monkeypatch.setitem(
        cli.COMMANDS, "bump", cli.Command("bump", "pipfresh.cli.cache", "raise the pins")
    )
    for shell in ("bash", "zsh", "fish"):
        assert "bump" in script(shell)
