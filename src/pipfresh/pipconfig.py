"""pip's index configuration, read the way pip reads it, merged with pipfresh's options.

A user's pip setup must "just work", so the rules below follow pip (checked against
pip 26.3) rather than what would be tidiest:

* Files, lowest priority first: global (each ``$XDG_CONFIG_DIRS`` entry, default
  ``/etc/xdg``, then ``/etc``), user (``~/.pip/pip.conf`` then
  ``$XDG_CONFIG_HOME/pip/pip.conf``), site (``<site_prefix>/pip.conf``), then the file
  named by ``PIP_CONFIG_FILE``. ``PIP_CONFIG_FILE=os.devnull`` loads no file at all;
  an existing ``PIP_CONFIG_FILE`` replaces the user files; ``--isolated`` skips the user
  files and the ``PIP_*`` variables but *not* the global, site or ``PIP_CONFIG_FILE``
  files.
* Sections win over files: every file's ``[global]`` is read first, then every file's
  ``[<command>]``, then the environment. So ``[list]`` in ``/etc/pip.conf`` beats
  ``[global]`` in ``PIP_CONFIG_FILE``. Within one section a later file wins, and an
  empty value there means "unset" (it hides earlier files' values for that section).
* Multi-valued settings (extra-index-url, find-links, trusted-host) are split on
  whitespace and *replace* lower-priority values, while command-line values are
  *appended* to whatever the configuration gave (optparse's ``append``).
* Every configured value is validated even when a higher source overrides it: pip
  refuses ``PIP_TIMEOUT=abc`` even with ``--timeout 5`` on the command line.
* Only ``--isolated`` on the command line isolates; ``PIP_ISOLATED=1`` or
  ``isolated = true`` in a file is recorded but changes nothing that was loaded,
  because pip decides isolation from the raw arguments before reading configuration.

The site-level file: pip reads ``sys.prefix/pip.conf`` of the interpreter running
pip. pipfresh is a separate tool inspecting another environment, so the caller
chooses: pass the target environment's ``sys.prefix`` as ``site_prefix`` to read
what ``python -m pip`` inside that environment would read; ``None`` reads no site
file.
"""

from __future__ import annotations

import configparser
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pipfresh.errors import ConfigError, UsageError

__all__ = [
    "DEFAULT_INDEX_URL",
    "DEFAULT_TIMEOUT",
    "CliIndexOptions",
    "ConfigFile",
    "IndexConfig",
    "config_files",
    "load_index_config",
]

DEFAULT_INDEX_URL = "https://pypi.org/simple"
DEFAULT_TIMEOUT = 15.0

_WINDOWS = sys.platform == "win32"
_BASENAME = "pip.ini" if _WINDOWS else "pip.conf"

# pip's option names (long forms, as written in files and PIP_* variables) for the
# settings pipfresh uses, mapped to IndexConfig fields. Aliases share a field, and
# whichever appears later in pip's ordering wins.
_OPTION_FIELD: Mapping[str, str] = {
    "index-url": "index_url",
    "pypi-url": "index_url",
    "extra-index-url": "extra_index_urls",
    "no-index": "no_index",
    "find-links": "find_links",
    "trusted-host": "trusted_hosts",
    "cert": "cert",
    "client-cert": "client_cert",
    "timeout": "timeout",
    "default-timeout": "timeout",
    "isolated": "isolated",
    "constraint": "constraints",
}
_LIST_FIELDS = frozenset({"extra_index_urls", "find_links", "trusted_hosts", "constraints"})
_BOOL_FIELDS = frozenset({"no_index", "isolated"})
_PATH_FIELDS = frozenset({"cert", "client_cert"})

_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "f", "false", "off", "0"})

# PIP_* names pip never treats as settings.
_ENV_IGNORED = frozenset({"version", "help"})
_ENV_SECTION = ":env:"

# Where a CA bundle comes from when pip's own ``cert`` is unset, in the order the
# stack under pip consults them: requests reads REQUESTS_CA_BUNDLE, then
# CURL_CA_BUNDLE; OpenSSL's default verify paths (used by truststore on Linux) read
# SSL_CERT_FILE.
_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")

# pip always adds /etc after the XDG directories on Unix (tests point it elsewhere).
_UNIX_SYSTEM_DIR = "/etc"

_URL_SCHEMES = frozenset({"http", "https", "file", "ftp"})
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")

Kind = Literal["global", "user", "site", "env"]


