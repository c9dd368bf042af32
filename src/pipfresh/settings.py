"""User-facing configuration of a run, and where pipfresh's own settings come from.

Index settings (index URLs, certificates, timeout, ...) are pip's: they are read by
:mod:`pipfresh.pipconfig` exactly as pip reads them, with the values given here
taking precedence. pipfresh's own settings come from the CLI, then ``PIPFRESH_*``
environment variables, then defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipfresh.errors import UsageError

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
            ``PIPFRESH_CONCURRENCY`` variable, else 16).
        verbose: log each request and decision to stderr (CLI only).
        pre: consider pre-releases and development releases.
        index_url: the primary index (pip's ``--index-url``).
        extra_index_urls: more indexes, merged with the primary (``--extra-index-url``).
        no_index: ignore every index, use only ``find_links``.
        find_links: folders or pages listing distribution files (``--find-links``).
        trusted_hosts: hosts whose TLS certificate is not verified (``--trusted-host``).
        cert: a CA bundle to verify TLS with (``--cert``).
        client_cert: a client certificate (PEM, key included) for TLS (``--client-cert``).
        timeout: seconds allowed for each connect and read (``--timeout``).
        isolated: ignore pip's config files and ``PIP_*`` variables (``--isolated``).
    """

    concurrency: int | None = None
    verbose: bool = False
    pre: bool = False
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    no_index: bool = False
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    cert: str | None = None
    client_cert: str | None = None
    timeout: float | None = None
    isolated: bool = False
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
