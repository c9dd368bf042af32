"""Credentials for index requests, and keeping them out of everything shown.

Where credentials come from, for one request URL (the order pip uses, keyring aside):

1. ``user:password@`` in the URL itself;
2. the configured index URL on the same scheme, host and port whose path shares the
   longest prefix with the request (so files served from ``/packages/`` on the host
   of ``/simple/`` get the index's credentials, as pip's per-host reuse gives them);
3. ``.netrc`` (``$NETRC``, else ``~/.netrc``, else ``~/_netrc``) for the host;
4. a lone ``token@`` or ``user@`` in the URL, sent as that user with an empty
   password, which is how token-authenticated indexes expect it.

Every URL shown to the user goes through :func:`redact_url`; error texts that may
quote a URL or a password go through :func:`redact_text`. URLs must percent-encode
``/``, ``?``, ``#`` and ``@`` inside a password, as RFC 3986 requires, for the
password to be *sent*; but redaction does not rely on it: ``user:pa/ss#w@rd@host``
shows as ``user:****@host``, whatever the password holds (see :func:`_secret_end`).
A lone token holding an unencoded ``/`` cannot be told from a host and path, and is
shown (encode it).
"""

from __future__ import annotations

import netrc
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = [
    "credentials_for",
    "netrc_credentials",
    "redact_text",
    "redact_url",
    "split_auth",
    "unencoded_userinfo",
    "url_secrets",
]

REDACTED = "****"

Credentials = tuple[str, str]

# scheme (optional) + "//" + authority + rest. Parsed by hand, not with urlsplit,
# so that malformed URLs (bad IPv6 brackets, non-numeric ports) are still redacted
# instead of raising.
_URL = re.compile(
    r"^(?P<head>(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//)(?P<authority>[^/?#]*)(?P<rest>.*)$",
    re.DOTALL,
)
# A URL inside free text: the scheme, then anything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]*")
_HEAD = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//")
# An "@" that a host (a name, an IPv4 or a bracketed IPv6 address, maybe a port)
# follows, up to the end of the authority: where a userinfo may end.
_AT_HOST = re.compile(
    r"@(?=(?:\[[0-9A-Fa-f:.]*\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(?::[0-9]*)?(?:[/?#\s)\]]|$))"
)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split_authority(url: str) -> tuple[str, str, str, str | None]:
    """Split a URL into (scheme and "//", host[:port], the rest, userinfo or None)."""
    match = _URL.match(url)
    if match is None:
        return "", "", url, None
    authority = match["authority"]
    if "@" not in authority:
        return match["head"], authority, match["rest"], None
    # The last "@" ends the userinfo; an unencoded "@" in a password stays in it.
    userinfo, hostport = authority.rsplit("@", 1)
    return match["head"], hostport, match["rest"], userinfo


def _redact_userinfo(userinfo: str) -> str:
    if not userinfo:
        return userinfo
    user, sep, _ = userinfo.partition(":")
    # A lone name may be a token, so it is hidden too.
    return f"{user}:{REDACTED}" if sep else REDACTED


def _secret_end(url: str, start: int) -> int | None:
    """Where the userinfo that starts at ``start`` ends (its "@"), or None.

    RFC 3986 ends the authority at the first ``/``, ``?`` or ``#``, but a password
    with one of those (or an "@") unencoded runs past it. So when the text looks
    like ``user:...`` the userinfo is taken to run to the *last* "@" that a host
    follows. ``user:12/x@host`` cannot be told from ``host:12/path@host``: an odd
    URL with an "@" in its path may lose too much to ``****``, a password never
    too little.
    """
    stop = len(url)
    for mark in "/?#":
        found = url.find(mark, start)
        if found != -1:
            stop = min(stop, found)
    first = url[start:stop]
    at = first.rfind("@")
    if at == -1 and ":" not in first:
        return None  # no userinfo (a lone token must encode a "/")
    if at != -1 and ":" not in first[:at]:
        return start + at  # a lone token: as RFC 3986 splits it
    ats = [m.start() for m in _AT_HOST.finditer(url, start)]
    if ats:
        return ats[-1]
    return None if at == -1 else start + at


def redact_url(url: str) -> str:
    """``url`` with its password (or lone token) replaced by ``****``; never raises."""
    head = _HEAD.match(url)
    if head is None:
        # A mistyped URL without a scheme ("user:pw@host/simple") still hides its secret.
        at = _secret_end(url, 0) if "@" in url else None
        if at is not None and at > 0:
            return f"{_redact_userinfo(url[:at])}{url[at:]}"
        return url
    start = head.end()
    at = _secret_end(url, start)
    if at is None or at == start:
        return url
    return f"{url[:start]}{_redact_userinfo(url[start:at])}{url[at:]}"