@dataclass(frozen=True)
class CliIndexOptions:
    """What the user passed on pipfresh's command line; None/empty when not given."""

    index_url: str | None = None
    extra_index_urls: Sequence[str] = ()
    no_index: bool | None = None
    find_links: Sequence[str] = ()
    trusted_hosts: Sequence[str] = ()
    cert: str | None = None
    client_cert: str | None = None
    #: A number, or the raw option text (validated here, reported as a usage error).
    timeout: float | str | None = None
    isolated: bool = False
    constraints: Sequence[str] = ()


@dataclass(frozen=True)
class IndexConfig:
    """The effective index settings, and where each one came from."""

    index_url: str | None = DEFAULT_INDEX_URL
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    cert: str | None = None
    client_cert: str | None = None
    #: Seconds for each connect and read. 0 means "no timeout", as it does for pip.
    timeout: float = DEFAULT_TIMEOUT
    no_index: bool = False
    isolated: bool = False
    #: pip's constraints files (absolute paths): they limit what the update installs.
    constraints: tuple[str, ...] = ()
    #: field name -> "PIP_INDEX_URL", "/etc/pip.conf [global]", "--index-url", "default"
    sources: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), hash=False, compare=False
    )

    @property
    def index_urls(self) -> tuple[str, ...]:
        """Primary then extra indexes, without duplicates; empty with ``--no-index``."""
        if self.no_index:
            return ()
        urls = [self.index_url] if self.index_url else []
        urls.extend(self.extra_index_urls)
        return tuple(dict.fromkeys(urls))


@dataclass(frozen=True)
class ConfigFile:
    """One configuration file pip would consider, lowest priority first."""

    kind: Kind
    path: str


def config_files(
    environ: Mapping[str, str],
    *,
    site_prefix: str | None = None,
    isolated: bool = False,
) -> list[ConfigFile]:
    """The files pip would load, in override order (later wins), existing or not."""
    env_file = environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    files = [ConfigFile("global", p) for p in _global_files(environ)]
    # pip drops the user files only when PIP_CONFIG_FILE names a file that exists.
    if not isolated and not (env_file and os.path.exists(env_file)):
        files.extend(ConfigFile("user", p) for p in _user_files(environ))
    if site_prefix is not None:
        files.append(ConfigFile("site", os.path.join(site_prefix, _BASENAME)))
    if env_file:
        files.append(ConfigFile("env", env_file))
    return files


def load_index_config(
    cli: CliIndexOptions,
    environ: Mapping[str, str],
    *,
    cwd: Path,
    command: str = "list",
    site_prefix: str | None = None,
) -> IndexConfig:
    """Merge pip's configuration (files, ``PIP_*``) with pipfresh's command line.

    ``command`` is the pip command whose section applies: pipfresh's scan reads like
    ``pip list``, its update like ``pip install``.

    Raises ConfigError for an unreadable configuration file or a bad configured
    value, UsageError for a bad command-line value.
    """
    layers: dict[str, tuple[str, Mapping[str, Mapping[str, str]]]] = {}
    for cfg in config_files(environ, site_prefix=site_prefix, isolated=cli.isolated):
        # Keyed by path so a file listed twice keeps its first position, as in pip.
        layers[cfg.path] = (cfg.path, _read_file(cfg.path))
    if not cli.isolated:
        layers[_ENV_SECTION] = (_ENV_SECTION, {_ENV_SECTION: _pip_environ(environ)})

    values, sources = _apply_configuration(_ordered_items(layers, command))
    _apply_cli(cli, values, sources)
    _apply_ca_bundle_fallback(environ, values, sources)
    return _build(values, sources, environ, cwd)


# -- locating files --------------------------------------------------------------


def _home(environ: Mapping[str, str]) -> str:
    home = environ.get("HOME") or environ.get("USERPROFILE")
    return home if home else os.path.expanduser("~")


def _expanduser(path: str, environ: Mapping[str, str]) -> str:
    if path == "~" or path.startswith(("~/", "~" + os.sep)):
        return _home(environ) + path[1:]
    return os.path.expanduser(path)


def _xdg_dirs(value: str | None) -> list[str]:
    # Relative XDG entries are invalid per the XDG spec and are ignored, as platformdirs does.
    return [p.strip() for p in (value or "").split(os.pathsep) if os.path.isabs(p.strip())]


