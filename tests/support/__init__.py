"""Test support for pipfresh: distributions built in milliseconds, a local index server
with instrumentation and fault injection, pypiserver, and real venvs.

    from support.wheels import build_wheel, build_sdist
    from support.index_server import IndexServer
    from support.venvs import make_venv, install, freeze

The pytest fixtures wrapping these live in ``tests/conftest.py``.
"""
