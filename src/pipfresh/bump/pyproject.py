"""pyproject.toml: placeholder until the next commit."""

from __future__ import annotations

from pathlib import Path

from pipfresh.bump.model import BumpInputError, DepFile


def parse_pyproject(path: Path, text: str) -> DepFile:
    raise BumpInputError(path, None, "pyproject.toml is not read yet")