def _global_files(environ: Mapping[str, str]) -> list[str]:
    if sys.platform == "darwin" or _WINDOWS:
        import platformdirs

        if _WINDOWS:
            dirs = [platformdirs.site_config_dir("pip", appauthor=False)]
        else:
            dirs = platformdirs.site_data_dir("pip", appauthor=False, multipath=True).split(
                os.pathsep
            )
    else:
        dirs = [os.path.join(d, "pip") for d in _xdg_dirs(environ.get("XDG_CONFIG_DIRS"))]
        dirs = dirs or ["/etc/xdg/pip"]
        dirs.append(_UNIX_SYSTEM_DIR)
    return [os.path.join(d, _BASENAME) for d in dirs]


def _user_files(environ: Mapping[str, str]) -> list[str]:
    home = _home(environ)
    legacy = os.path.join(home, "pip" if _WINDOWS else ".pip", _BASENAME)
    if _WINDOWS:
        import platformdirs

        new_dir = platformdirs.user_config_dir("pip", appauthor=False, roaming=True)
    elif sys.platform == "darwin":
        import platformdirs

        # pip prefers ~/Library/Application Support/pip only when that folder exists.
        new_dir = platformdirs.user_data_dir("pip", appauthor=False, roaming=True)
        if not os.path.isdir(new_dir):
            new_dir = os.path.join(home, ".config", "pip")
    else:
        xdg = _xdg_dirs(environ.get("XDG_CONFIG_HOME"))
        new_dir = os.path.join(xdg[0] if xdg else os.path.join(home, ".config"), "pip")
    return [legacy, os.path.join(new_dir, _BASENAME)]


# -- reading ---------------------------------------------------------------------


def _normalize_name(name: str) -> str:
    name = name.lower().replace("_", "-")
    return name[2:] if name.startswith("--") else name


