"""inspect_target and find_interpreter against real interpreters and real venvs.

The venvs are made by the tests (``python -m venv --without-pip`` from pyenv's
interpreters, and ``uv venv``); interpreters that are absent on a machine are skipped.
Tag lists are checked against what pip itself computes inside the same interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from packaging.tags import sys_tags

from pipfresh.environment import find_interpreter, inspect_target, start_inspection
from pipfresh.errors import TargetError
from pipfresh.installed import read_installed

PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
HOST_BIN = Path(sys.executable).parent
UV = shutil.which("uv", path=str(HOST_BIN)) or shutil.which("uv")


def pyenv_python(minor: str) -> Path:
    """The newest pyenv CPython 3.<minor>, or skip the test."""
    candidates = PYENV.glob(f"3.{minor}.*/bin/python3.{minor}")
    found = sorted(
        (p for p in candidates if p.parent.parent.name.split(".")[2].isdigit()),
        key=lambda p: int(p.parent.parent.name.split(".")[2]),
    )
    if not found:
        pytest.skip(f"no pyenv Python 3.{minor}")
    return found[-1]


def isolated_pip_env(**extra: str) -> dict[str, str]:
    """This machine's pip config adds indexes and find-links; keep pip away from them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def make_venv(base: Path, where: Path, *options: str) -> Path:
    subprocess.run(
        [str(base), "-m", "venv", "--without-pip", *options, str(where)],
        check=True,
        capture_output=True,
    )
    return where / "bin" / "python"


def pip_debug_tags(command: list[str]) -> list[str]:
    out = subprocess.run(
        [*command, "debug", "--verbose"],
        check=True,
        capture_output=True,
        text=True,
        env=isolated_pip_env(),
    ).stdout
    listing = out.split("Compatible tags:", 1)[1].splitlines()[1:]
    return [line.strip() for line in listing if line.startswith("  ")]


def site_packages(prefix: Path, version: str) -> str:
    return str(prefix / "lib" / f"python{version}" / "site-packages")


# ---------------------------------------------------------------------------
# The host interpreter
# ---------------------------------------------------------------------------


def test_host_tags_equal_packaging_sys_tags() -> None:
    target = inspect_target(sys.executable)
    assert list(target.tags) == [str(tag) for tag in sys_tags()]


def test_host_environment() -> None:
    target = inspect_target(sys.executable)
    assert target.python == sys.executable
    assert target.python_version == ".".join(map(str, sys.version_info[:3]))
    assert target.implementation == sys.implementation.name
    assert target.prefix == sys.prefix
    assert sysconfig.get_path("purelib") in target.sys_path
    assert target.markers["python_version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert target.markers["sys_platform"] == sys.platform
    assert "" not in target.sys_path
    assert os.getcwd() not in target.sys_path


def test_read_installed_matches_pip_list_on_the_host_venv() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=isolated_pip_env(),
        cwd=Path(sys.prefix),
    ).stdout
    expected = {(d["name"].lower().replace("_", "-"), d["version"]) for d in json.loads(listed)}
    dists = read_installed(inspect_target(sys.executable).sys_path)
    assert {(d.canonical_name, d.version) for d in dists} == expected


