"""pipfresh.plan: targets, wheel choice and the consistency loop, on hand-made data."""

from __future__ import annotations

import pytest
from packaging.version import Version

from pipfresh.models import Holder, IndexFile, InstalledDist, PackageStatus
from pipfresh.plan import (
    SDIST_ONLY,
    Addition,
    Candidate,
    Change,
    Dropped,
    Plan,
    Target,
    chain,
    choose_targets,
    installed_after,
    make_plan,
    plan_document,
    plan_lines,
    rank_wheels,
)
from pipfresh.select import Policy
from support.targets import LINUX_311_MARKERS as MARKERS


def dist(name: str, version: str, *requires: str) -> InstalledDist:
    return InstalledDist(name, name, version, requires=requires)


def wheel(name: str, version: str, tag: str = "py3-none-any", **kw: object) -> IndexFile:
    filename = f"{name}-{version}-{tag}.whl"
    return IndexFile.build(filename, f"http://x/{filename}", hashes={"sha256": "a" * 64}, **kw)  # type: ignore[arg-type]


def cand(name: str, before: str, after: str, *requires: str, **kw: object) -> Candidate:
    fields: dict[str, object] = {
        "wheel": wheel(name, after),
        "restore": wheel(name, before),
        "requires": tuple(requires),
    }
    fields.update(kw)
    return Candidate(Target(name, name, before, after), **fields)  # type: ignore[arg-type]


def status(name: str, installed: str, wanted: str, latest: str, *holders: Holder) -> PackageStatus:
    bump = None if installed == latest else "major"
    return PackageStatus(name, installed, latest, wanted, bump, None, held_back_by=holders)


def planned(plan: Plan) -> dict[str, str]:
    return {c.name: c.after for c in plan.changes}


def reasons(plan: Plan) -> dict[str, str]:
    return {d.name: d.reason for d in plan.dropped}


@pytest.mark.parametrize(
    ("latest", "expected"),
    [(False, {"a": "1.5"}), (True, {"a": "2.0"})],
)
def test_choose_targets_wanted_or_latest(latest: bool, expected: dict[str, str]) -> None:
    statuses = [status("a", "1.0", "1.5", "2.0"), status("b", "3.0", "3.0", "3.0")]
    targets, dropped = choose_targets(statuses, latest=latest)
    assert {t.name: t.after for t in targets} == expected
    assert dropped == []


def test_choose_targets_held_back_entirely() -> None:
    holder = Holder("c", "1.0", "a<1.1")
    targets, dropped = choose_targets([status("a", "1.0", "1.0", "2.0", holder)])
    assert targets == []
    assert dropped == [Dropped("a", "1.0", "2.0", "held back by c 1.0 requires a<1.1")]


def test_rank_wheels_prefers_the_targets_best_tag() -> None:
    policy = Policy(Version("3.11.7"), frozenset({"cp311-cp311-linux_x86_64", "py3-none-any"}))
    files = [wheel("a", "1", "py3-none-any"), wheel("a", "1", "cp311-cp311-linux_x86_64")]
    ranked = ["cp311-cp311-linux_x86_64", "py3-none-any"]
    chosen = rank_wheels(files, policy, ranked)
    assert chosen is not None
    assert chosen.filename == "a-1-cp311-cp311-linux_x86_64.whl"
    assert rank_wheels([wheel("a", "1", "cp27-cp27m-win32")], policy, ranked) is None


def test_rank_wheels_restore_accepts_yanked() -> None:
    policy = Policy(Version("3.11.7"), frozenset({"py3-none-any"}))
    files = [wheel("a", "1", yanked=True)]
    assert rank_wheels(files, policy, ["py3-none-any"]) is None
    assert rank_wheels(files, policy, ["py3-none-any"], installed=True) is not None


