"""Shared fixtures: a real index server on 127.0.0.1, wheels built by the tests, real venvs.

Fixtures
    index_server      function-scoped :class:`support.index_server.IndexServer`, empty
    wheel_factory     ``wheel_factory(name, version, **kw) -> Path`` (wheels) and
                      ``wheel_factory.sdist(name, version, **kw) -> Path``; cached per session
    make_venv         ``make_venv(name=None, python=sys.executable, *, with_pip=False) -> Venv``
    pypiserver        session-scoped real pypiserver (``.url``, ``.add(path)``); skipped
                      when pypiserver is not installed
    pypi_reachable    skips the test unless https://pypi.org/simple/ answers within 3 s;
                      tests marked ``@pytest.mark.live`` get this check automatically

The helpers live in ``tests/support`` (``from support.wheels import build_wheel``).
"""

from __future__ import annotations

import importlib.util
import signal
import sys
import urllib.request
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:  # `import support` under any pytest import mode
    sys.path.insert(0, _TESTS)

# A test run started in the background (a CI step, `cmd &`) inherits SIGINT ignored, and
# so would every pipfresh the tests start: the Ctrl-C tests would then test nothing.
# Catching it here gives the children the default disposition again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from support.index_server import IndexServer, PypiServer  # noqa: E402
from support.venvs import VenvFactory, clean_env  # noqa: E402
from support.wheels import WheelFactory  # noqa: E402


@pytest.fixture
def index_server() -> Iterator[IndexServer]:
    """A fresh in-process index on 127.0.0.1; ``index_server.url`` is the index URL."""
    server = IndexServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def wheel_factory(tmp_path_factory: pytest.TempPathFactory) -> WheelFactory:
    """Build a wheel (``wheel_factory(...)``) or sdist (``wheel_factory.sdist(...)``).

    Files are shared by every test of the session: treat them as read-only.
    """
    return WheelFactory(tmp_path_factory.mktemp("dists"))


@pytest.fixture
def make_venv(tmp_path: Path) -> VenvFactory:
    """``make_venv()`` -> a new empty venv (uv, ~50 ms); ``with_pip=True`` seeds pip (~3 s)."""
    return VenvFactory(tmp_path)


@pytest.fixture(scope="session")
def pypiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    """A real pypiserver on 127.0.0.1; ``pypiserver.add(wheel)`` publishes a file.

    Session-scoped: files added by one test stay visible to later ones.
    """
    if importlib.util.find_spec("pypiserver") is None:
        pytest.skip("pypiserver is not installed")
    with PypiServer(tmp_path_factory.mktemp("pypiserver")).start(clean_env()) as server:
        yield server


PYPI_SIMPLE = "https://pypi.org/simple/"


@cache
def _pypi_unreachable_reason() -> str | None:
    """None when PyPI answers, else why not. Asked once per session."""
    request = urllib.request.Request(PYPI_SIMPLE, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            if response.status >= 400:
                return f"HTTP {response.status}"
    except OSError as error:  # URLError, timeouts and TLS errors are OSErrors
        return str(error)
    return None


@pytest.fixture
def pypi_reachable() -> None:
    """Skip the test unless https://pypi.org/simple/ answers a HEAD within 3 s."""
    reason = _pypi_unreachable_reason()
    if reason is not None:
        pytest.skip(f"PyPI is unreachable: {reason}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("live") is not None:
        reason = _pypi_unreachable_reason()
        if reason is not None:
            pytest.skip(f"PyPI is unreachable: {reason}")
