"""Both index formats give the same answer, and the selection rules hold end to end.

The local index offers, for projects installed at 1.0:

* ``alpha`` 1.5, and 2.0 whose ``requires-python`` excludes every interpreter;
* ``beta`` 1.5, and a yanked 2.0;
* ``gamma`` 1.5, and 2.0 with only a ``win_amd64`` wheel (no candidate on Linux);
* ``delta`` 1.5, and 2.0rc1 (a candidate only with ``--pre``).

The same scan runs against PEP 691 JSON (what pipfresh asks for first) and against the
same server forced to answer PEP 503 HTML only (with ``data-requires-python`` and
``data-yanked``), and against pypiserver, a real third-party HTML-only index.
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.test_scan_helpers import install_pins, pipfresh_env, publish, run_json
from support.index_server import HTML_TYPE, JSON_TYPE, IndexServer, PypiServer
from support.venvs import Venv, VenvFactory
from support.wheels import WheelFactory

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="win_amd64 case assumes Linux")

UPLOADED = "2024-05-06T07:08:09Z"
PROJECTS = ("alpha", "beta", "gamma", "delta")


@dataclass
class Scene:
    server: IndexServer
    venv: Venv
    root: Path


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("formats")
    with IndexServer() as server:
        for name in PROJECTS:
            publish(server, wheel_factory, name, "1.0", "1.5", upload_time=UPLOADED)
        server.add(wheel_factory("alpha", "2.0", requires_python=">=3.99"))
        server.add(wheel_factory("beta", "2.0"), yanked="broken release")
        server.add(wheel_factory("gamma", "2.0", tag="cp311-cp311-win_amd64"))
        server.add(wheel_factory("delta", "2.0rc1"))
        venv = VenvFactory(root)("env")
        install_pins(venv, server.url, [f"{name}==1.0" for name in PROJECTS])
        yield Scene(server, venv, root)


@pytest.fixture
def server(scene: Scene) -> Iterator[IndexServer]:
    scene.server.clear_faults()
    scene.server.reset_stats()
    yield scene.server
    scene.server.clear_faults()


def force_html(server: IndexServer) -> None:
    """Make every project page answer PEP 503 HTML, whatever the client asks for."""
    for name in PROJECTS:
        request = urllib.request.Request(server.project_url(name), headers={"Accept": HTML_TYPE})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"].startswith(HTML_TYPE)
            body = response.read()
        assert b"data-requires-python" in body or name != "alpha"
        assert b"data-yanked" in body or name != "beta"
        server.respond(name, body, content_type=f"{HTML_TYPE}; charset=utf-8")


def answer(document: dict[str, Any]) -> dict[str, tuple[str, str, str, str | None, str]]:
    """What matters of each package, whatever the format: versions, bump and kind."""
    return {
        p["name"]: (p["installed"], p["wanted"], p["latest"], p["bump"], p["kind"])
        for p in document["packages"]
    }


EXPECTED = dict.fromkeys(PROJECTS, ("1.0", "1.5", "1.5", "minor", "index"))
EXPECTED_PRE = EXPECTED | {"delta": ("1.0", "2.0rc1", "2.0rc1", "major", "index")}


@pytest.mark.parametrize("pre", [False, True], ids=["final", "pre"])
def test_json_and_html_give_the_same_answer(
    scene: Scene, server: IndexServer, tmp_path: Path, pre: bool
) -> None:
    args = ["--python", str(scene.venv.path), "--index-url", server.url, "--all"]
    if pre:
        args.append("--pre")
    env = pipfresh_env(tmp_path)

    from_json = run_json(*args, env=env, cwd=tmp_path)
    assert {r.accept for r in server.requests} == {r.accept for r in server.requests[:1]}
    assert server.requests[0].accept is not None
    assert server.requests[0].accept.startswith(JSON_TYPE), "JSON is not asked for first"
    assert answer(from_json) == (EXPECTED_PRE if pre else EXPECTED)
    # JSON pages carry upload times (PEP 700).
    assert {p["released"] for p in from_json["packages"] if p["name"] != "delta" or not pre} == {
        UPLOADED
    }

    force_html(server)
    server.reset_stats()
    from_html = run_json(*args, env=env, cwd=tmp_path)
    assert server.count("/simple/?*/") == len(PROJECTS)
    assert answer(from_html) == answer(from_json)
    assert from_html["errors"] == []


def test_pypiserver(
    pypiserver: PypiServer, wheel_factory: WheelFactory, make_venv: Any, tmp_path: Path
) -> None:
    # Names of our own: the pypiserver fixture is shared by the whole session.
    for version in ("1.0", "1.1", "2.0"):
        pypiserver.add(wheel_factory("fresh-pps", version))
    pypiserver.add(wheel_factory("fresh-pps-other", "0.5"))
    venv: Venv = make_venv()
    install_pins(venv, pypiserver.url, ["fresh-pps==1.0", "fresh-pps-other==0.5"])
    document = run_json(
        "--python",
        venv.path,
        "--index-url",
        pypiserver.url,
        "--all",
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    assert answer(document) == {
        "fresh-pps": ("1.0", "2.0", "2.0", "major", "index"),
        "fresh-pps-other": ("0.5", "0.5", "0.5", None, "index"),
    }
    assert document["errors"] == []
