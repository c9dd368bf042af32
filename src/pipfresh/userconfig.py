"""pipfresh's own configuration files: ``[tool.pipfresh]`` in the project's pyproject.toml,
and a user file.

- project: the nearest ``pyproject.toml`` from the current folder upwards (the first
  one found is the project's, whether or not it has a ``[tool.pipfresh]`` table);
- user: ``$PIPFRESH_CONFIG_FILE`` when set (empty: no user file), else
  ``config.toml`` in ``platformdirs.user_config_dir("pipfresh")``; its keys are at the
  top level.

Keys (``-`` and ``_`` are interchangeable): ``exclude`` (list of glob patterns),
``concurrency`` (int), ``target`` (latest/minor/patch), ``cooldown`` (days), ``pre``
(bool), ``index-url`` (str), ``extra-index-url`` (list of str). An unknown key, a value
of the wrong type or a file that is not TOML is a :class:`ConfigError` naming the file
and the key. Precedence between sources is :mod:`pipfresh.settings`' business.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipfresh.errors import ConfigError
from pipfresh.models import TARGETS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

CONFIG_ENV = "PIPFRESH_CONFIG_FILE"
PYPROJECT = "pyproject.toml"


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """The validated settings of one file. ``values`` uses UpgradeConfig's field names."""

    path: Path
    values: Mapping[str, Any]

    @property
    def label(self) -> str:
        return str(self.path)


def _string_list(path: Path, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings", source=str(path))
    return tuple(value)


def _validate(path: Path, name: str, key: str, value: object) -> tuple[str, object]:
    """(UpgradeConfig field, value) for one key of a file, or ConfigError. ``name`` is
    the key as written, ``key`` its dotted path for messages (``tool.pipfresh.target``)."""
    name = name.replace("_", "-")

    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"{path}: {key} must be {expected}, got {value!r}", source=str(path))

    if name == "exclude":
        return "exclude", _string_list(path, key, value)
    if name == "extra-index-url":
        return "extra_index_urls", _string_list(path, key, value)
    if name == "index-url":
        if not isinstance(value, str) or not value:
            raise wrong("a URL string")
        return "index_url", value
    if name == "concurrency":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("a whole number")
        return "concurrency", value
    if name == "cooldown":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise wrong("a number of days (0 or more)")
        return "cooldown", float(value)
    if name == "target":
        if value not in TARGETS:
            raise wrong("one of " + ", ".join(TARGETS))
        return "target", value
    if name == "pre":
        if not isinstance(value, bool):
            raise wrong("true or false")
        return "pre", value
    raise ConfigError(f"{path}: unknown key {key!r}", source=str(path))


def read_config(path: Path, table: tuple[str, ...] = ()) -> ConfigFile:
    """Read and validate ``path``; ``table`` is where the keys live (``("tool", "pipfresh")``
    in a pyproject.toml). A file without that table holds no settings."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}", source=str(path)) from None
    section: object = document
    for part in table:
        if not isinstance(section, dict):
            break
        section = section.get(part, {})
    where = ".".join(table)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{where}] must be a table", source=str(path))
    values: dict[str, Any] = {}
    for key, value in section.items():
        field, checked = _validate(path, key, f"{where}.{key}" if where else key, value)
        values[field] = checked
    return ConfigFile(path, values)


def find_pyproject(cwd: Path) -> Path | None:
    """The nearest pyproject.toml in ``cwd`` or a parent."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / PYPROJECT
        if candidate.is_file():
            return candidate
    return None


def user_config_path(environ: Mapping[str, str]) -> Path | None:
    """Where the user file is: ``$PIPFRESH_CONFIG_FILE`` (empty: none) or the platform's
    config folder."""
    explicit = environ.get(CONFIG_ENV)
    if explicit is not None:
        return Path(explicit).expanduser() if explicit.strip() else None
    import platformdirs

    return Path(platformdirs.user_config_dir("pipfresh")) / "config.toml"


def load_config_files(environ: Mapping[str, str], cwd: Path) -> list[ConfigFile]:
    """The project file, then the user file (highest precedence first); missing ones are
    left out, except a ``$PIPFRESH_CONFIG_FILE`` that names no file, which is an error."""
    found: list[ConfigFile] = []
    project = find_pyproject(cwd)
    if project is not None:
        found.append(read_config(project, ("tool", "pipfresh")))
    user = user_config_path(environ)
    if user is None:
        return found
    if user.exists():
        found.append(read_config(user))
    elif environ.get(CONFIG_ENV):
        # Named on purpose, so a typo in the path should not pass silently.
        raise ConfigError(f"{CONFIG_ENV}={user}: no such file", source=CONFIG_ENV)
    return found
