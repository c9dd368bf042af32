"""User-facing configuration of a run, and where pipfresh's own settings come from.

Index settings (index URLs, certificates, timeout, ...) are pip's: they are read by
:mod:`pipfresh.pipconfig` exactly as pip reads them, with the values given here
taking precedence. pipfresh's own settings come, highest first, from the CLI (or the
API's :class:`UpgradeConfig`), ``PIPFRESH_*`` environment variables, the project's
``[tool.pipfresh]`` table, the user config file, then defaults; :func:`resolve`
records where each value came from. An ``index-url`` / ``extra-index-url`` from a
pipfresh config file yields to pip's ``PIP_INDEX_URL`` / ``PIP_EXTRA_INDEX_URL``
(environment beats files) but beats pip's config files (pipfresh's own files are
more specific than pip's).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pipfresh.errors import UsageError
from pipfresh.models import TARGETS, Target

# Chosen by measurement: benchmarks/http_clients.py and benchmarks/run.py (see
# benchmarks/RESULTS.md). Past 16 the 2-core CPU, not the network, is the limit.
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 256


@dataclass(frozen=True, slots=True)
class UpgradeConfig:
    """How pipfresh talks to indexes and chooses versions.

    Every field is optional. Index fields left at ``None`` or empty are taken from
    pip's configuration (config files and ``PIP_*`` variables), as pip would.

    Attributes:
        concurrency: most index requests in flight at once (default: the
            ``PIPFRESH_CONCURRENCY`` variable, config files, else 16).
        verbose: log each request and decision to stderr (CLI only).
        pre: consider pre-releases and development releases (None: from config
            files, else False).
        target: how far a version may move from the installed one: ``"latest"``,
            ``"minor"`` (same major) or ``"patch"`` (same major.minor).
        cooldown: ignore releases uploaded less than this many days ago (releases
            whose upload time the index does not give are not ignored).
        exclude: glob patterns of project names never checked (``"types-*"``).
        index_url: the primary index (pip's ``--index-url``).
        extra_index_urls: more indexes, merged with the primary (``--extra-index-url``).
        no_index: ignore every index, use only ``find_links``.
        find_links: folders or pages listing distribution files (``--find-links``).
        trusted_hosts: hosts whose TLS certificate is not verified (``--trusted-host``).
        cert: a CA bundle to verify TLS with (``--cert``).
        client_cert: a client certificate (PEM, key included) for TLS (``--client-cert``).
        timeout: seconds allowed for each connect and read (``--timeout``).
        isolated: ignore pip's config files and ``PIP_*`` variables (``--isolated``).
        constraints: pip constraints files (``-c``), added to pip's ``constraint``.
        cache_dir: where index answers are cached (default: ``PIPFRESH_CACHE_DIR``,
            else the platform's user cache folder).
        max_age: seconds a cached answer stays fresh when the server gives no
            Cache-Control of its own (default: ``PIPFRESH_MAX_AGE``, else 600).
        refresh: ignore freshness: ask the indexes again (conditionally, when the
            cache holds validators).
        offline: answer from the cache only, stale entries included; projects it
            cannot answer are reported as errors.
        no_cache: neither read nor write the cache.
    """

    concurrency: int | None = None
    verbose: bool = False
    pre: bool | None = None
    target: Target | None = None
    cooldown: float | None = None
    exclude: tuple[str, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    no_index: bool = False
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    cert: str | None = None
    client_cert: str | None = None
    timeout: float | None = None
    isolated: bool = False
    constraints: tuple[str, ...] = ()
    cache_dir: str | None = None
    max_age: float | None = None
    refresh: bool = False
    offline: bool = False
    no_cache: bool = False
    #: field name -> "cli", "PIPFRESH_TARGET", a config file's path or "default";
    #: filled in by :func:`resolve`.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def resolve_concurrency(value: int | None, environ: Mapping[str, str] | None = None) -> int:
    """CLI/API value, else ``PIPFRESH_CONCURRENCY``, else the measured default."""
    environ = os.environ if environ is None else environ
    source = "concurrency"
    if value is None:
        raw = environ.get("PIPFRESH_CONCURRENCY")
        if raw is None or raw.strip() == "":
            return DEFAULT_CONCURRENCY
        source = "PIPFRESH_CONCURRENCY"
        try:
            value = int(raw)
        except ValueError:
            raise UsageError(f"{source}={raw!r} is not a whole number") from None
    if not 1 <= value <= MAX_CONCURRENCY:
        raise UsageError(f"{source} must be between 1 and {MAX_CONCURRENCY}, got {value}")
    return value


# Fields that config files and PIPFRESH_* variables may set, with their defaults.
_LAYERED: dict[str, Any] = {
    "concurrency": DEFAULT_CONCURRENCY,
    "pre": False,
    "target": "latest",
    "cooldown": 0.0,
    "exclude": (),
    "index_url": None,
    "extra_index_urls": (),
}
_PIP_VARIABLES = {"index_url": "PIP_INDEX_URL", "extra_index_urls": "PIP_EXTRA_INDEX_URL"}


def _from_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """pipfresh's settings given as PIPFRESH_* variables: field -> (value, variable)."""
    found: dict[str, tuple[Any, str]] = {}
    raw = environ.get("PIPFRESH_CONCURRENCY", "").strip()
    if raw:
        try:
            found["concurrency"] = (int(raw), "PIPFRESH_CONCURRENCY")
        except ValueError:
            raise UsageError(f"PIPFRESH_CONCURRENCY={raw!r} is not a whole number") from None
    raw = environ.get("PIPFRESH_TARGET", "").strip()
    if raw:
        if raw not in TARGETS:
            raise UsageError(f"PIPFRESH_TARGET={raw!r} must be one of {', '.join(TARGETS)}")
        found["target"] = (raw, "PIPFRESH_TARGET")
    raw = environ.get("PIPFRESH_COOLDOWN", "").strip()
    if raw:
        found["cooldown"] = (parse_days(raw, "PIPFRESH_COOLDOWN"), "PIPFRESH_COOLDOWN")
    raw = environ.get("PIPFRESH_EXCLUDE", "")
    if raw.strip():
        patterns = tuple(p for p in re.split(r"[,\s]+", raw) if p)
        found["exclude"] = (patterns, "PIPFRESH_EXCLUDE")
    return found


DEFAULT_MAX_AGE = 600.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, what: str = "max-age") -> float:
    """Seconds from ``600``, ``90s``, ``10m``, ``24h`` or ``7d``."""
    raw = text.strip().lower()
    unit = _UNITS.get(raw[-1:]) if raw else None
    number = raw[:-1] if unit is not None else raw
    try:
        value = float(number) * (unit or 1.0)
    except ValueError:
        raise UsageError(
            f"{what}={text!r} is not a duration (seconds, or a number with s, m, h or d)"
        ) from None
    if not 0 <= value < 10 * 365 * 86400:  # also rejects nan and inf
        raise UsageError(f"{what} must be 0 or more, got {text!r}")
    return value


def resolve_max_age(value: float | None, environ: Mapping[str, str]) -> float:
    """The API/CLI value, else ``PIPFRESH_MAX_AGE``, else 10 minutes."""
    if value is not None:
        if not 0 <= value < 10 * 365 * 86400:
            raise UsageError(f"max-age must be 0 or more seconds, got {value}")
        return value
    raw = environ.get("PIPFRESH_MAX_AGE", "").strip()
    return parse_duration(raw, "PIPFRESH_MAX_AGE") if raw else DEFAULT_MAX_AGE


def parse_days(text: str, what: str = "cooldown") -> float:
    """A number of days, 0 or more (fractions allowed: ``0.5`` is twelve hours)."""
    try:
        days = float(text)
    except ValueError:
        raise UsageError(f"{what}={text!r} is not a number of days") from None
    if not 0 <= days < 100_000:  # also rejects nan and inf
        raise UsageError(f"{what} must be 0 or more days, got {text!r}")
    return days


def resolve(
    config: UpgradeConfig,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> UpgradeConfig:
    """``config`` with every unset pipfresh setting filled in from the environment, the
    config files and the defaults, and ``sources`` saying where each value came from.

    Raises UsageError for a bad variable and ConfigError for a bad file.
    """
    from pipfresh.userconfig import load_config_files

    environ = os.environ if environ is None else environ
    files = load_config_files(environ, cwd or Path.cwd())
    variables = _from_environment(environ)
    given: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, default in _LAYERED.items():
        value = getattr(config, name)
        if value is not None and value != ():
            given[name], sources[name] = value, "cli"
            continue
        if name in variables:
            given[name], sources[name] = variables[name]
            continue
        if name in _PIP_VARIABLES and not config.isolated and environ.get(_PIP_VARIABLES[name]):
            # pip's own variable is more specific to this run than any file.
            given[name], sources[name] = default, _PIP_VARIABLES[name]
            continue
        from_file = next((f for f in files if name in f.values), None)
        if from_file is not None:
            given[name], sources[name] = from_file.values[name], from_file.label
        else:
            given[name], sources[name] = default, "default"
    concurrency = cast(int, given["concurrency"])
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(
            f"concurrency ({sources['concurrency']}) must be between 1 and "
            f"{MAX_CONCURRENCY}, got {concurrency}"
        )
    if not 0 <= given["cooldown"] < 100_000:
        raise UsageError(f"cooldown must be 0 or more days, got {given['cooldown']}")
    return dataclasses.replace(config, **given, sources=sources)