# ---------------------------------------------------------------------------
# Venvs from other interpreters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("minor", ["8", "13"])
def test_venv_of_another_interpreter(tmp_path: Path, minor: str) -> None:
    base = pyenv_python(minor)
    python = make_venv(base, tmp_path / "env")
    target = inspect_target(str(python))
    full = base.parent.parent.name
    assert target.python == str(python)
    assert target.python_version == full
    assert target.implementation == "cpython"
    assert target.prefix == str(tmp_path / "env")
    assert target.markers["python_version"] == f"3.{minor}"
    assert target.markers["python_full_version"] == full
    assert target.markers["implementation_version"] == full
    assert target.markers["platform_python_implementation"] == "CPython"
    assert set(target.markers) == {
        "implementation_name",
        "implementation_version",
        "os_name",
        "platform_machine",
        "platform_release",
        "platform_system",
        "platform_version",
        "python_full_version",
        "platform_python_implementation",
        "python_version",
        "sys_platform",
    }
    venv_site = site_packages(tmp_path / "env", f"3.{minor}")
    base_site = site_packages(base.parent.parent, f"3.{minor}")
    assert venv_site in target.sys_path
    assert base_site not in target.sys_path  # no system site-packages in a plain venv
    assert str(base.parent.parent / "lib" / f"python3.{minor}") in target.sys_path
    assert all(os.path.isabs(p) and os.path.exists(p) for p in target.sys_path)
    assert target.tags[0].startswith(f"cp3{minor}-cp3{minor}-")
    assert target.externally_managed is False


def test_system_site_packages_venv_sees_the_base(tmp_path: Path) -> None:
    base = pyenv_python("13")
    python = make_venv(base, tmp_path / "env", "--system-site-packages")
    paths = list(inspect_target(str(python)).sys_path)
    venv_site = site_packages(tmp_path / "env", "3.13")
    base_site = site_packages(base.parent.parent, "3.13")
    assert paths.index(venv_site) < paths.index(base_site)


def test_tags_equal_pip_in_the_target_new_python(tmp_path: Path) -> None:
    """pip 26 (packaging 26.3) run *in* a 3.13 venv computes exactly our tag list."""
    python = make_venv(pyenv_python("13"), tmp_path / "env")
    expected = pip_debug_tags([str(HOST_BIN / "pip"), "--python", str(python)])
    assert list(inspect_target(str(python)).tags) == expected


def test_tags_match_the_old_pip_of_python_38() -> None:
    """Python 3.8 has only an old pip, whose packaging lists linux_<arch> last.

    Same set of tags; apart from where the plain linux_* platform sits, the same order.
    """
    base = pyenv_python("8")
    try:
        theirs = pip_debug_tags([str(base), "-m", "pip"])
    except subprocess.CalledProcessError:
        pytest.skip("no pip in the pyenv 3.8 interpreter")
    ours = list(inspect_target(str(base)).tags)
    assert set(ours) == set(theirs)

    def plain(tag: str) -> bool:
        return tag.split("-")[2].startswith("linux_")

    assert [t for t in ours if plain(t)] == [t for t in theirs if plain(t)]
    assert [t for t in ours if not plain(t)] == [t for t in theirs if not plain(t)]


@pytest.mark.skipif(UV is None, reason="uv not installed")
@pytest.mark.parametrize("minor", ["8", "13"])
def test_uv_venv_without_pip(tmp_path: Path, minor: str) -> None:
    base = pyenv_python(minor)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    subprocess.run(
        [str(UV), "venv", "--no-config", "--offline", "--python", str(base), str(tmp_path / "uv")],
        check=True,
        capture_output=True,
        env=env,
    )
    python = tmp_path / "uv" / "bin" / "python"
    target = inspect_target(str(python))
    assert target.python_version == base.parent.parent.name
    assert target.prefix == str(tmp_path / "uv")
    assert target.sys_path[-1] == site_packages(tmp_path / "uv", f"3.{minor}")
    # uv's venv holds only its _virtualenv shim, which is no distribution.
    assert read_installed(target.sys_path) == []


# ---------------------------------------------------------------------------
# The user site, as pip would see it
# ---------------------------------------------------------------------------


def user_site_env(tmp_path: Path, version: str, **extra: str) -> tuple[dict[str, str], Path]:
    user_base = tmp_path / "userbase"
    user_site = user_base / "lib" / f"python{version}" / "site-packages"
    (tmp_path / "from-pth").mkdir()
    user_site.mkdir(parents=True)
    (user_site / "extra.pth").write_text(f"{tmp_path / 'from-pth'}\n")
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path / "home"),
        "PYTHONUSERBASE": str(user_base),
        **extra,
    }
    return env, user_site


