"""pip's index configuration as pipfresh reads it.

Every test builds its own files under tmp_path and passes the environment
explicitly; only ``test_matches_pip_on_this_machine`` looks at the real setup.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipfresh import pipconfig
from pipfresh.errors import ConfigError, UsageError
from pipfresh.pipconfig import (
    DEFAULT_INDEX_URL,
    CliIndexOptions,
    IndexConfig,
    config_files,
    load_index_config,
)

unix_only = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"), reason="Linux/XDG file locations"
)


@dataclass
class Sandbox:
    """A fake machine: home, XDG dirs, /etc, a site prefix and an env file."""

    root: Path

    @property
    def paths(self) -> dict[str, Path]:
        r = self.root
        return {
            "xdg": r / "xdg" / "pip" / "pip.conf",
            "etc": r / "etc" / "pip.conf",
            "legacy": r / "home" / ".pip" / "pip.conf",
            "user": r / "home" / ".config" / "pip" / "pip.conf",
            "site": r / "prefix" / "pip.conf",
            "envfile": r / "env.conf",
        }

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            "HOME": str(self.root / "home"),
            "XDG_CONFIG_DIRS": str(self.root / "xdg"),
            "XDG_CONFIG_HOME": str(self.root / "home" / ".config"),
        }
        env.update(extra or {})
        return env

    def write(self, files: Mapping[str, str]) -> None:
        for name, text in files.items():
            path = self.paths[name]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def load(
        self,
        files: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        cli: CliIndexOptions | None = None,
        command: str = "list",
    ) -> IndexConfig:
        self.write(files or {})
        environ = self.environ(env)
        if "envfile" in (files or {}) and "PIP_CONFIG_FILE" not in environ:
            environ["PIP_CONFIG_FILE"] = str(self.paths["envfile"])
        return load_index_config(
            cli or CliIndexOptions(),
            environ,
            cwd=self.root,
            command=command,
            site_prefix=str(self.root / "prefix"),
        )


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setattr(pipconfig, "_UNIX_SYSTEM_DIR", str(tmp_path / "etc"))
    return Sandbox(tmp_path)


def ini(section: str, **values: str) -> str:
    body = "".join(f"{k.replace('_', '-')} = {v}\n" for k, v in values.items())
    return f"[{section}]\n{body}"


# -- defaults --------------------------------------------------------------------


def test_defaults(sandbox: Sandbox) -> None:
    config = sandbox.load()
    assert config.index_url == DEFAULT_INDEX_URL
    assert config.index_urls == (DEFAULT_INDEX_URL,)
    assert config.timeout == 15.0
    assert (config.extra_index_urls, config.find_links, config.trusted_hosts) == ((), (), ())
    assert config.cert is None
    assert config.no_index is False
    assert set(config.sources.values()) == {"default"}


# -- precedence ------------------------------------------------------------------

IDX = "index_url"
PRECEDENCE = [
    # (id, files, env, cli, command, expected index_url, expected source)
    ("xdg global", {"xdg": ini("global", index_url="X")}, {}, None, "list", "X", "xdg [global]"),
    (
        "etc beats xdg",
        {"xdg": ini("global", index_url="X"), "etc": ini("global", index_url="E")},
        {},
        None,
        "list",
        "E",
        "etc [global]",
    ),
    (
        "new user file beats legacy",
        {"legacy": ini("global", index_url="L"), "user": ini("global", index_url="U")},
        {},
        None,
        "list",
        "U",
        "user [global]",
    ),
    (
        "user beats global",
        {"etc": ini("global", index_url="E"), "user": ini("global", index_url="U")},
        {},
        None,
        "list",
        "U",
        "user [global]",
    ),
    (
        "site beats user",
        {"user": ini("global", index_url="U"), "site": ini("global", index_url="S")},
        {},
        None,
        "list",
        "S",
        "site [global]",
    ),
    (
        "PIP_CONFIG_FILE beats site",
        {"site": ini("global", index_url="S"), "envfile": ini("global", index_url="F")},
        {},
        None,
        "list",
        "F",
        "envfile [global]",
    ),
    (
        "env var beats PIP_CONFIG_FILE",
        {"envfile": ini("global", index_url="F")},
        {"PIP_INDEX_URL": "V"},
        None,
        "list",
        "V",
        "PIP_INDEX_URL",
    ),
    (
        "CLI beats env var",
        {},
        {"PIP_INDEX_URL": "V"},
        CliIndexOptions(index_url="C"),
        "list",
        "C",
        "--index-url",
    ),
    (
        "[list] beats [global] in the same file",
        {"user": ini("global", index_url="G") + ini("list", index_url="L")},
        {},
        None,
        "list",
        "L",
        "user [list]",
    ),
    (
        "[install] is ignored by the list command",
        {"user": ini("global", index_url="G") + ini("install", index_url="I")},
        {},
        None,
        "list",
        "G",
        "user [global]",
    ),
    (
        "[install] applies to the install command",
        {"user": ini("global", index_url="G") + ini("install", index_url="I")},
        {},
        None,
        "install",
        "I",
        "user [install]",
    ),
    (
        # pip orders by section before file: a command section anywhere wins.
        "[list] in a global file beats [global] in PIP_CONFIG_FILE",
        {"xdg": ini("list", index_url="L"), "envfile": ini("global", index_url="F")},
        {},
        None,
        "list",
        "L",
        "xdg [list]",
    ),
    (
        "env var beats [list]",
        {"user": ini("list", index_url="L")},
        {"PIP_INDEX_URL": "V"},
        None,
        "list",
        "V",
        "PIP_INDEX_URL",
    ),
    (
        "pypi-url is an alias",
        {"user": ini("global", pypi_url="P")},
        {},
        None,
        "list",
        "P",
        "user [global]",
    ),
    (
        "names with underscores and dashes are one name",
        {"user": "[global]\nINDEX_URL = U\n"},
        {},
        None,
        "list",
        "U",
        "user [global]",
    ),
    (
        "a leading -- is allowed in files",
        {"user": "[global]\n--index-url = U\n"},
        {},
        None,
        "list",
        "U",
        "user [global]",
    ),
    (
        "an empty value is unset, hiding lower files",
        {"etc": ini("global", index_url="E"), "user": "[global]\nindex-url =\n"},
        {},
        None,
        "list",
        DEFAULT_INDEX_URL,
        "default",
    ),
    (
        "an empty env var is unset",
        {"user": ini("global", index_url="U")},
        {"PIP_INDEX_URL": ""},
        None,
        "list",
        "U",
        "user [global]",
    ),
    (
        "lower-case pip_ variables are not pip's",
        {},
        {"pip_index_url": "V"},
        None,
        "list",
        DEFAULT_INDEX_URL,
        "default",
    ),
    (
        "[DEFAULT] feeds every section of its file",
        {"user": "[DEFAULT]\nindex-url = D\n[global]\n"},
        {},
        None,
        "list",
        "D",
        "user [global]",
    ),
    (
        "section names are case-sensitive",
        {"user": ini("Global", index_url="G")},
        {},
        None,
        "list",
        DEFAULT_INDEX_URL,
        "default",
    ),
]


def _source(sandbox: Sandbox, source: str) -> str:
    label, _, section = source.partition(" ")
    return f"{sandbox.paths[label]} {section}" if label in sandbox.paths else source


@unix_only
@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in PRECEDENCE])
def test_precedence(sandbox: Sandbox, case: tuple[Any, ...]) -> None:
    _, files, env, cli, command, expected, source = case
    config = sandbox.load(files, env, cli, command)
    assert config.index_url == expected
    assert config.sources[IDX] == _source(sandbox, source)


@unix_only
def test_existing_pip_config_file_replaces_user_files(sandbox: Sandbox) -> None:
    config = sandbox.load(
        {
            "user": ini("global", extra_index_url="U", timeout="3"),
            "envfile": ini("global", index_url="F"),
        }
    )
    assert config.extra_index_urls == ()
    assert config.timeout == 15.0


@unix_only
def test_missing_pip_config_file_keeps_user_files(sandbox: Sandbox) -> None:
    missing = str(sandbox.root / "nope.conf")
    config = sandbox.load({"user": ini("global", index_url="U")}, {"PIP_CONFIG_FILE": missing})
    assert config.index_url == "U"


@unix_only
def test_devnull_loads_no_file_but_keeps_env_vars(sandbox: Sandbox) -> None:
    config = sandbox.load(
        {
            "xdg": ini("global", index_url="X"),
            "etc": ini("global", extra_index_url="E"),
            "user": ini("global", timeout="3"),
            "site": ini("global", trusted_host="s"),
        },
        {"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "https://links/"},
    )
    assert config.index_url == DEFAULT_INDEX_URL
    assert config.extra_index_urls == ()
    assert config.timeout == 15.0
    assert config.trusted_hosts == ()
    assert config.find_links == ("https://links/",)


@unix_only
def test_isolated_skips_user_files_and_env_vars_only(sandbox: Sandbox) -> None:
    config = sandbox.load(
        {
            "etc": ini("global", trusted_host="etc.example"),
            "user": ini("global", index_url="U"),
            "site": ini("global", timeout="7"),
            "envfile": ini("global", extra_index_url="F"),
        },
        {"PIP_FIND_LINKS": "https://env/", "PIP_CERT": "/env.pem"},
        CliIndexOptions(isolated=True),
    )
    assert config.isolated is True
    assert config.sources["isolated"] == "--isolated"
    assert config.index_url == DEFAULT_INDEX_URL  # user file skipped
    assert config.find_links == ()  # PIP_* skipped
    assert config.trusted_hosts == ("etc.example",)  # global file still read
    assert config.timeout == 7.0  # site file still read
    assert config.extra_index_urls == ("F",)  # PIP_CONFIG_FILE still read


@unix_only
def test_isolated_still_honours_ca_bundle_variables(sandbox: Sandbox) -> None:
    config = sandbox.load(
        env={"PIP_CERT": "/pip.pem", "REQUESTS_CA_BUNDLE": "/requests.pem"},
        cli=CliIndexOptions(isolated=True),
    )
    assert (config.cert, config.sources["cert"]) == ("/requests.pem", "REQUESTS_CA_BUNDLE")


@pytest.mark.parametrize("where", ["env", "file"])
def test_pip_isolated_setting_is_recorded_but_does_not_isolate(
    sandbox: Sandbox, where: str
) -> None:
    # pip decides isolation from "--isolated" in argv before reading any setting.
    files = {"envfile": ini("global", isolated="yes")} if where == "file" else {}
    env = {"PIP_ISOLATED": "1"} if where == "env" else {}
    config = sandbox.load(files, {**env, "PIP_INDEX_URL": "V"})
    assert config.isolated is True
    assert config.index_url == "V"


def test_site_file_only_with_site_prefix(sandbox: Sandbox) -> None:
    sandbox.write({"site": ini("global", index_url="S")})
    config = load_index_config(CliIndexOptions(), sandbox.environ(), cwd=sandbox.root)
    assert config.index_url == DEFAULT_INDEX_URL


@unix_only
def test_config_files_order(sandbox: Sandbox) -> None:
    env = sandbox.environ({"XDG_CONFIG_DIRS": f"/a:relative:{sandbox.root / 'xdg'}"})
    files = [(f.kind, f.path) for f in config_files(env, site_prefix="/prefix")]
    home = sandbox.root / "home"
    assert files == [
        ("global", "/a/pip/pip.conf"),
        ("global", str(sandbox.paths["xdg"])),
        ("global", str(sandbox.paths["etc"])),
        ("user", str(home / ".pip" / "pip.conf")),
        ("user", str(home / ".config" / "pip" / "pip.conf")),
        ("site", "/prefix/pip.conf"),
    ]


@unix_only
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "/etc/xdg/pip/pip.conf"),
        ({"XDG_CONFIG_DIRS": ""}, "/etc/xdg/pip/pip.conf"),
        ({"XDG_CONFIG_DIRS": "relative"}, "/etc/xdg/pip/pip.conf"),
        ({"XDG_CONFIG_DIRS": " /x "}, "/x/pip/pip.conf"),
    ],
)
def test_xdg_config_dirs_fallback(env: dict[str, str], expected: str) -> None:
    files = config_files({"HOME": "/h", **env}, isolated=True)
    assert files[0].path == expected


@unix_only
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "/h/.config/pip/pip.conf"),
        ({"XDG_CONFIG_HOME": "/cfg"}, "/cfg/pip/pip.conf"),
        ({"XDG_CONFIG_HOME": "rel"}, "/h/.config/pip/pip.conf"),
    ],
)
def test_user_file_location(env: dict[str, str], expected: str) -> None:
    files = config_files({"HOME": "/h", **env})
    assert [f.path for f in files if f.kind == "user"] == ["/h/.pip/pip.conf", expected]


# -- lists -----------------------------------------------------------------------

LISTS = [
    # (id, files, env, cli, expected extra_index_urls, expected source)
    (
        "whitespace separated in a file",
        {"user": "[global]\nextra-index-url = a  b\n\tc\n"},
        {},
        None,
        ("a", "b", "c"),
        "user [global]",
    ),
    (
        "newline continuation in a file",
        {"user": "[global]\nextra-index-url =\n    a\n    b\n"},
        {},
        None,
        ("a", "b"),
        "user [global]",
    ),
    (
        "env var replaces the file's list",
        {"user": ini("global", extra_index_url="a b")},
        {"PIP_EXTRA_INDEX_URL": " c\nd "},
        None,
        ("c", "d"),
        "PIP_EXTRA_INDEX_URL",
    ),
    (
        "a later file replaces, not merges",
        {"etc": ini("global", extra_index_url="a"), "user": ini("global", extra_index_url="b")},
        {},
        None,
        ("b",),
        "user [global]",
    ),
    (
        "CLI appends to configuration, as pip's optparse does",
        {},
        {"PIP_EXTRA_INDEX_URL": "a"},
        CliIndexOptions(extra_index_urls=["b", "c"]),
        ("a", "b", "c"),
        "PIP_EXTRA_INDEX_URL + --extra-index-url",
    ),
    (
        "CLI alone",
        {},
        {},
        CliIndexOptions(extra_index_urls=["b"]),
        ("b",),
        "--extra-index-url",
    ),
]


@unix_only
@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in LISTS])
def test_extra_index_url_lists(sandbox: Sandbox, case: tuple[Any, ...]) -> None:
    _, files, env, cli, expected, source = case
    config = sandbox.load(files, env, cli)
    assert config.extra_index_urls == expected
    assert config.sources["extra_index_urls"] == _source(sandbox, source)


def test_trusted_hosts_and_find_links(sandbox: Sandbox) -> None:
    config = sandbox.load(
        env={
            "PIP_TRUSTED_HOST": "a.example b.example:8080",
            "PIP_FIND_LINKS": "wheels ../up https://h/links file:///w ~/w git+https://g/x",
            "HOME": "/home/u",
        },
        cli=CliIndexOptions(trusted_hosts=["c"], find_links=["/abs/dir"]),
    )
    assert config.trusted_hosts == ("a.example", "b.example:8080", "c")
    root = sandbox.root
    assert config.find_links == (
        str(root / "wheels"),
        str(root.parent / "up"),
        "https://h/links",
        "file:///w",
        "/home/u/w",
        "git+https://g/x",
        "/abs/dir",
    )
    assert config.sources["find_links"] == "PIP_FIND_LINKS + --find-links"


def test_index_urls_deduplicated_in_order() -> None:
    config = IndexConfig(index_url="https://a/", extra_index_urls=("https://b/", "https://a/"))
    assert config.index_urls == ("https://a/", "https://b/")


# -- booleans --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("yes", True),
        ("Y", True),
        ("TRUE", True),
        ("on", True),
        ("t", True),
        ("0", False),
        ("no", False),
        ("n", False),
        ("False", False),
        ("off", False),
        ("f", False),
    ],
)
def test_no_index_booleans(sandbox: Sandbox, value: str, expected: bool) -> None:
    # PIP_NO_INDEX is a plain store_true option in pip: "false" means index in use.
    # (The inverted meaning pip once gave PIP_NO_CACHE_DIR does not apply to it.)
    config = sandbox.load(env={"PIP_NO_INDEX": value})
    assert config.no_index is expected
    assert config.sources["no_index"] == "PIP_NO_INDEX"
    assert config.index_urls == (() if expected else (DEFAULT_INDEX_URL,))
    assert config.index_url == (None if expected else DEFAULT_INDEX_URL)


def test_no_index_keeps_extras_but_uses_no_index(sandbox: Sandbox) -> None:
    config = sandbox.load(
        env={"PIP_EXTRA_INDEX_URL": "https://x/"}, cli=CliIndexOptions(no_index=True)
    )
    assert config.extra_index_urls == ("https://x/",)
    assert config.index_urls == ()
    assert config.sources["index_url"] == "--no-index"


def test_cli_no_index_false_overrides_configuration(sandbox: Sandbox) -> None:
    config = sandbox.load(env={"PIP_NO_INDEX": "1"}, cli=CliIndexOptions(no_index=False))
    assert config.no_index is False


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_bad_boolean(sandbox: Sandbox, value: str) -> None:
    with pytest.raises(ConfigError, match="PIP_NO_INDEX") as info:
        sandbox.load(env={"PIP_NO_INDEX": value})
    assert info.value.source == "PIP_NO_INDEX"


# -- timeout ---------------------------------------------------------------------

TIMEOUTS = [
    ({"PIP_TIMEOUT": "3"}, None, 3.0, "PIP_TIMEOUT"),
    ({"PIP_DEFAULT_TIMEOUT": "180"}, None, 180.0, "PIP_DEFAULT_TIMEOUT"),
    ({"PIP_TIMEOUT": "2.5"}, 9, 9.0, "--timeout"),
    ({}, "4.5", 4.5, "--timeout"),
    ({"PIP_TIMEOUT": "0"}, None, 0.0, "PIP_TIMEOUT"),
    # Both spellings set the same option; pip lets the later variable win.
    ({"PIP_TIMEOUT": "1", "PIP_DEFAULT_TIMEOUT": "2"}, None, 2.0, "PIP_DEFAULT_TIMEOUT"),
    ({"PIP_DEFAULT_TIMEOUT": "2", "PIP_TIMEOUT": "1"}, None, 1.0, "PIP_TIMEOUT"),
]


@pytest.mark.parametrize(("env", "cli_timeout", "expected", "source"), TIMEOUTS)
def test_timeout(
    sandbox: Sandbox,
    env: dict[str, str],
    cli_timeout: float | str | None,
    expected: float,
    source: str,
) -> None:
    config = sandbox.load(env=env, cli=CliIndexOptions(timeout=cli_timeout))
    assert (config.timeout, config.sources["timeout"]) == (expected, source)


@unix_only
def test_timeout_in_file(sandbox: Sandbox) -> None:
    config = sandbox.load({"user": ini("list", default_timeout="60")})
    assert config.timeout == 60.0
    assert config.sources["timeout"] == f"{sandbox.paths['user']} [list]"


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "1,5"])
def test_bad_timeout_in_env(sandbox: Sandbox, value: str) -> None:
    with pytest.raises(ConfigError, match="PIP_DEFAULT_TIMEOUT") as info:
        sandbox.load(env={"PIP_DEFAULT_TIMEOUT": value})
    assert info.value.source == "PIP_DEFAULT_TIMEOUT"


def test_bad_timeout_is_an_error_even_when_overridden(sandbox: Sandbox) -> None:
    # pip validates every configured value before it looks at the command line.
    with pytest.raises(ConfigError, match="PIP_TIMEOUT"):
        sandbox.load(env={"PIP_TIMEOUT": "abc"}, cli=CliIndexOptions(timeout=5))


@unix_only
def test_bad_timeout_in_file_names_the_file(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigError) as info:
        sandbox.load({"user": ini("global", timeout="soon")})
    assert str(sandbox.paths["user"]) in str(info.value)
    assert "timeout" in str(info.value)


@pytest.mark.parametrize("value", ["x", "-3", float("nan")])
def test_bad_cli_timeout_is_a_usage_error(sandbox: Sandbox, value: float | str) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        sandbox.load(cli=CliIndexOptions(timeout=value))


# -- certificates ----------------------------------------------------------------

CERTS = [
    ({}, None, None, "default"),
    ({"SSL_CERT_FILE": "/ssl.pem"}, None, "/ssl.pem", "SSL_CERT_FILE"),
    (
        {"SSL_CERT_FILE": "/ssl.pem", "CURL_CA_BUNDLE": "/curl.pem"},
        None,
        "/curl.pem",
        "CURL_CA_BUNDLE",
    ),
    (
        {"SSL_CERT_FILE": "/ssl.pem", "CURL_CA_BUNDLE": "/c.pem", "REQUESTS_CA_BUNDLE": "/r.pem"},
        None,
        "/r.pem",
        "REQUESTS_CA_BUNDLE",
    ),
    ({"REQUESTS_CA_BUNDLE": "/r.pem", "PIP_CERT": "/pip.pem"}, None, "/pip.pem", "PIP_CERT"),
    ({"PIP_CERT": "/pip.pem"}, "/cli.pem", "/cli.pem", "--cert"),
    ({"PIP_CERT": "~/ca.pem", "HOME": "/home/u"}, None, "/home/u/ca.pem", "PIP_CERT"),
    ({"REQUESTS_CA_BUNDLE": ""}, None, None, "default"),
]


@pytest.mark.parametrize(("env", "cli_cert", "expected", "source"), CERTS)
def test_cert(
    sandbox: Sandbox,
    env: dict[str, str],
    cli_cert: str | None,
    expected: str | None,
    source: str,
) -> None:
    config = sandbox.load(env=env, cli=CliIndexOptions(cert=cli_cert))
    assert (config.cert, config.sources["cert"]) == (expected, source)


def test_client_cert(sandbox: Sandbox) -> None:
    config = sandbox.load(env={"PIP_CLIENT_CERT": "/c.pem"})
    assert (config.client_cert, config.sources["client_cert"]) == ("/c.pem", "PIP_CLIENT_CERT")
    config = sandbox.load(cli=CliIndexOptions(client_cert="/d.pem"))
    assert (config.client_cert, config.sources["client_cert"]) == ("/d.pem", "--client-cert")


# -- malformed files -------------------------------------------------------------

MALFORMED = [
    ("no section header", "index-url = x\n", "line 1"),
    ("garbage line", "[global]\nindex-url = x\nthis is not ini\n", "line 3"),
    ("duplicate option", "[global]\nindex-url = a\nindex_url = b\n", "line 3"),
    ("duplicate section", "[global]\n[list]\n[global]\n", "line 3"),
]


@pytest.mark.parametrize(("text", "line"), [pytest.param(t, ln, id=i) for i, t, ln in MALFORMED])
def test_malformed_file(sandbox: Sandbox, text: str, line: str) -> None:
    with pytest.raises(ConfigError) as info:
        sandbox.load({"envfile": text})
    path = str(sandbox.paths["envfile"])
    assert str(info.value).startswith(f"pip config {path}: {line}")
    assert info.value.source == path


def test_file_that_is_not_utf8(sandbox: Sandbox) -> None:
    path = sandbox.paths["envfile"]
    path.write_bytes(b"[global]\nindex-url = caf\xe9\n")
    with pytest.raises(ConfigError, match=r"line 2: not valid UTF-8"):
        sandbox.load(env={"PIP_CONFIG_FILE": str(path)})


def test_unreadable_config_file_is_skipped(sandbox: Sandbox) -> None:
    # A directory where a file is expected cannot be opened; pip skips it silently.
    sandbox.paths["envfile"].mkdir(parents=True)
    config = sandbox.load(env={"PIP_CONFIG_FILE": str(sandbox.paths["envfile"])})
    assert config.index_url == DEFAULT_INDEX_URL


def test_unknown_settings_are_ignored(sandbox: Sandbox) -> None:
    config = sandbox.load(
        {"envfile": ini("global", constraint="/c.txt", retries="x")},
        {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "false"},
    )
    assert config.index_url == DEFAULT_INDEX_URL


# -- this machine ----------------------------------------------------------------

_USER_CONF = Path.home() / ".config" / "pip" / "pip.conf"
_KEYS = {
    "index-url": "index_url",
    "extra-index-url": "extra_index_urls",
    "find-links": "find_links",
    "trusted-host": "trusted_hosts",
    "cert": "cert",
    "timeout": "timeout",
    "default-timeout": "timeout",
}


def _pip_config_list() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    values: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        values[key] = value.strip().strip("'")
    return values


@unix_only
@pytest.mark.skipif(
    not (_USER_CONF.is_file() and Path("/etc/pip.conf").is_file()),
    reason="needs this machine's pip configuration",
)
@pytest.mark.skipif(importlib.util.find_spec("pip") is None, reason="pip not available")
def test_matches_pip_on_this_machine() -> None:
    pip_values = _pip_config_list()
    expected: dict[str, object] = {}
    # pip config list prints every section; apply them in pip's order.
    for section in ("global", "list", ":env:"):
        for key, target in _KEYS.items():
            value = pip_values.get(f"{section}.{key}")
            if not value:
                continue
            if target == "timeout":
                expected[target] = float(value)
            elif target in ("extra_index_urls", "find_links", "trusted_hosts"):
                expected[target] = tuple(value.split())
            else:
                expected[target] = value
    assert expected, "pip reports no index settings here"

    config = load_index_config(
        CliIndexOptions(), os.environ, cwd=Path.cwd(), site_prefix=sys.prefix
    )
    for target, want in expected.items():
        assert getattr(config, target) == want, target
