"""pipfresh.offers: the smaller steps ``update --interactive`` offers, as a table."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pipfresh.models import IndexFile, ProjectPage, Target
from pipfresh.offers import offers
from pipfresh.select import Policy

TAGS = frozenset({"py3-none-any"})


def policy(target: Target = "latest", pre: bool = False) -> Policy:
    return Policy(python_version=Version("3.11.7"), supported_tags=TAGS, pre=pre, target=target)


def page(*versions: str) -> ProjectPage:
    files = tuple(
        IndexFile.build(f"demo-{v}-py3-none-any.whl", f"https://x/demo-{v}.whl") for v in versions
    )
    return ProjectPage("demo", files)


RELEASES = ("1.2.3", "1.2.9", "1.3.0", "1.4.2", "2.0.0", "2.1.1")


@pytest.mark.parametrize(
    ("installed", "planned", "kwargs", "allowed", "expected"),
    [
        # The newest patch of 1.2, the newest 1.x, then the plan's own version.
        ("1.2.3", "2.1.1", {}, (), ("1.2.9", "1.4.2", "2.1.1")),
        # Planned below latest (held back to <2): only steps below the plan.
        ("1.2.3", "1.4.2", {}, (">=1,<2",), ("1.2.9", "1.4.2")),
        # Already on the newest patch: no patch step; the minor step is the plan itself.
        ("1.2.9", "1.4.2", {}, (), ("1.4.2",)),
        # --target minor: the plan is the newest minor; only a patch step is smaller.
        ("1.2.3", "1.4.2", {"target": "minor"}, (), ("1.2.9", "1.4.2")),
        # --target patch: nothing smaller exists.
        ("1.2.3", "1.2.9", {"target": "patch"}, (), ("1.2.9",)),
        # A requirement of another package rules the patch line out entirely.
        ("1.2.3", "2.1.1", {}, ("!=1.2.9",), ("1.4.2", "2.1.1")),
        # A version that is not PEP 440 offers only the plan.
        ("nonsense", "2.1.1", {}, (), ("2.1.1",)),
    ],
)
def test_offers(
    installed: str,
    planned: str,
    kwargs: dict[str, Target],
    allowed: tuple[str, ...],
    expected: tuple[str, ...],
) -> None:
    found = offers(
        page(*RELEASES), policy(**kwargs), installed, planned, [SpecifierSet(a) for a in allowed]
    )
    assert found == expected


def test_offers_follow_the_candidate_rules() -> None:
    # A yanked patch and a minor that needs a newer Python are never offered.
    files = (
        IndexFile.build("demo-1.2.3-py3-none-any.whl", "https://x/a.whl"),
        IndexFile.build("demo-1.2.9-py3-none-any.whl", "https://x/b.whl", yanked=True),
        IndexFile.build("demo-1.2.5-py3-none-any.whl", "https://x/c.whl"),
        IndexFile.build("demo-1.9.0-py3-none-any.whl", "https://x/d.whl", requires_python=">=3.12"),
        IndexFile.build("demo-1.8.0-py3-none-any.whl", "https://x/e.whl"),
        IndexFile.build("demo-2.0.0-py3-none-any.whl", "https://x/f.whl"),
    )
    found = offers(ProjectPage("demo", files), policy(), "1.2.3", "2.0.0")
    assert found == ("1.2.5", "1.8.0", "2.0.0")


def test_a_digest_that_cannot_tell_offers_only_the_plan() -> None:
    files = (IndexFile.build("demo-2.0.0-py3-none-any.whl", "https://x/f.whl"),)
    digest = ProjectPage("demo", files, versions=("1.2.3", "1.2.9", "2.0.0"), complete=False)
    assert offers(digest, policy(), "1.2.3", "2.0.0") == ("2.0.0",)


def test_a_picked_version_caps_wanted_and_latest() -> None:
    from pipfresh.api import _picked
    from pipfresh.models import PackageStatus

    statuses = (
        PackageStatus("Aaa", "1.2.3", "2.1.1", "2.1.1", "major", None),
        PackageStatus("bbb", "1.0", "3.0", "1.5", "major", None),
        PackageStatus("ccc", "1.0", "2.0", "2.0", "major", None),
    )
    chosen = _picked(statuses, {"aaa": "1.4.2", "BBB": None})
    assert [(s.name, s.wanted, s.latest) for s in chosen] == [
        ("Aaa", "1.4.2", "1.4.2"),
        ("bbb", "1.5", "3.0"),  # as planned: untouched
    ]
    assert [s.name for s in _picked(statuses, ["ccc"])] == ["ccc"]
