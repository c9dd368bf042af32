"""``pipfresh update`` plans until nothing more can move (real venvs, the local index).

The must-show of the update: after ``pipfresh update -y`` a scan reports nothing
outdated except packages held back by another installed package. That needs more
than one planning round when an upgrade lifts the cap that held another package
back, and a resolver that lets a target stop below its wanted version when another
target's new version caps it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from integration.test_scan_helpers import describe, pipfresh_env, run_pipfresh
from support.index_server import IndexServer
from support.venvs import Venv, VenvFactory, freeze, install
from support.wheels import WheelFactory


def publish(
    server: IndexServer, wheels: WheelFactory, name: str, version: str, *requires: str
) -> None:
    server.add(wheels(name, version, requires=requires))


def run(
    server: IndexServer, venv: Venv, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return run_pipfresh(
        *args,
        "--python",
        venv.python,
        "--index-url",
        server.url,
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )


def document(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, describe(result)
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def still_outdated(server: IndexServer, venv: Venv, tmp_path: Path) -> dict[str, list[str]]:
    """What a scan still reports as outdated: name -> who holds it back."""
    scan = document(run(server, venv, tmp_path, "outdated", "--format", "json"))
    return {p["name"]: [h["requirement"] for h in p["held_back_by"]] for p in scan["packages"]}


def test_a_cap_lifted_by_the_update_is_followed_in_the_same_run(
    index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory, tmp_path: Path
) -> None:
    # kap 1.0 caps lib<2, so lib's wanted version is 1.5; kap 2.0 only caps lib<3,
    # so once kap moves, lib can go on to 2.5 (3.0 stays held back).
    for version in ("1.0", "1.5", "2.5", "3.0"):
        publish(index_server, wheel_factory, "lib", version)
    publish(index_server, wheel_factory, "kap", "1.0", "lib<2")
    publish(index_server, wheel_factory, "kap", "2.0", "lib<3")
    venv = make_venv("rounds")
    install(venv, "kap==1.0", "lib==1.0", index_url=index_server.url, extra_args=["--no-deps"])

    plan = document(run(index_server, venv, tmp_path, "update", "--dry-run", "--format", "json"))
    assert {c["name"]: (c["before"], c["after"]) for c in plan["plan"]["changes"]} == {
        "kap": ("1.0", "2.0"),
        "lib": ("1.0", "2.5"),
    }
    restore = {c["name"]: c["restore_file"] for c in plan["plan"]["changes"]}
    assert restore["lib"] == "lib-1.0-py3-none-any.whl"  # the installed one, not 1.5

    result = run(index_server, venv, tmp_path, "update", "-y", "--installer", "uv")
    assert result.returncode == 0, describe(result)
    assert freeze(venv) == {"kap": "2.0", "lib": "2.5"}
    assert still_outdated(index_server, venv, tmp_path) == {"lib": ["lib<3"]}


def test_a_target_capped_by_another_targets_new_version_still_moves_up(
    index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory, tmp_path: Path
) -> None:
    # The sympy/mpmath case: the installed sym lets mp go to 1.4, sym 2.0 needs
    # mp<1.4. Both move: sym to 2.0, mp as far as sym 2.0 allows.
    for version in ("1.2", "1.3", "1.4"):
        publish(index_server, wheel_factory, "mp", version)
    publish(index_server, wheel_factory, "sym", "1.0", "mp>=1")
    publish(index_server, wheel_factory, "sym", "2.0", "mp>=1,<1.4")
    venv = make_venv("capped")
    install(venv, "sym==1.0", "mp==1.2", index_url=index_server.url, extra_args=["--no-deps"])

    result = run(index_server, venv, tmp_path, "update", "-y", "--format", "json")
    done = document(result)
    reasons = {c["name"]: c["reason"] for c in done["plan"]["changes"]}
    assert reasons == {"mp": "not 1.4: sym 2.0 requires mp<1.4,>=1", "sym": ""}
    assert done["plan"]["dropped"] == []
    assert freeze(venv) == {"mp": "1.3", "sym": "2.0"}
    assert still_outdated(index_server, venv, tmp_path) == {"mp": ["mp<1.4"]}


def test_a_target_with_no_room_stays_so_that_its_holder_can_move(
    index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory, tmp_path: Path
) -> None:
    # As on PyPI: sympy 1.12 lets mpmath go from 1.3.0 to 1.4.1, but sympy 1.14 needs
    # mpmath<1.4. Moving sympy and keeping mpmath ends with mpmath held back by
    # sympy; the other way round would leave sympy outdated with nothing holding it.
    for version in ("1.3", "1.4"):
        publish(index_server, wheel_factory, "mp", version)
    publish(index_server, wheel_factory, "sym", "1.0", "mp>=1")
    publish(index_server, wheel_factory, "sym", "2.0", "mp>=1,<1.4")
    venv = make_venv("stays")
    install(venv, "sym==1.0", "mp==1.3", index_url=index_server.url, extra_args=["--no-deps"])

    done = document(run(index_server, venv, tmp_path, "update", "-y", "--format", "json"))
    assert {c["name"]: c["after"] for c in done["plan"]["changes"]} == {"sym": "2.0"}
    assert done["plan"]["dropped"] == [
        {
            "name": "mp",
            "before": "1.3",
            "after": "1.4",
            "reason": "held back by sym 2.0 requires mp<1.4,>=1",
        }
    ]
    assert freeze(venv) == {"mp": "1.3", "sym": "2.0"}
    assert still_outdated(index_server, venv, tmp_path) == {"mp": ["mp<1.4"]}


def test_one_conflicting_target_does_not_stop_the_others_resolving(
    index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory, tmp_path: Path
) -> None:
    # kkk 1.0 holds lll back and kkk 2.0 needs lll to move with it (fine); ppp 2.0
    # needs qqq>=2, which the
    # installed rrr (nothing newer) forbids. All are tried in one resolution first;
    # when that fails, each on its own: kkk and lll move, ppp is dropped with why.
    publish(index_server, wheel_factory, "lll", "1.0")
    publish(index_server, wheel_factory, "lll", "2.0")
    publish(index_server, wheel_factory, "kkk", "1.0", "lll<2")
    publish(index_server, wheel_factory, "kkk", "2.0", "lll>=2")
    publish(index_server, wheel_factory, "qqq", "1.0")
    publish(index_server, wheel_factory, "qqq", "2.0")
    publish(index_server, wheel_factory, "ppp", "1.0")
    publish(index_server, wheel_factory, "ppp", "2.0", "qqq>=2")
    publish(index_server, wheel_factory, "rrr", "1.0", "qqq<2")
    venv = make_venv("mixed")
    pins = ("kkk==1.0", "lll==1.0", "ppp==1.0", "qqq==1.0", "rrr==1.0")
    install(venv, *pins, index_url=index_server.url, extra_args=["--no-deps"])

    plan = document(run(index_server, venv, tmp_path, "update", "--dry-run", "--format", "json"))
    moves = {c["name"]: (c["after"], c["reason"]) for c in plan["plan"]["changes"]}
    assert moves == {"kkk": ("2.0", ""), "lll": ("2.0", "needed by kkk 2.0")}
    left = {d["name"]: d["reason"] for d in plan["plan"]["dropped"]}
    assert left["qqq"] == "held back by rrr 1.0 requires qqq<2"
    assert left["ppp"].startswith("conflict: ")
    assert "ppp 2.0 requires qqq>=2; rrr 1.0 requires qqq<2" in left["ppp"]
    assert len(left) == 2


def test_planning_reuses_the_pages_the_scan_fetched(
    index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory, tmp_path: Path
) -> None:
    for version in ("1.0", "2.0"):
        publish(index_server, wheel_factory, "aaa", version)
        publish(index_server, wheel_factory, "bbb", version, "aaa>=1")
    venv = make_venv("reuse")
    install(venv, "aaa==1.0", "bbb==1.0", index_url=index_server.url, extra_args=["--no-deps"])

    seen = len(index_server.requests)  # pip's own, while installing the old versions
    plan = document(run(index_server, venv, tmp_path, "update", "--dry-run", "--format", "json"))
    assert {c["name"]: c["after"] for c in plan["plan"]["changes"]} == {"aaa": "2.0", "bbb": "2.0"}
    pages = [r.path for r in index_server.requests[seen:] if r.path.startswith("/simple/")]
    assert sorted(pages) == ["/simple/aaa/", "/simple/bbb/"]  # once each: by the scan
