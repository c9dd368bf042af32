"""Helpers shared by the benchmark scripts (stdlib only).

Every subprocess started through ``isolated_env()`` is cut off from this
machine's pip configuration: all ``PIP_*`` and ``UV_*`` variables are dropped
and ``PIP_CONFIG_FILE=/dev/null`` makes pip ignore every config file (global,
user and site). uv is always run with ``--no-config`` as well.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
DEFAULT_VENV = WORK_DIR / "oldvenv"
PINS_FILE = BENCH_DIR / "old-pins.txt"
RESULTS_FILE = BENCH_DIR / "RESULTS.md"
PYPI_SIMPLE = "https://pypi.org/simple"

_CANON_RE = re.compile(r"[-_.]+")


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return _CANON_RE.sub("-", name).lower()


def dev_bin(tool: str) -> str:
    """A tool from the dev venv (the one running this script), else from PATH."""
    candidate = Path(sys.executable).parent / tool
    if candidate.exists():
        return str(candidate)
    found = shutil.which(tool)
    if found is None:
        raise SystemExit(f"{tool} not found next to {sys.executable} nor on PATH")
    return found


def isolated_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without PIP_*/UV_* variables, with pip's config files disabled."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    if extra:
        env.update(extra)
    return env


def machine_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ as it is (the machine's real pip config applies)."""
    env = dict(os.environ)
    if extra:
        env.update(extra)
    return env


def read_pins(path: Path = PINS_FILE) -> list[tuple[str, str]]:
    """(name, version) pairs from a ``name==version`` requirements file."""
    pins: list[tuple[str, str]] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise ValueError(f"{path}: not an exact pin: {raw!r}")
        pins.append((name.strip(), version.strip()))
    return pins


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def resolve_target(python: str) -> Path:
    """Accept a venv folder or an interpreter path; return the interpreter."""
    p = Path(python)
    if p.is_dir():
        p = venv_python(p)
    if not p.exists():
        raise SystemExit(f"no interpreter at {p}")
    return p


def run(
    cmd: Sequence[str],
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """subprocess.run with captured text output and a hard timeout."""
    return subprocess.run(
        list(cmd),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tool_version(cmd: Sequence[str], env: Mapping[str, str]) -> str:
    try:
        proc = run(cmd, env, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return out[0] if out and proc.returncode == 0 else f"unavailable (exit {proc.returncode})"


def append_result(title: str, description: str, table: str) -> None:
    """Append a section to RESULTS.md: the title with the time, the exact command that
    ran (this script and its arguments), ``description`` after it, then ``table``."""
    import datetime as dt
    import shlex

    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    script = Path(sys.argv[0]).resolve().relative_to(REPO_DIR)
    command = shlex.join([".venv/bin/python", str(script), *sys.argv[1:]])
    with RESULTS_FILE.open("a", encoding="utf-8") as out:
        out.write(f"\n## {title} ({when})\n\nCommand: `{command}`; {description}\n\n{table}\n")