@pytest.mark.parametrize(
    ("dists", "candidates", "expected", "dropped"),
    [
        pytest.param(
            [dist("a", "1.0"), dist("b", "1.0", "a>=1")],
            [cand("a", "1.0", "2.0"), cand("b", "1.0", "2.0", "a>=2")],
            {"a": "2.0", "b": "2.0"},
            {},
            id="consistent-together",
        ),
        pytest.param(
            [dist("a", "1.0"), dist("b", "1.0", "a<2")],
            [cand("a", "1.0", "2.0")],
            {},
            {"a": "b 1.0 requires a<2 (no resolver yet)"},
            id="capped-by-installed",
        ),
        pytest.param(
            [dist("a", "1.0")],
            [cand("a", "1.0", "2.0", "new>=1")],
            {},
            {
                "a": "a 2.0 needs new>=1, which is not installed "
                "(no resolver yet: new dependencies are not added)"
            },
            id="new-dependency",
        ),
        pytest.param(
            [dist("a", "1.0"), dist("c", "1.0")],
            [cand("a", "1.0", "2.0", "new>=1"), cand("c", "1.0", "2.0", "a>=2")],
            {},
            {"a": "new dependency", "c": "a 1.0 is installed"},
            id="cascade",
        ),
        pytest.param(
            [dist("a", "1.0")],
            [cand("a", "1.0", "2.0", "new>=1; python_version < '3'")],
            {"a": "2.0"},
            {},
            id="marker-false-for-target",
        ),
        pytest.param(
            [dist("a", "1.0")],
            [cand("a", "1.0", "2.0", wheel=None)],
            {},
            {"a": SDIST_ONLY},
            id="sdist-only",
        ),
        pytest.param(
            [dist("a", "1.0")],
            [cand("a", "1.0", "2.0", restore=None)],
            {"a": "2.0"},  # the rollback keeps the installed files: no wheel needed
            {},
            id="no-restore",
        ),
        pytest.param(
            [dist("a", "1.0")],
            [cand("a", "1.0", "2.0", requires_python=">=3.12")],
            {},
            {"a": "requires Python >=3.12"},
            id="requires-python",
        ),
        pytest.param(
            [dist("a", "1.0", "missing")],
            [cand("a", "1.0", "2.0", "missing")],
            {"a": "2.0"},
            {},
            id="problem-already-there-is-not-blamed",
        ),
    ],
)
def test_make_plan(
    dists: list[InstalledDist],
    candidates: list[Candidate],
    expected: dict[str, str],
    dropped: dict[str, str],
) -> None:
    plan = make_plan(dists, MARKERS, "3.11.7", candidates)
    assert planned(plan) == expected
    got = reasons(plan)
    assert set(got) == set(dropped)
    for name, needle in dropped.items():
        if needle == "new dependency":
            assert "which is not installed" in got[name]
        else:
            assert needle in got[name]


def test_plan_renders_the_same_value() -> None:
    plan = make_plan(
        [dist("a", "1.0"), dist("b", "1.0")],
        MARKERS,
        "3.11.7",
        [cand("a", "1.0", "2.0"), cand("b", "1.0", "2.0", wheel=None)],
    )
    assert plan_lines(plan) == [
        "Package  Installed     Target",
        "a        1.0        -> 2.0",
        "",
        "Not updated:",
        f"  b 1.0 -> 2.0: {SDIST_ONLY}",
    ]
    document = plan_document(plan)
    assert document["changes"] == [
        {
            "name": "a",
            "before": "1.0",
            "after": "2.0",
            "file": "a-2.0-py3-none-any.whl",
            "sha256": "a" * 64,
            "restore_file": "a-1.0-py3-none-any.whl",
            "restore_sha256": "a" * 64,
            "reason": "",
        }
    ]
    assert document["additions"] == []
    assert document["dropped"] == [
        {"name": "b", "before": "1.0", "after": "2.0", "reason": SDIST_ONLY}
    ]
    assert plan_lines(Plan((), ())) == ["Nothing to update."]


def test_plan_renders_co_moves_and_additions() -> None:
    change = Change("a", "a", "1.0", "2.0", wheel("a", "2.0"), wheel("a", "1.0"))
    moved = Change(
        "c", "c", "1.0", "1.5", wheel("c", "1.5"), wheel("c", "1.0"), reason="needed by a 2.0"
    )
    added = Addition("n", "n", "3.0", wheel("n", "3.0"), reason="new dependency of a 2.0")
    plan = Plan((change, moved), (), (added,))
    assert not plan.empty
    assert plan_lines(plan) == [
        "Package  Installed     Target",
        "a        1.0        -> 2.0",
        "c        1.0        -> 1.5  (needed by a 2.0)",
        "n        (new)      -> 3.0  (new dependency of a 2.0)",
    ]
    document = plan_document(plan)
    assert document["changes"][1]["reason"] == "needed by a 2.0"
    assert document["additions"] == [
        {
            "name": "n",
            "version": "3.0",
            "file": "n-3.0-py3-none-any.whl",
            "sha256": "a" * 64,
            "reason": "new dependency of a 2.0",
        }
    ]
    assert Plan((), (), ()).empty