def unencoded_userinfo(url: str) -> bool:
    """Whether the userinfo of ``url`` runs past where RFC 3986 ends it: a password
    holding an unencoded ``/``, ``?``, ``#`` or ``@``. Sent as it is, its first part
    would go as the password to the wrong host."""
    head = _HEAD.match(url)
    start = head.end() if head else 0
    robust = _secret_end(url, start)
    _, _, _, userinfo = _split_authority(url)
    if robust is None:
        return False
    return userinfo is None or start + len(userinfo) != robust


def url_secrets(url: str) -> tuple[str, ...]:
    """The password (or lone token) of ``url`` as written, and percent-decoded, for
    scrubbing messages. As written means as :func:`redact_url` finds it: with an
    unencoded ``/`` or ``#`` that is the whole password, not the piece before it
    that RFC 3986 parsing would give (and which may be a single letter, unsafe to
    scrub from a message)."""
    head = _HEAD.match(url)
    start = head.end() if head else 0
    at = _secret_end(url, start)
    if at is None:
        return ()
    user, sep, password = url[start:at].partition(":")
    secret = password if sep else user
    return tuple(dict.fromkeys(s for s in (secret, unquote(secret)) if s))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Scrub ``secrets`` (raw and percent-encoded) and any URL passwords out of ``text``.

    Meant for messages from libraries, which may quote a URL or a header verbatim.
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.update({secret, quote(secret, safe=""), quote_plus(secret)})
    # Longest first, so a secret containing a shorter one is removed whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return _URL_IN_TEXT.sub(lambda m: redact_url(m[0]), text)


def split_auth(url: str) -> tuple[str, Credentials | None]:
    """(``url`` without userinfo, (user, password) percent-decoded, or None).

    A lone ``token@`` gives ``(token, "")``.
    """
    head, hostport, rest, userinfo = _split_authority(url)
    if userinfo is None:
        return url, None
    user, _, password = userinfo.partition(":")
    return f"{head}{hostport}{rest}", (unquote(user), unquote(password))


def _has_password(url: str) -> bool:
    _, _, _, userinfo = _split_authority(url)
    return userinfo is not None and ":" in userinfo


def _default_netrc_paths(environ: Mapping[str, str]) -> list[str]:
    if environ.get("NETRC"):
        return [os.path.expanduser(environ["NETRC"])]
    home = environ.get("HOME") or os.path.expanduser("~")
    return [os.path.join(home, ".netrc"), os.path.join(home, "_netrc")]


def _bare_host(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def netrc_credentials(
    host: str,
    *,
    netrc_path: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials | None:
    """(login, password) for ``host`` (a port is ignored) from a netrc file.

    A missing, unreadable or malformed file gives None: a broken ``.netrc`` must not
    stop a scan that may not need it.
    """
    if environ is None:
        environ = os.environ
    paths = [netrc_path] if netrc_path else _default_netrc_paths(environ)
    name = _bare_host(host).lower()
    for path in paths:
        if not os.path.isfile(path):
            continue
        try:
            entry = netrc.netrc(path).authenticators(name)
        except (netrc.NetrcParseError, OSError, UnicodeDecodeError):
            return None
        if entry is None:
            return None
        login, account, password = entry
        # requests uses the account name when the login is empty; so does pipfresh.
        user = login or account or ""
        return (user, password or "") if user or password else None
    return None


def _origin(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port, path) of a credential-free URL, or None if unparsable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    return scheme, (parts.hostname or "").lower(), port, parts.path or "/"


def _index_credentials(url: str, index_urls: Sequence[str]) -> Credentials | None:
    target = _origin(url)
    if target is None:
        return None
    best: tuple[int, str] | None = None
    for index in index_urls:
        bare, _ = split_auth(index)
        origin = _origin(bare)
        if origin is None or origin[:3] != target[:3]:
            continue
        # Like pip, pick the same-host index whose path has most in common with the
        # request, and only then look at whether it carries credentials.
        index_path = origin[3].rstrip("/") + "/"
        request_path = target[3].rstrip("/") + "/"
        common = len(posixpath.commonpath([index_path, request_path]))
        if index_path == request_path:
            common = len(index_path) + 1
        if best is None or common > best[0]:
            best = (common, index)
    if best is None:
        return None
    return split_auth(best[1])[1]


def credentials_for(
    url: str,
    index_urls: Sequence[str],
    *,
    netrc_path: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials | None:
    """The (user, password) to send with a request for ``url``, or None."""
    bare, own = split_auth(url)
    if own is not None and _has_password(url):
        return own
    from_index = _index_credentials(bare, index_urls)
    if from_index is not None:
        return from_index
    origin = _origin(bare)
    if origin is not None and origin[1]:
        from_netrc = netrc_credentials(origin[1], netrc_path=netrc_path, environ=environ)
        if from_netrc is not None:
            return from_netrc
    return own