def test_user_site_of_a_base_interpreter(tmp_path: Path) -> None:
    base = pyenv_python("13")
    env, user_site = user_site_env(tmp_path, "3.13")
    paths = list(inspect_target(str(base), environ=env).sys_path)
    base_site = site_packages(base.parent.parent, "3.13")
    # The order site.py gives: user site, what its .pth files add, then site-packages.
    assert paths.index(str(user_site)) < paths.index(str(tmp_path / "from-pth"))
    assert paths.index(str(tmp_path / "from-pth")) < paths.index(base_site)


@pytest.mark.parametrize(
    ("extra", "venv_options"),
    [
        pytest.param({"PYTHONNOUSERSITE": "1"}, None, id="PYTHONNOUSERSITE"),
        pytest.param({}, (), id="plain-venv"),
    ],
)
def test_user_site_left_out(
    tmp_path: Path, extra: dict[str, str], venv_options: tuple[str, ...] | None
) -> None:
    base = pyenv_python("13")
    env, user_site = user_site_env(tmp_path, "3.13", **extra)
    python = base if venv_options is None else make_venv(base, tmp_path / "env", *venv_options)
    paths = inspect_target(str(python), environ=env).sys_path
    assert str(user_site) not in paths
    assert str(tmp_path / "from-pth") not in paths


def test_caller_pythonpath_does_not_leak_in(tmp_path: Path) -> None:
    (tmp_path / "extra").mkdir()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "extra")}
    assert str(tmp_path / "extra") not in inspect_target(sys.executable, environ=env).sys_path


# ---------------------------------------------------------------------------
# Failures become one-line TargetErrors
# ---------------------------------------------------------------------------


def shell_script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def host_facts() -> dict[str, object]:
    from pipfresh import _target_script

    return _target_script.collect()


def canned(tmp_path: Path, facts: Mapping[str, object]) -> Path:
    """A stand-in interpreter that prints the given facts, for what no real one reports."""
    (tmp_path / "facts.json").write_text(json.dumps(facts))
    return shell_script(tmp_path / "python", f'exec cat "{tmp_path / "facts.json"}"\n')


@pytest.mark.parametrize(
    ("in_venv", "marker_file", "expected"),
    [(False, True, True), (True, True, False), (False, False, False)],
)
def test_externally_managed(
    tmp_path: Path, in_venv: bool, marker_file: bool, expected: bool
) -> None:
    facts = {**host_facts(), "in_venv": in_venv, "externally_managed_file": marker_file}
    assert inspect_target(str(canned(tmp_path, facts))).externally_managed is expected


@pytest.mark.parametrize(
    ("script", "message"),
    [
        pytest.param("echo hello\n", "not a Python interpreter (its output is not", id="not-json"),
        pytest.param("echo '[1]'\n", "unexpected output from the target", id="json-not-object"),
        pytest.param("echo '{}'\n", "unexpected output from the target (bad field", id="no-fields"),
        pytest.param(
            "echo 'boom' >&2; exit 3\n",
            "not a Python interpreter pipfresh can use (exit 3: boom)",
            id="exit-status",
        ),
        pytest.param(
            "echo '  File x' >&2; echo 'SyntaxError: invalid syntax' >&2; exit 1\n",
            "Python too old (pipfresh needs 3.8 or newer in the target)",
            id="syntax-error",
        ),
    ],
)
def test_broken_targets(tmp_path: Path, script: str, message: str) -> None:
    python = shell_script(tmp_path / "python", script)
    with pytest.raises(TargetError) as caught:
        inspect_target(str(python))
    assert str(caught.value).startswith(f"{python}: {message}")
    assert "\n" not in str(caught.value)
    assert caught.value.python == str(python)


def test_missing_interpreter(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r": not found$"):
        inspect_target(str(tmp_path / "nope"))


def test_non_executable_file(tmp_path: Path) -> None:
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0\n")
    with pytest.raises(TargetError, match=r": not a Python interpreter \("):
        inspect_target(str(text))


