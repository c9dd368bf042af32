"""Building a wheel from an sdist, for a target release that has no wheel.

An update installs wheels only, offline, in one step; a release with only an sdist is
therefore built first, while planning, into a local wheel that the plan then treats as
any other (its metadata read, its sha256 checked, installed with the rest). The build
runs through a real build frontend: ``uv build`` when uv is found, else the target's
own pip (``pip wheel --no-deps``), aimed at the target interpreter so the wheel fits
it. It may fetch build requirements from the user's indexes, as pip would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipfresh.install.process import installer_environ, run_command

#: A build that takes longer than this is stopped (it costs that package only).
BUILD_TIMEOUT = 900.0


@dataclass(frozen=True, slots=True)
class Built:
    wheel: Path | None  # None when the build failed
    why: str = ""  # the builder's last line, when it failed


def build_command(
    sdist: Path, out: Path, python: str, *, uv: str | None, target_has_pip: bool
) -> list[str] | None:
    """The build command (pure), or None when there is no builder for this target."""
    if uv is not None:
        return [uv, "build", "--wheel", "--out-dir", str(out), "--python", python, str(sdist)]
    if target_has_pip:
        return [python, "-m", "pip", "wheel", "--no-deps", "--no-input", "-w", str(out), str(sdist)]
    return None


def build_wheel(
    sdist: Path, out: Path, python: str, *, uv: str | None, target_has_pip: bool
) -> Built:
    """Build ``sdist`` into a wheel in ``out`` for the interpreter ``python``."""
    command = build_command(sdist, out, python, uv=uv, target_has_pip=target_has_pip)
    if command is None:
        return Built(None, "no builder: neither uv nor a pip in the target")
    out.mkdir(parents=True, exist_ok=True)
    # The user's index configuration applies (build requirements come from there); the
    # target's own variables do not leak in.
    environ = installer_environ(
        {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV",))}, {}
    )
    environ.update({k: v for k, v in os.environ.items() if k.startswith(("PIP_", "UV_"))})
    result = run_command(command, environ, timeout=BUILD_TIMEOUT)
    wheels = sorted(out.glob("*.whl"))
    if result.ok and len(wheels) == 1:
        return Built(wheels[0])
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    return Built(None, lines[-1] if lines else f"the build exited with status {result.returncode}")


__all__ = ["BUILD_TIMEOUT", "Built", "build_command", "build_wheel"]