class _Parser(configparser.RawConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return _normalize_name(optionstr)


def _read_file(path: str) -> Mapping[str, Mapping[str, str]]:
    """Sections of one file; a missing or unreadable file is empty, as for pip."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return {}
    try:
        # pip decodes with the locale's encoding; UTF-8 is what that is on the systems
        # pipfresh supports, and it is the only choice that gives the same answer for
        # the same file everywhere.
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"pip config {path}: line {line}: not valid UTF-8", source=path) from None
    parser = _Parser()
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        raise ConfigError(f"pip config {path}: {_describe(exc)}", source=path) from None
    return {section: dict(parser.items(section)) for section in parser.sections()}


def _describe(exc: configparser.Error) -> str:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno}: no [section] header before {exc.line.strip()!r}"
    if isinstance(exc, configparser.ParsingError):
        # ParsingError collects every bad line; name the first one.
        lineno, line = exc.errors[0]
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        return f"line {lineno}: cannot parse {line.strip()!r}{more}"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"line {exc.lineno}: {exc.option!r} set twice in [{exc.section}]"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"line {exc.lineno}: section [{exc.section}] appears twice"
    return str(exc).splitlines()[0]


def _pip_environ(environ: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in environ.items():
        # Case-sensitive prefix, as pip: pip_index_url is not a pip variable.
        if key.startswith("PIP_") and key[4:].lower() not in _ENV_IGNORED:
            out[_normalize_name(key[4:])] = value
    return out


# -- merging ---------------------------------------------------------------------

_Item = tuple[str, str, str]  # (pip option name, value, source)


def _ordered_items(
    layers: Mapping[str, tuple[str, Mapping[str, Mapping[str, str]]]], command: str
) -> list[_Item]:
    """The configured items in pip's application order; later items win."""
    order = ("global", command, _ENV_SECTION)
    by_section: dict[str, dict[str, tuple[str, str]]] = {s: {} for s in order}
    for label, sections in layers.values():
        for section, items in sections.items():
            if section not in by_section:
                continue
            for name, value in items.items():
                source = _env_name(name) if label == _ENV_SECTION else f"{label} [{section}]"
                by_section[section][name] = (value, source)
    return [
        (name, value, source)
        for section in order
        for name, (value, source) in by_section[section].items()
        if value  # pip treats an empty value as unset
    ]


def _env_name(name: str) -> str:
    return "PIP_" + name.upper().replace("-", "_")


def _parse_bool(name: str, value: str, source: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(
        f"pip setting {name} = {value!r} from {source} is not a boolean "
        "(use yes/no, true/false, on/off or 1/0)",
        source=source,
    )


def _parse_timeout(value: str | float) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a number of seconds >= 0")
    # inf passes pip's float parsing too; it means "never time out" there as well.
    return seconds


_Values = dict[str, object]


def _apply_configuration(items: Iterable[_Item]) -> tuple[_Values, dict[str, str]]:
    values: _Values = {}
    sources: dict[str, str] = {}
    for name, value, source in items:
        target = _OPTION_FIELD.get(name)
        if target is None:
            continue
        parsed: object
        if target in _BOOL_FIELDS:
            parsed = _parse_bool(name, value, source)
        elif target in _LIST_FIELDS:
            parsed = value.split()
        elif target == "timeout":
            try:
                parsed = _parse_timeout(value)
            except ValueError as exc:
                raise ConfigError(
                    f"pip setting {name} from {source}: {exc}", source=source
                ) from None
        else:
            parsed = value
        values[target] = parsed
        sources[target] = source
    return values, sources


def _apply_cli(cli: CliIndexOptions, values: _Values, sources: dict[str, str]) -> None:
    scalars: tuple[tuple[str, str, object], ...] = (
        ("index_url", "--index-url", cli.index_url),
        ("no_index", "--no-index", cli.no_index),
        ("cert", "--cert", cli.cert),
        ("client_cert", "--client-cert", cli.client_cert),
    )
    for target, flag, value in scalars:
        if value is not None:
            values[target] = value
            sources[target] = flag
    if cli.timeout is not None:
        try:
            values["timeout"] = _parse_timeout(cli.timeout)
        except ValueError as exc:
            raise UsageError(f"--timeout: {exc}") from None
        sources["timeout"] = "--timeout"
    if cli.isolated:
        values["isolated"] = True
        sources["isolated"] = "--isolated"
    lists = (
        ("extra_index_urls", "--extra-index-url", cli.extra_index_urls),
        ("find_links", "--find-links", cli.find_links),
        ("trusted_hosts", "--trusted-host", cli.trusted_hosts),
        ("constraints", "--constraint", cli.constraints),
    )
    for target, flag, given in lists:
        if not given:
            continue
        # Command-line values extend the configured list, as optparse's append does for pip.
        configured = values.get(target)
        base = list(configured) if isinstance(configured, list) else []
        values[target] = base + list(given)
        sources[target] = f"{sources[target]} + {flag}" if base else flag


def _apply_ca_bundle_fallback(
    environ: Mapping[str, str], values: _Values, sources: dict[str, str]
) -> None:
    if values.get("cert"):
        return
    # Read even under --isolated: pip's HTTP stack still consults these then.
    for name in _CA_BUNDLE_VARIABLES:
        if environ.get(name):
            values["cert"] = environ[name]
            sources["cert"] = name
            return


def _is_url(location: str) -> bool:
    scheme, sep, _ = location.partition(":")
    if not sep:
        return False
    scheme = scheme.lower()
    return scheme in _URL_SCHEMES or scheme.startswith(_VCS_PREFIXES)


def _find_link(location: str, environ: Mapping[str, str], cwd: Path) -> str:
    if _is_url(location):
        return location
    return os.path.normpath(os.path.join(cwd, _expanduser(location, environ)))


def _build(
    values: _Values, sources: Mapping[str, str], environ: Mapping[str, str], cwd: Path
) -> IndexConfig:
    def text(name: str) -> str | None:
        value = values.get(name)
        return value if isinstance(value, str) else None

    def strings(name: str) -> tuple[str, ...]:
        value = values.get(name)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    def path(name: str) -> str | None:
        value = text(name)
        return _expanduser(value, environ) if value else None

    no_index = values.get("no_index") is True
    timeout = values.get("timeout", DEFAULT_TIMEOUT)
    assert isinstance(timeout, float)
    index_url = None if no_index else (text("index_url") or DEFAULT_INDEX_URL)
    fields = (
        "index_url",
        "extra_index_urls",
        "find_links",
        "trusted_hosts",
        "cert",
        "client_cert",
        "timeout",
        "no_index",
        "isolated",
        "constraints",
    )
    all_sources = {name: sources.get(name, "default") for name in fields}
    if no_index:
        all_sources["index_url"] = all_sources["no_index"]
    return IndexConfig(
        index_url=index_url,
        extra_index_urls=strings("extra_index_urls"),
        find_links=tuple(_find_link(x, environ, cwd) for x in strings("find_links")),
        trusted_hosts=strings("trusted_hosts"),
        cert=path("cert"),
        client_cert=path("client_cert"),
        timeout=timeout,
        no_index=no_index,
        isolated=values.get("isolated") is True,
        constraints=tuple(_find_link(x, environ, cwd) for x in strings("constraints")),
        sources=MappingProxyType(all_sources),
    )
