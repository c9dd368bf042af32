"""Credentials: redaction, splitting, netrc and per-request lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipfresh.auth import (
    credentials_for,
    netrc_credentials,
    redact_text,
    redact_url,
    split_auth,
    url_secrets,
)

REDACT = [
    ("https://pypi.org/simple/", "https://pypi.org/simple/"),
    ("https://user:secret@host/simple/", "https://user:****@host/simple/"),
    ("https://user:secret@host:8443/simple/", "https://user:****@host:8443/simple/"),
    ("https://token@host/simple/", "https://****@host/simple/"),
    ("https://user:@host/", "https://user:****@host/"),
    ("https://:secret@host/", "https://:****@host/"),
    ("https://user:p%40ss%3Aw%2Frd@host/", "https://user:****@host/"),
    ("https://us%40er:pw@host/", "https://us%40er:****@host/"),
    ("https://user:p@ss@host/", "https://user:****@host/"),
    ("https://user:pw@[::1]:8080/simple", "https://user:****@[::1]:8080/simple"),
    ("https://user:pw@[::1/simple", "https://user:****@[::1/simple"),
    ("https://user:pw@host:notaport/x", "https://user:****@host:notaport/x"),
    ("https://user:pw@host?q=1", "https://user:****@host?q=1"),
    ("https://user:pw@host#frag", "https://user:****@host#frag"),
    ("https://host/path/@scope/pkg", "https://host/path/@scope/pkg"),
    ("https://host/?next=a:b@c", "https://host/?next=a:b@c"),
    ("file:///opt/pypi/simple", "file:///opt/pypi/simple"),
    ("file://user:pw@server/share", "file://user:****@server/share"),
    ("git+https://user:pw@host/repo.git", "git+https://user:****@host/repo.git"),
    ("//user:pw@host/x", "//user:****@host/x"),
    ("http://@host/", "http://@host/"),
    ("/local/path/wheels", "/local/path/wheels"),
    # no scheme at all: still not printed (a mistyped index URL)
    ("user:pw@host", "user:****@host"),
    ("user:pw@host/simple", "user:****@host/simple"),
    ("/tmp/a@b/wheels", "/tmp/a@b/wheels"),
    ("", ""),
    ("not a url at all", "not a url at all"),
    ("https://", "https://"),
    ("HTTPS://U:P@HOST/", "HTTPS://U:****@HOST/"),
]


@pytest.mark.parametrize(("url", "expected"), REDACT)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    # Idempotent: redacting a shown URL never reveals or mangles more.
    assert redact_url(expected) == expected


SPLIT = [
    ("https://host/simple", ("https://host/simple", None)),
    ("https://u:p@host/simple", ("https://host/simple", ("u", "p"))),
    ("https://tok@host/simple", ("https://host/simple", ("tok", ""))),
    ("https://u%40x:p%3A%2F@host:81/s", ("https://host:81/s", ("u@x", "p:/"))),
    ("https://u:a:b@host/", ("https://host/", ("u", "a:b"))),
    ("https://u:p@h@host/", ("https://host/", ("u", "p@h"))),
    ("https://u:p@[fe80::1]:443/s", ("https://[fe80::1]:443/s", ("u", "p"))),
    ("file:///opt/x", ("file:///opt/x", None)),
    ("weird", ("weird", None)),
]


@pytest.mark.parametrize(("url", "expected"), SPLIT)
def test_split_auth(url: str, expected: tuple[str, tuple[str, str] | None]) -> None:
    assert split_auth(url) == expected


TEXT = [
    ("GET https://u:s3cret@h/x failed", ["s3cret"], "GET https://u:****@h/x failed"),
    ("password s3cret rejected", ["s3cret"], "password **** rejected"),
    ("encoded p%40ss in url", ["p@ss"], "encoded **** in url"),
    ("plus form a+b in form", ["a b"], "plus form **** in form"),
    ("nothing here", ["secret"], "nothing here"),
    ("empty secrets ignored", ["", ""], "empty secrets ignored"),
    ("longest first: abcdef", ["abc", "abcdef"], "longest first: ****"),
    ("url without known secret https://x:y@h/", [], "url without known secret https://x:****@h/"),
    ("token https://tok@h/ and more", [], "token https://****@h/ and more"),
    ("ssh-ish mail user@example.com", [], "ssh-ish mail user@example.com"),
]


@pytest.mark.parametrize(("text", "secrets", "expected"), TEXT)
def test_redact_text(text: str, secrets: list[str], expected: str) -> None:
    assert redact_text(text, secrets) == expected


# -- netrc -----------------------------------------------------------------------

NETRC = """\
machine index.example login alice password wonderland
machine other.example
    login bob
    password builder