def test_a_dropped_change_does_not_take_down_a_target_only_it_conflicted_with() -> None:
    # fastapi 0.97 caps pydantic<2, so pydantic's wanted is 1.10.27; fastapi's own
    # latest needs a new dependency (dropped) and pydantic>=2.9. Once fastapi is
    # dropped, pydantic 1.10.27 is fine beside fastapi 0.97 and must stay planned.
    dists = [dist("fastapi", "0.97", "pydantic<2"), dist("pydantic", "1.10.9")]
    plan = make_plan(
        dists,
        MARKERS,
        "3.11.7",
        [
            cand("fastapi", "0.97", "0.165", "pydantic>=2.9", "annotated-doc>=0.0.2"),
            cand("pydantic", "1.10.9", "1.10.27"),
        ],
    )
    assert planned(plan) == {"pydantic": "1.10.27"}
    assert "annotated-doc" in reasons(plan)["fastapi"]


def change(name: str, before: str, after: str, *requires: str, reason: str = "") -> Change:
    return Change(
        name, name, before, after, wheel(name, after), wheel(name, before), requires, reason
    )


def test_installed_after_applies_changes_and_adds_additions() -> None:
    plan = Plan(
        (change("kap", "1.0", "2.0", "lib<3"),),
        (),
        (Addition("new", "new", "1.1", wheel("new", "1.1"), ("x>=1",)),),
    )
    after = installed_after([dist("kap", "1.0", "lib<2"), dist("lib", "1.0")], plan)
    assert [(d.name, d.version, d.requires) for d in after] == [
        ("kap", "2.0", ("lib<3",)),
        ("lib", "1.0", ()),
        ("new", "1.1", ("x>=1",)),
    ]


def test_chain_keeps_the_first_before_and_restore_and_the_last_after() -> None:
    first = Plan(
        (change("kap", "1.0", "2.0"), change("lib", "1.0", "1.5", reason="needed by x")),
        (
            Dropped("old", "1.0", "2.0", "held back by kap 1.0 requires old<2"),
            Dropped("zzz", "1.0", "2.0", "first reason"),
        ),
        (Addition("new", "new", "1.0", wheel("new", "1.0")),),
    )
    then = Plan(
        (
            change("lib", "1.5", "2.5"),
            change("old", "1.0", "3.0"),
            change("new", "1.0", "1.2", "x>=1"),
        ),
        (Dropped("zzz", "1.0", "3.0", "second reason"),),
        (Addition("more", "more", "0.1", wheel("more", "0.1")),),
    )
    plan = chain(first, then)
    moved = {c.name: (c.before, c.after, c.restore.filename, c.reason) for c in plan.changes}
    assert moved == {
        "kap": ("1.0", "2.0", "kap-1.0-py3-none-any.whl", ""),
        "lib": ("1.0", "2.5", "lib-1.0-py3-none-any.whl", "needed by x"),
        "old": ("1.0", "3.0", "old-1.0-py3-none-any.whl", ""),
    }
    assert {a.name: (a.version, a.requires) for a in plan.additions} == {
        "more": ("0.1", ()),
        "new": ("1.2", ("x>=1",)),
    }
    assert plan.dropped == (Dropped("zzz", "1.0", "3.0", "second reason"),)


def test_chain_with_an_empty_second_round_is_the_first() -> None:
    first = Plan((change("a", "1.0", "2.0"),), (Dropped("b", "1", "2", "why"),))
    assert chain(first, Plan((), ())) == first


def test_stage_messages_count_what_moves() -> None:
    from pipfresh.plan import stage_message

    plan = Plan(
        (change("a", "1.0", "2.0"), change("b", "1.0", "1.1")),
        (),
        (Addition("n", "n", "1.0", wheel("n", "1.0")),),
    )
    assert stage_message("download", plan, "uv") == (
        "downloading 3 wheels and 2 of the versions they replace (for a rollback)"
    )
    assert stage_message("install", plan, "uv") == "installing 3 packages with uv"
    one = Plan((change("a", "1.0", "2.0"),), ())
    assert stage_message("install", one, "pip") == "installing 1 package with pip"
    assert stage_message("rollback", one, "pip").startswith("the update failed")
