"""Cached digests of project pages (``select.digest_page``) and selection on them.

The contract: a digest answers the question it was made for exactly as the full page
does; for any other question (another interpreter, tags, --pre, --target, cooldown,
requirement ranges) it answers as the full page would, or raises IncompletePage so the
caller fetches the page; never a different answer.

Digests are made here the way the scan makes them (``scan._remember``, which keeps
latest, wanted and the newest listed version), through a stand-in for the cache.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pipfresh.cache import Cache
from pipfresh.models import IndexFile, InstalledDist, PackageStatus, ProjectPage, Target
from pipfresh.requirements import Constraint
from pipfresh.scan import _remember, status_for
from pipfresh.select import (
    IncompletePage,
    Policy,
    Release,
    digest_page,
    newest_release,
    parse_version,
    walk_listed,
    wanted_release,
)

# --------------------------------------------------------------------------------------
# building pages, policies and digests
# --------------------------------------------------------------------------------------

ANY = "py3-none-any"
LINUX311 = "cp311-cp311-manylinux_2_17_x86_64"
MAC312 = "cp312-cp312-macosx_11_0_arm64"
WIN38 = "cp38-cp38-win_amd64"

TAG_SETS = {
    "linux311": frozenset({LINUX311, "cp311-abi3-manylinux_2_17_x86_64", "cp311-none-any", ANY}),
    "mac312": frozenset({MAC312, "cp312-none-any", ANY}),
    "win38": frozenset({WIN38, "cp38-none-any", ANY}),
    "pure": frozenset({ANY}),
}
CUTOFF = datetime(2025, 1, 1, tzinfo=timezone.utc)
OLD, NEW = "2024-01-01T00:00:00Z", "2025-06-01T00:00:00Z"


def wheel(version: str, tag: str = ANY, **kw: Any) -> IndexFile:
    return IndexFile.build(f"demo-{version}-{tag}.whl", f"https://f/{version}/{tag}", **kw)


def sdist(version: str, **kw: Any) -> IndexFile:
    return IndexFile.build(f"demo-{version}.tar.gz", f"https://f/{version}/sdist", **kw)


def page(*files: IndexFile, versions: Sequence[str] | None = None) -> ProjectPage:
    """A full page; its versions list is every version its files carry, unless given."""
    if versions is None:
        seen = dict.fromkeys(f.filename.split("-")[1].removesuffix(".tar.gz") for f in files)
        versions = sorted(seen, key=Version)
    return ProjectPage("demo", tuple(files), tuple(versions))


def policy(
    python: str = "3.11.7",
    tags: str = "linux311",
    *,
    pre: bool = False,
    target: Target = "latest",
    cooldown: bool = False,
) -> Policy:
    return Policy(Version(python), TAG_SETS[tags], pre, target, CUTOFF if cooldown else None)


def cap(spec: str) -> Constraint:
    return Constraint("holder", "1.0", f"demo{spec}", "demo", SpecifierSet(spec))


def scan_status(
    full: ProjectPage, the_policy: Policy, installed: str | None, caps: Sequence[str] = ()
) -> PackageStatus:
    dist = InstalledDist("demo", "demo", installed or "not-a-version")
    return status_for(dist, full, the_policy, [cap(c) for c in caps])


class RecordingCache:
    """Stands in for Cache in ``_remember``: keeps the page it was asked to store."""

    def __init__(self) -> None:
        self.stored: ProjectPage | None = None

    def store(self, index_url: str, name: str, page: ProjectPage, **kw: Any) -> bool:
        self.stored = page
        return True


def digest_for(
    full: ProjectPage, the_policy: Policy, installed: str | None, caps: Sequence[str] = ()
) -> ProjectPage:
    """What the scan stores after answering this question from ``full``."""
    status = scan_status(full, the_policy, installed, caps)
    response = SimpleNamespace(
        status=200, etag=None, last_modified=None, cache_control=None, url=None
    )
    answer = SimpleNamespace(location="https://index/simple", page=full, response=response)
    cache = RecordingCache()
    _remember(cache, "demo", [answer], status, 0.0)  # type: ignore[arg-type, list-item]
    assert cache.stored is not None
    return cache.stored


def same(a: Release | None, b: Release | None) -> bool:
    """Equal answers: the same version with the same files (order aside)."""
    if a is None or b is None:
        return a is b
    return a.version == b.version and sorted(f.filename for f in a.files) == sorted(
        f.filename for f in b.files
    )


def right_or_incomplete(
    ask: Callable[[ProjectPage], Release | None], full: ProjectPage, digest: ProjectPage
) -> bool:
    """True when the digest answered as the full page; False when it said IncompletePage.
    A different answer fails the test."""
    expected = ask(full)
    try:
        got = ask(digest)
    except IncompletePage:
        return False
    assert same(got, expected), (got, expected)
    return True


def version(text: str | None) -> Version | None:
    return parse_version(text) if text else None


# --------------------------------------------------------------------------------------
# pages and questions used by the tables and the property
# --------------------------------------------------------------------------------------

PAGES = {
    # plain: one pure wheel per version
    "plain": page(*(wheel(v) for v in ("0.9", "1.0", "1.0.1", "1.1", "2.0"))),
    # the newest needs a newer Python; an older one an older Python
    "requires-python": page(
        wheel("1.0", requires_python=">=3.7"),
        wheel("1.1", requires_python="<3.10"),
        wheel("2.0", requires_python=">=3.9"),
        wheel("3.0", requires_python=">=3.12"),
    ),
    # yanked: 2.0 wholly yanked, 1.1 half yanked (its sdist stays)
    "yanked": page(
        wheel("1.0"),
        wheel("1.1", yanked=True),
        sdist("1.1"),
        wheel("2.0", yanked="broken"),
        sdist("2.0", yanked=True),
    ),
    # platform wheels: each version only for some interpreters
    "platforms": page(
        wheel("1.0"),
        wheel("1.5", LINUX311),
        wheel("1.5", WIN38),
        wheel("2.0", MAC312),
        wheel("2.1", WIN38),
    ),
    # pre-releases above and between finals
    "pre": page(
        wheel("1.0"), wheel("1.1rc1"), wheel("1.1"), wheel("2.0b1"), wheel("2.0"), wheel("3.0a1")
    ),
    # upload times for the cooldown
    "cooldown": page(
        wheel("1.0", upload_time=OLD), wheel("1.1", upload_time=OLD), wheel("2.0", upload_time=NEW)
    ),
    # one version spelled two ways (1.0 and 1.0.0) and a post release
    "spellings": page(
        wheel("1.0"),
        sdist("1.0.0"),
        wheel("1.0.post1"),
        wheel("2.0"),
        versions=("1.0", "1.0.0", "1.0.post1", "2.0"),
    ),
}

POLICIES = [
    policy(),
    policy("3.8.10", "win38"),
    policy("3.12.1", "mac312"),
    policy("3.13.0", "pure"),
    policy(pre=True),
    policy("3.8.10", "win38", pre=True),
    policy(target="minor"),
    policy(target="patch"),
    policy("3.12.1", "mac312", target="minor"),
    policy(cooldown=True),
]
INSTALLED = [None, "0.9", "1.0", "1.0.5", "1.1", "2.0"]
CAPS: list[tuple[str, ...]] = [(), ("<2",), (">=1.0,<1.1",), ("<1",)]


# --------------------------------------------------------------------------------------
# digest_page itself
# --------------------------------------------------------------------------------------


def test_digest_lists_every_version_from_the_floor_but_keeps_only_kept_files() -> None:
    full = PAGES["plain"]
    digest = digest_page(full, {Version("1.1")})
    assert digest.complete is False
    # 2.0 is listed, so a walk from the top knows it passes it (and asks the network)
    assert digest.versions == ("1.1", "2.0")
    assert [f.filename for f in digest.files] == ["demo-1.1-py3-none-any.whl"]
    both = digest_page(full, {Version("1.1"), Version("2.0")})
    assert sorted(f.filename for f in both.files) == [
        "demo-1.1-py3-none-any.whl",
        "demo-2.0-py3-none-any.whl",
    ]


def test_digest_can_list_from_below_its_kept_versions() -> None:
    digest = digest_page(PAGES["plain"], {Version("2.0")}, listed_from=Version("1.1"))
    assert digest.versions == ("1.1", "2.0")
    assert [f.filename for f in digest.files] == ["demo-2.0-py3-none-any.whl"]


def test_digest_keeps_all_files_of_a_kept_version_yanked_ones_too() -> None:
    full = PAGES["yanked"]
    digest = digest_page(full, {Version("1.1"), Version("2.0")})
    assert sorted(f.filename for f in digest.files) == [
        "demo-1.1-py3-none-any.whl",
        "demo-1.1.tar.gz",
        "demo-2.0-py3-none-any.whl",
        "demo-2.0.tar.gz",
    ]
    assert {f.filename: f.yanked for f in digest.files}["demo-2.0-py3-none-any.whl"] == "broken"


def test_digest_keeps_every_spelling_of_a_version() -> None:
    kept = {Version("1.0"), Version("1.0.post1"), Version("2.0")}
    digest = digest_page(PAGES["spellings"], kept)
    assert set(digest.versions or ()) == {"1.0", "1.0.0", "1.0.post1", "2.0"}
    assert {f.filename for f in digest.files} == {f.filename for f in PAGES["spellings"].files}


@pytest.mark.parametrize(
    ("full", "keep"),
    [
        # no versions list: nothing could be decided from part of the page
        (ProjectPage("demo", (wheel("1.0"), wheel("2.0"))), {Version("2.0")}),
        (ProjectPage("demo", (wheel("1.0"),), versions=()), {Version("1.0")}),
        # nothing to keep
        (PAGES["plain"], set()),
        # already a digest
        (ProjectPage("demo", (wheel("2.0"),), ("2.0",), complete=False), {Version("2.0")}),
    ],
)
def test_pages_a_digest_cannot_shrink_are_kept_whole(full: ProjectPage, keep: set[Version]) -> None:
    assert digest_page(full, keep) is full


def test_page_without_versions_list_is_stored_whole_and_answers_everything() -> None:
    full = ProjectPage("demo", tuple(wheel(v) for v in ("1.0", "1.1", "2.0")))
    digest = digest_for(full, policy(), "1.0")
    assert digest == full
    assert digest.complete
    for the_policy in POLICIES:
        assert same(
            newest_release(digest, the_policy, Version("1.0")),
            newest_release(full, the_policy, Version("1.0")),
        )


def test_digest_survives_the_cache_round_trip(tmp_path: Path) -> None:
    full = PAGES["platforms"]
    digest = digest_for(full, policy(), "1.0")
    cache = Cache(tmp_path)
    assert cache.store("https://index/simple", "demo", digest, fetched_at=1000.0)
    entry = cache.lookup("https://index/simple", "demo", now=1001.0)
    assert entry is not None
    with entry:
        again = entry.page()
    assert again.complete is False
    assert again.versions == digest.versions
    assert sorted(f.filename for f in again.files) == sorted(f.filename for f in digest.files)


# --------------------------------------------------------------------------------------
# walk_listed on digests
# --------------------------------------------------------------------------------------


def test_walk_on_a_digest_decides_when_a_kept_version_is_installable() -> None:
    digest = digest_page(PAGES["plain"], {Version("1.1"), Version("2.0")})
    decided, release = walk_listed(digest, policy(), Version("1.0"))
    assert decided
    assert release is not None
    assert release.version == Version("2.0")


def test_walk_on_a_digest_raises_when_it_passes_every_kept_version() -> None:
    digest = digest_page(PAGES["platforms"], {Version("2.0")})  # 2.0, 2.1 (mac, win)
    with pytest.raises(IncompletePage):
        walk_listed(digest, policy(), Version("1.0"))  # linux: 1.5 is below the floor


def test_walk_on_a_digest_raises_for_a_listed_version_without_files() -> None:
    digest = ProjectPage("demo", (wheel("1.0"),), ("1.0", "2.0"), complete=False)
    with pytest.raises(IncompletePage):
        walk_listed(digest, policy(), Version("1.0"))


def test_walk_on_a_digest_has_no_step_limit() -> None:
    # five uninstallable versions above the answer: a full page gives up after three
    files = [wheel(f"2.{i}", WIN38) for i in range(5)] + [wheel("1.0")]
    full = page(*files)
    digest = digest_page(full, {Version("1.0"), *(Version(f"2.{i}") for i in range(5))})
    assert walk_listed(full, policy(), None) == (False, None)
    decided, release = walk_listed(digest, policy(), None)
    assert decided
    assert release is not None
    assert release.version == Version("1.0")


def test_admits_narrowing_below_the_floor_raises() -> None:
    digest = digest_page(PAGES["plain"], {Version("2.0")})
    with pytest.raises(IncompletePage):
        walk_listed(digest, policy(), Version("1.0"), lambda v: v < Version("2"))


# --------------------------------------------------------------------------------------
# the policy the digest was made for: the same answer, from the digest alone
# --------------------------------------------------------------------------------------

SAME_POLICY = [
    ("plain", policy(), "1.0", ()),
    ("plain", policy(), "1.0", ("<2",)),  # wanted 1.1 kept beside latest 2.0
    ("plain", policy(), "1.0.5", ("<2",)),  # installed not on the index, wanted 1.1
    ("plain", policy(target="patch"), "1.0", ()),
    ("requires-python", policy("3.11.7"), "1.0", ()),  # 3.0 needs 3.12: latest 2.0
    ("requires-python", policy("3.8.10", "win38"), "1.0", ()),  # 1.1
    ("yanked", policy(), "1.0", ()),  # 2.0 yanked: latest 1.1 (its sdist)
    ("platforms", policy("3.8.10", "win38"), "1.0", ()),
    ("platforms", policy(), "1.0", ()),
    ("pre", policy(), "1.0", ()),
    ("pre", policy(pre=True), "1.0", ("<3",)),
    ("pre", policy(), "1.1rc1", ()),
    ("cooldown", policy(cooldown=True), "1.0", ()),
    ("spellings", policy(), "1.0", ("<2",)),
    ("plain", policy(), "2.0", ()),  # up to date
    ("plain", policy(), "1.1", ("<2",)),  # held at the installed version
    ("plain", policy(), None, ("<2",)),  # installed version not PEP 440
]


@pytest.mark.parametrize(("name", "the_policy", "installed", "caps"), SAME_POLICY)
def test_digest_answers_its_own_question(
    name: str, the_policy: Policy, installed: str | None, caps: tuple[str, ...]
) -> None:
    full = PAGES[name]
    digest = digest_for(full, the_policy, installed, caps)
    assert digest.complete is False
    expected = scan_status(full, the_policy, installed, caps)
    assert scan_status(digest, the_policy, installed, caps) == expected


def test_digest_answers_a_project_with_nothing_installable() -> None:
    full = page(wheel("1.0", yanked=True), wheel("2.0", WIN38))
    digest = digest_for(full, policy(), "1.0")
    assert scan_status(digest, policy(), "1.0") == scan_status(full, policy(), "1.0")


def test_digest_answers_a_project_held_at_its_yanked_installed_version() -> None:
    full = page(wheel("0.9"), wheel("1.0", yanked=True), wheel("2.0"))
    digest = digest_for(full, policy(), "1.0", ("<2",))
    assert scan_status(digest, policy(), "1.0", ("<2",)) == scan_status(
        full, policy(), "1.0", ("<2",)
    )


def test_digest_answers_a_move_down() -> None:
    full = PAGES["plain"]
    digest = digest_for(full, policy(), "1.0", ("<1",))
    assert scan_status(digest, policy(), "1.0", ("<1",)) == scan_status(
        full, policy(), "1.0", ("<1",)
    )


# --------------------------------------------------------------------------------------
# another interpreter / policy: the same answer, or IncompletePage; never another one
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    policy: Policy
    installed: Version | None
    allowed: tuple[SpecifierSet, ...]

    def latest(self, p: ProjectPage) -> Release | None:
        return newest_release(p, self.policy, self.installed)

    def wanted(self, p: ProjectPage) -> Release | None:
        return wanted_release(p, self.policy, self.installed, list(self.allowed))


QUESTIONS = [
    Question(p, version(i), tuple(SpecifierSet(c) for c in caps))
    for p, i, caps in itertools.product(POLICIES, INSTALLED, CAPS)
]


@pytest.mark.parametrize("name", sorted(PAGES))
def test_other_questions_get_the_same_answer_or_incomplete(name: str) -> None:
    """Every digest the scan could store for this page (one per policy, installed version
    and requirement range it was made for), asked every question."""
    full = PAGES[name]
    digests = {
        (d.versions, tuple(sorted(f.filename for f in d.files))): d
        for d in (
            digest_for(full, made_for, installed, caps)
            for made_for, installed, caps in itertools.product(POLICIES, INSTALLED, CAPS)
        )
    }
    assert len(digests) > 1
    answered = incomplete = 0
    for digest in digests.values():
        for question in QUESTIONS:
            if right_or_incomplete(question.latest, full, digest):
                answered += 1
            else:
                incomplete += 1
            if question.allowed:
                right_or_incomplete(question.wanted, full, digest)
    assert answered
    assert incomplete


# random pages: the property over many shapes
VERSION_POOL = ["0.9", "1.0", "1.0.1", "1.1", "1.2rc1", "2.0", "2.0.1", "2.1a1", "3.0"]
files_strategy = st.builds(
    lambda v, kind, tag, rp, yanked, uploaded: (
        sdist(v, requires_python=rp, yanked=yanked, upload_time=uploaded)
        if kind == "sdist"
        else wheel(v, tag, requires_python=rp, yanked=yanked, upload_time=uploaded)
    ),
    st.sampled_from(VERSION_POOL),
    st.sampled_from(["wheel", "wheel", "sdist"]),
    st.sampled_from([ANY, LINUX311, MAC312, WIN38]),
    st.sampled_from([None, ">=3.9", ">=3.12", "<3.10"]),
    st.sampled_from([False, False, False, True]),
    st.sampled_from([None, OLD, NEW]),
)
policy_strategy = st.builds(
    policy,
    st.sampled_from(["3.8.10", "3.11.7", "3.12.1", "3.13.0"]),
    st.sampled_from(sorted(TAG_SETS)),
    pre=st.booleans(),
    target=st.sampled_from(["latest", "latest", "minor", "patch"]),
    cooldown=st.booleans(),
)
installed_strategy = st.sampled_from([None, "0.9", "1.0", "1.0.5", "1.2rc1", "2.0", "3.0"])
caps_strategy = st.sampled_from(CAPS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(files_strategy, min_size=1, max_size=12, unique_by=lambda f: f.filename),
    made_for=st.tuples(policy_strategy, installed_strategy, caps_strategy),
    others=st.lists(
        st.tuples(policy_strategy, installed_strategy, caps_strategy), min_size=1, max_size=6
    ),
)
def test_property_digest_never_gives_another_answer(
    files: list[IndexFile],
    made_for: tuple[Policy, str | None, tuple[str, ...]],
    others: list[tuple[Policy, str | None, tuple[str, ...]]],
) -> None:
    full = page(*files)
    digest = digest_for(full, *made_for)
    for the_policy, installed, caps in others:
        question = Question(the_policy, version(installed), tuple(SpecifierSet(c) for c in caps))
        right_or_incomplete(question.latest, full, digest)
        if caps:
            right_or_incomplete(question.wanted, full, digest)


# --------------------------------------------------------------------------------------
# yanked and requires-python across interpreters, spelled out
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "made_for", "asked", "installed", "expected"),
    [
        # made on 3.11 (latest 2.0, newest 3.0 kept): 3.12 finds 3.0 in the digest
        ("requires-python", policy("3.11.7"), policy("3.12.1", "mac312"), "1.0", "3.0"),
        # ... 3.8 needs 1.1, below the digest's floor
        ("requires-python", policy("3.11.7"), policy("3.8.10", "win38"), "1.0", IncompletePage),
        # made on 3.8 (latest 1.1): 3.13 finds 3.0, 3.11 finds 2.0, all kept
        ("requires-python", policy("3.8.10", "win38"), policy("3.13.0", "pure"), "1.0", "3.0"),
        ("requires-python", policy("3.8.10", "win38"), policy("3.11.7"), "1.0", "2.0"),
        # yanked 2.0 is kept in the digest and still never chosen
        ("yanked", policy(), policy("3.8.10", "win38"), "1.0", "1.1"),
        ("yanked", policy(), policy(pre=True), "1.0", "1.1"),
        # platform wheels: made on linux (1.5), windows finds 2.1, mac 2.0
        ("platforms", policy(), policy("3.8.10", "win38"), "1.0", "2.1"),
        ("platforms", policy(), policy("3.12.1", "mac312"), "1.0", "2.0"),
        # made on windows (2.1, the newest): linux's 1.5 is below the floor
        ("platforms", policy("3.8.10", "win38"), policy(), "1.0", IncompletePage),
        # cooldown: made without it (2.0); with it, 1.1 is below the floor
        ("cooldown", policy(), policy(cooldown=True), "1.0", IncompletePage),
        # made with it (1.1, newest 2.0 kept): without it, 2.0
        ("cooldown", policy(cooldown=True), policy(), "1.0", "2.0"),
        # --pre finds the newest pre-release, always kept
        ("pre", policy(), policy(pre=True), "1.0", "3.0a1"),
        # --target patch after a default digest: 1.0.x is below the floor
        ("plain", policy(), policy(target="patch"), "1.0", IncompletePage),
    ],
)
def test_across_interpreters(
    name: str, made_for: Policy, asked: Policy, installed: str, expected: Any
) -> None:
    full = PAGES[name]
    digest = digest_for(full, made_for, "1.0")
    if expected is IncompletePage:
        with pytest.raises(IncompletePage):
            newest_release(digest, asked, version(installed))
        return
    got = newest_release(digest, asked, version(installed))
    assert got is not None
    assert str(got.version) == expected
    assert same(got, newest_release(full, asked, version(installed)))