def test_target_that_never_answers(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes: never
    python = shell_script(tmp_path / "python", f'exec cat "{fifo}"\n')
    with pytest.raises(TargetError, match=r": no answer within 0\.5 s$"):
        inspect_target(str(python), timeout=0.5)


@pytest.mark.parametrize("version", ["7", "6"])
def test_too_old_python(version: str) -> None:
    base = pyenv_python(version)
    with pytest.raises(TargetError, match=r"needs 3\.8 or newer"):
        inspect_target(str(base))


# ---------------------------------------------------------------------------
# start_inspection: the same inspection, its subprocess left running meanwhile
# ---------------------------------------------------------------------------


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every subprocess started during the test, to check it was reaped."""
    started: list[subprocess.Popen[bytes]] = []

    class Recording(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    return started


def test_started_inspection_gives_what_inspect_target_gives(
    children: list[subprocess.Popen[bytes]],
) -> None:
    with start_inspection(sys.executable) as pending:
        assert len(children) == 1  # running already, before the result is asked for
        assert pending.result() == inspect_target(sys.executable)
    assert all(child.returncode == 0 for child in children)


def test_started_inspection_raises_its_errors_from_result(tmp_path: Path) -> None:
    # An executable file, so find_interpreter passes it, whose interpreter is missing.
    python = tmp_path / "python"
    python.write_text(f"#!{tmp_path / 'no-such-shell'}\n")
    python.chmod(0o755)
    pending = start_inspection(str(python))
    with pending, pytest.raises(TargetError, match=r": not found$") as caught:
        pending.result()
    assert caught.value.python == str(python)
    broken = shell_script(tmp_path / "broken", "echo boom >&2; exit 3\n")
    with start_inspection(str(broken)) as pending, pytest.raises(TargetError) as caught:
        pending.result()
    assert (
        str(caught.value) == f"{broken}: not a Python interpreter pipfresh can use (exit 3: boom)"
    )


def test_closing_an_unused_inspection_kills_and_reaps_it(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    python = shell_script(tmp_path / "python", "exec sleep 60\n")
    with start_inspection(str(python)):
        pass
    (child,) = children
    assert child.returncode == -signal.SIGKILL  # set only once waited for: no zombie


# ---------------------------------------------------------------------------
# find_interpreter with real interpreters
# ---------------------------------------------------------------------------


def test_find_version_request_in_real_pyenv(tmp_path: Path) -> None:
    base = pyenv_python("12")
    env = {"PATH": str(tmp_path), "PYENV_ROOT": str(PYENV.parent)}
    found = find_interpreter("3.12", cwd=tmp_path, environ=env)
    assert found == str(base)
    assert inspect_target(found).markers["python_version"] == "3.12"


def test_find_exact_patch_on_path_is_checked(tmp_path: Path) -> None:
    base = pyenv_python("12")
    full = base.parent.parent.name
    env = {"PATH": str(base.parent), "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    assert find_interpreter(full, cwd=tmp_path, environ=env) == str(base)
    with pytest.raises(TargetError, match="no interpreter found"):
        find_interpreter("3.12.9999", cwd=tmp_path, environ=env)


def test_find_then_inspect_venv_from_virtual_env_and_dot_venv(tmp_path: Path) -> None:
    python = make_venv(pyenv_python("13"), tmp_path / "proj" / ".venv")
    nested = tmp_path / "proj" / "pkg"
    nested.mkdir()
    env = {"PATH": str(tmp_path), "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    by_folder = find_interpreter(None, cwd=nested, environ=env)
    by_variable = find_interpreter(
        None, cwd=tmp_path, environ={**env, "VIRTUAL_ENV": str(tmp_path / "proj" / ".venv")}
    )
    assert by_folder == by_variable == str(python)
    assert inspect_target(by_folder).prefix == str(tmp_path / "proj" / ".venv")