machine acct.example account acct-only password p2
default login anon password anonpw
"""


@pytest.fixture
def netrc_file(tmp_path: Path) -> Path:
    path = tmp_path / "netrc"
    path.write_text(NETRC, encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("index.example", ("alice", "wonderland")),
        ("INDEX.example", ("alice", "wonderland")),
        ("index.example:8443", ("alice", "wonderland")),
        ("other.example", ("bob", "builder")),
        ("acct.example", ("acct-only", "p2")),
        ("unknown.example", ("anon", "anonpw")),
    ],
)
def test_netrc_lookup(netrc_file: Path, host: str, expected: tuple[str, str]) -> None:
    assert netrc_credentials(host, netrc_path=str(netrc_file)) == expected


def test_netrc_entry_without_login_or_password(tmp_path: Path) -> None:
    path = tmp_path / "netrc"
    path.write_text("machine h.example login\n", encoding="utf-8")
    assert netrc_credentials("h.example", netrc_path=str(path)) is None


def test_netrc_without_default(tmp_path: Path) -> None:
    path = tmp_path / "netrc"
    path.write_text("machine a.example login a password b\n", encoding="utf-8")
    assert netrc_credentials("b.example", netrc_path=str(path)) is None


def test_netrc_env_var(netrc_file: Path, tmp_path: Path) -> None:
    env = {"NETRC": str(netrc_file), "HOME": str(tmp_path / "nohome")}
    assert netrc_credentials("other.example", environ=env) == ("bob", "builder")


@pytest.mark.parametrize("name", [".netrc", "_netrc"])
def test_netrc_in_home(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(NETRC, encoding="utf-8")
    (tmp_path / name).chmod(0o600)
    env = {"HOME": str(tmp_path)}
    assert netrc_credentials("index.example", environ=env) == ("alice", "wonderland")


@pytest.mark.parametrize(
    "content",
    [
        "machine h login a password b\nbogus x\n",
        "machine h login a password b\nmachine",
        "machine h login a bogusattr z\n",
        "macdefine\n",
        b"\xff\xfe\x00garbage",
    ],
)
def test_malformed_netrc_is_ignored(tmp_path: Path, content: str | bytes) -> None:
    path = tmp_path / "netrc"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert netrc_credentials("h", netrc_path=str(path)) is None


def test_missing_netrc(tmp_path: Path) -> None:
    assert netrc_credentials("h", environ={"HOME": str(tmp_path)}) is None
    assert netrc_credentials("h", netrc_path=str(tmp_path / "absent")) is None


# -- credentials_for -------------------------------------------------------------

INDEXES = [
    "https://alice:pw1@private.example/simple/",
    "https://private.example:8443/other/",
    "https://tok@tokens.example/simple",
    "https://pypi.org/simple",
]

CREDENTIALS = [
    # (request URL, expected) with INDEXES configured and the netrc_file fixture.
    ("https://bob:own@private.example/simple/x/", ("bob", "own")),
    ("https://private.example/simple/", ("alice", "pw1")),
    ("https://private.example/simple/pkg/", ("alice", "pw1")),
    ("https://PRIVATE.example:443/simple/pkg/", ("alice", "pw1")),
    # Files on the same host get the index's credentials, as in pip.
    ("https://private.example/packages/ab/cd/pkg-1.0.whl", ("alice", "pw1")),
    # Another scheme or port is another origin.
    ("http://private.example/simple/pkg/", None),
    ("https://private.example:8443/other/pkg/", None),
    ("https://tokens.example/simple/pkg/", ("tok", "")),
    ("https://pypi.org/simple/pkg/", None),
    ("https://files.pythonhosted.org/packages/x.whl", None),
    # netrc for hosts no index covers.
    ("https://index.example/simple/pkg/", ("alice", "wonderland")),
    # A lone user in the request URL: netrc first, then an empty password.
    ("https://someone@index.example/simple/", ("alice", "wonderland")),
    ("https://someone@nowhere.example/simple/", ("someone", "")),
    ("not a url", None),
    ("https://[::1/broken", None),
]


@pytest.mark.parametrize(("url", "expected"), CREDENTIALS)
def test_credentials_for(url: str, expected: tuple[str, str] | None, tmp_path: Path) -> None:
    path = tmp_path / "netrc"
    path.write_text("machine index.example login alice password wonderland\n", encoding="utf-8")
    assert credentials_for(url, INDEXES, netrc_path=str(path)) == expected


def test_credentials_prefer_closest_index_path(tmp_path: Path) -> None:
    indexes = ["https://a:1@h.example/simple/", "https://b:2@h.example/team/simple/"]
    absent = str(tmp_path / "none")
    assert credentials_for("https://h.example/team/simple/p/", indexes, netrc_path=absent) == (
        "b",
        "2",
    )
    assert credentials_for("https://h.example/simple/p/", indexes, netrc_path=absent) == (
        "a",
        "1",
    )


def test_closest_index_without_credentials_gives_none_from_indexes(tmp_path: Path) -> None:
    # pip picks the closest index first and only then looks for its credentials.
    indexes = ["https://a:1@h.example/simple/", "https://h.example/team/simple/"]
    url = "https://h.example/team/simple/p/"
    assert credentials_for(url, indexes, netrc_path=str(tmp_path / "none")) is None


def test_credentials_percent_decoded(tmp_path: Path) -> None:
    indexes = ["https://me%40corp:p%2Fw@h.example/simple/"]
    assert credentials_for(
        "https://h.example/simple/x/", indexes, netrc_path=str(tmp_path / "none")
    ) == ("me@corp", "p/w")


# --------------------------------------------------------------------------------------
# passwords with unencoded reserved characters are still redacted
# --------------------------------------------------------------------------------------

UNENCODED = [
    ("https://user:pa/ss@host/simple", "https://user:****@host/simple", "pa/ss"),
    ("https://user:pa#ss@host/simple", "https://user:****@host/simple", "pa#ss"),
    ("https://user:p@ss@host/simple", "https://user:****@host/simple", "p@ss"),
    ("https://user:pa?ss@host:8443/simple", "https://user:****@host:8443/simple", "pa?ss"),
    ("https://user:p@ss/w#rd?x@host/simple/", "https://user:****@host/simple/", "p@ss/w#rd?x"),
    ("https://user:pa/ss@[::1]:8080/simple", "https://user:****@[::1]:8080/simple", "pa/ss"),
    ("user:pa/ss@host/simple", "user:****@host/simple", "pa/ss"),
    ("https://alice:12/et@host:9/simple", "https://alice:****@host:9/simple", "12/et"),
    ("https://user:s%2Fcret@host/", "https://user:****@host/", "s%2Fcret"),
]


@pytest.mark.parametrize(("url", "shown", "secret"), UNENCODED)
def test_unencoded_reserved_characters_in_a_password_are_redacted(
    url: str, shown: str, secret: str
) -> None:
    assert redact_url(url) == shown
    assert secret in url_secrets(url)
    if "://" not in url:
        return  # free text is searched for URLs with a scheme only
    text = f"HTTP 401 from {url} (check the credentials)"
    assert redact_text(text, ()) == f"HTTP 401 from {shown} (check the credentials)"
    assert secret not in redact_text(f"cannot connect ({url})", ())


@pytest.mark.parametrize(
    "url",
    [
        "https://host/simple/x@y",
        "file:///tmp/a@b/x",
        "http://[::1]:80/simple",
        "https://host/simple/",
    ],
)
def test_urls_without_credentials_are_shown_unchanged(url: str) -> None:
    assert redact_url(url) == url
    assert url_secrets(url) == ()


def test_a_percent_encoded_password_is_scrubbed_in_both_forms() -> None:
    assert url_secrets("https://user:s%2Fcret@host/") == ("s%2Fcret", "s/cret")


def test_an_at_in_the_path_after_credentials_hides_too_much_never_too_little() -> None:
    # Ambiguous: "pw@host/simple/pkg" could be the password. Hiding it is the safe side.
    shown = redact_url("https://user:pw@host/simple/pkg@1.0")
    assert "pw" not in shown
    assert redact_url("https://host:8080/simple/pkg@1.0") == "https://host:****@1.0"
