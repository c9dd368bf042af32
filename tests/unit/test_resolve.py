"""pipfresh.resolve: the resolvelib provider on hand-made data (no index, no network)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from packaging.version import Version

from pipfresh.models import IndexFile, InstalledDist
from pipfresh.resolve import Provider, ResolutionImpossible, describe_conflict, resolve
from pipfresh.select import Policy, Release
from support.targets import LINUX_311_MARKERS as MARKERS

TAGS = ("py3-none-any",)
POLICY = Policy(Version("3.11.7"), frozenset(TAGS))


def wheel(name: str, version: str) -> IndexFile:
    filename = f"{name}-{version}-py3-none-any.whl"
    return IndexFile.build(filename, f"http://x/{filename}", hashes={"sha256": "a" * 64})


class FakeSource:
    """Projects as {name: {version: requires}}; counts the metadata reads."""

    def __init__(self, projects: dict[str, dict[str, tuple[str, ...]]]) -> None:
        self.projects = projects
        self.pages: list[str] = []
        self.reads: list[tuple[str, str]] = []

    def releases(self, name: str) -> Sequence[Release]:
        self.pages.append(name)
        versions = sorted(self.projects.get(name, {}), key=Version, reverse=True)
        return [Release(Version(v), (wheel(name, v),)) for v in versions]

    def metadata(self, name: str, version: str, wheel: IndexFile) -> tuple[str, ...]:
        self.reads.append((name, version))
        return self.projects[name][version]


def dist(name: str, version: str, *requires: str, kind: str = "index") -> InstalledDist:
    return InstalledDist(name, name, version, kind=kind, requires=requires)  # type: ignore[arg-type]


def solve(
    dists: list[InstalledDist], pins: dict[str, str], source: FakeSource
) -> tuple[dict[str, str], Provider]:
    provider = Provider(
        dists, pins, source=source, policy=POLICY, ranked_tags=TAGS, markers=MARKERS
    )
    mapping = resolve(provider)
    return {name: c.raw for name, c in mapping.items()}, provider


def test_untouched_packages_stay_without_any_fetch() -> None:
    source = FakeSource({"a": {"1.0": (), "2.0": ()}, "b": {"1.0": (), "3.0": ()}})
    result, _ = solve([dist("a", "1.0"), dist("b", "1.0", "a>=1")], {"a": "2.0"}, source)
    assert result == {"a": "2.0", "b": "1.0"}
    assert set(source.pages) == {"a"}  # b stays installed: its page is never read


def test_new_dependency_gets_the_newest_compatible_version() -> None:
    source = FakeSource(
        {"a": {"1.0": (), "2.0": ("n>=1,<3",)}, "n": {"0.5": (), "1.0": (), "2.5": (), "3.0": ()}}
    )
    result, _ = solve([dist("a", "1.0")], {"a": "2.0"}, source)
    assert result == {"a": "2.0", "n": "2.5"}


def test_co_move_prefers_the_smallest_change_that_works() -> None:
    source = FakeSource(
        {
            "boto3": {"1.0": (), "2.0": ("botocore>=2",)},
            "botocore": {"1.0": (), "2.0": (), "2.1": ()},
        }
    )
    result, _ = solve([dist("boto3", "1.0"), dist("botocore", "1.0")], {"boto3": "2.0"}, source)
    assert result == {"boto3": "2.0", "botocore": "2.1"}


def test_installed_version_preferred_when_it_fits() -> None:
    source = FakeSource({"a": {"1.0": (), "2.0": ("c>=1",)}, "c": {"1.0": (), "9.0": ()}})
    result, _ = solve([dist("a", "1.0"), dist("c", "1.0")], {"a": "2.0"}, source)
    assert result["c"] == "1.0"


def test_never_moves_back_and_reports_the_conflict() -> None:
    source = FakeSource({"a": {"1.0": (), "2.0": ("c<2",)}, "c": {"1.0": (), "2.0": ()}})
    provider = Provider(
        [dist("a", "1.0"), dist("c", "2.0")],
        {"a": "2.0"},
        source=source,
        policy=POLICY,
        ranked_tags=TAGS,
        markers=MARKERS,
    )
    with pytest.raises(ResolutionImpossible) as caught:
        resolve(provider)
    assert "a 2.0 requires c<2" in describe_conflict(caught.value, provider)


def test_conflict_with_a_package_that_cannot_move() -> None:
    source = FakeSource(
        {"a": {"1.0": (), "2.0": ("c>=2",)}, "c": {"1.0": (), "2.0": ()}, "p": {"1.0": ()}}
    )
    dists = [dist("a", "1.0"), dist("c", "1.0"), dist("p", "1.0", "c<2", kind="editable")]
    provider = Provider(
        dists, {"a": "2.0"}, source=source, policy=POLICY, ranked_tags=TAGS, markers=MARKERS
    )
    with pytest.raises(ResolutionImpossible) as caught:
        resolve(provider)
    message = describe_conflict(caught.value, provider)
    assert "p 1.0 requires c<2" in message
    assert "a 2.0 requires c>=2" in message


def test_markers_and_extras_for_the_target() -> None:
    source = FakeSource(
        {
            "a": {
                "1.0": (),
                "2.0": (
                    "win>=1; sys_platform == 'win32'",
                    "b[fast]>=1",
                ),
            },
            "b": {"1.0": ("speed>=1; extra == 'fast'", "other; extra == 'slow'")},
            "speed": {"1.0": ()},
            "win": {"1.0": ()},
            "other": {"1.0": ()},
        }
    )
    result, _ = solve([dist("a", "1.0")], {"a": "2.0"}, source)
    assert result == {"a": "2.0", "b": "1.0", "speed": "1.0"}


def test_existing_breakage_is_not_this_updates_business() -> None:
    # x already requires a project that is not installed: the update must not add it.
    source = FakeSource({"a": {"1.0": (), "2.0": ()}, "missing": {"1.0": ()}})
    result, _ = solve([dist("a", "1.0"), dist("x", "1.0", "missing>=1")], {"a": "2.0"}, source)
    assert result == {"a": "2.0", "x": "1.0"}


def test_sdist_only_and_prerelease_versions_are_skipped() -> None:
    source = FakeSource({"a": {"1.0": (), "2.0": ("n",)}, "n": {"1.0": (), "2.0b1": ()}})
    source.releases_original = source.releases  # type: ignore[attr-defined]

    def releases(name: str) -> Sequence[Release]:
        found = list(source.releases_original(name))  # type: ignore[attr-defined]
        if name == "n":
            sdist = IndexFile("n-3.0.tar.gz", "http://x/n-3.0.tar.gz")
            found.insert(0, Release(Version("3.0"), (sdist,)))
        return found

    source.releases = releases  # type: ignore[method-assign]
    result, _ = solve([dist("a", "1.0")], {"a": "2.0"}, source)
    assert result["n"] == "1.0"


def test_a_target_goes_past_its_wanted_version_when_a_moving_package_needs_it() -> None:
    # httpcore's wanted version is capped by the installed httpx; httpx's own target
    # needs a newer httpcore, so httpcore goes further than its wanted version.
    source = FakeSource(
        {
            "httpx": {"0.24": ("httpcore<0.18",), "0.28": ("httpcore==1.*",)},
            "httpcore": {"0.17.0": (), "0.17.3": (), "1.0": (), "1.1": ()},
        }
    )
    dists = [dist("httpx", "0.24", "httpcore<0.18"), dist("httpcore", "0.17.0")]
    result, _ = solve(dists, {"httpx": "0.28", "httpcore": "0.17.3"}, source)
    assert result == {"httpx": "0.28", "httpcore": "1.1"}
    result, _ = solve(dists, {"httpcore": "0.17.3"}, source)
    assert result == {"httpx": "0.24", "httpcore": "0.17.3"}


def test_a_target_stops_below_its_wanted_version_when_another_target_caps_it() -> None:
    # The sympy/mpmath case: the installed sympy lets mpmath go to 1.4, but sympy's
    # own target needs mpmath<1.4. mpmath still moves up, as far as sympy allows.
    source = FakeSource(
        {
            "sympy": {"1.11": ("mpmath>=0.19",), "1.14": ("mpmath>=1.1,<1.4",)},
            "mpmath": {"1.2.1": (), "1.3.0": (), "1.4.1": ()},
        }
    )
    dists = [dist("sympy", "1.11", "mpmath>=0.19"), dist("mpmath", "1.2.1")]
    result, _ = solve(dists, {"sympy": "1.14", "mpmath": "1.4.1"}, source)
    assert result == {"sympy": "1.14", "mpmath": "1.3.0"}


def test_a_target_never_goes_back_to_its_installed_version() -> None:
    # No version above the installed one fits: a conflict, not a silent non-move.
    source = FakeSource(
        {"a": {"1.0": (), "2.0": ("b<1.1",)}, "b": {"1.0": (), "1.1": (), "1.2": ()}}
    )
    dists = [dist("a", "1.0"), dist("b", "1.0")]
    provider = Provider(
        dists,
        {"a": "2.0", "b": "1.2"},
        source=source,
        policy=POLICY,
        ranked_tags=TAGS,
        markers=MARKERS,
    )
    with pytest.raises(ResolutionImpossible):
        resolve(provider)


def test_a_target_that_is_not_firm_may_stay_for_the_firm_one() -> None:
    # sympy 1.14 caps mpmath below every version above the installed one: mpmath
    # stays (held back by sympy) so that sympy, the firm target, can move.
    source = FakeSource(
        {
            "sympy": {"1.12": ("mpmath>=0.19",), "1.14": ("mpmath>=1.1,<1.4",)},
            "mpmath": {"1.3.0": (), "1.4.1": ()},
        }
    )
    dists = [dist("sympy", "1.12", "mpmath>=0.19"), dist("mpmath", "1.3.0")]
    pins = {"sympy": "1.14", "mpmath": "1.4.1"}
    provider = Provider(
        dists, pins, source=source, policy=POLICY, ranked_tags=TAGS, markers=MARKERS, firm=["sympy"]
    )
    mapping = resolve(provider)
    assert {name: c.raw for name, c in mapping.items()} == {"sympy": "1.14", "mpmath": "1.3.0"}
    assert mapping["mpmath"].installed


def test_a_pin_whose_wheel_is_known_costs_no_page_when_it_fits() -> None:
    source = FakeSource({"a": {"1.0": (), "2.0": ("b>=1",)}, "b": {"1.0": (), "1.5": ()}})
    dists = [dist("a", "1.0"), dist("b", "1.0")]
    provider = Provider(
        dists,
        {"a": "2.0", "b": "1.5"},
        source=source,
        policy=POLICY,
        ranked_tags=TAGS,
        markers=MARKERS,
        pinned_wheels={"a": wheel("a", "2.0"), "b": wheel("b", "1.5")},
    )
    mapping = resolve(provider)
    assert {name: c.raw for name, c in mapping.items()} == {"a": "2.0", "b": "1.5"}
    assert mapping["a"].wheel == wheel("a", "2.0")
    assert source.pages == []  # neither page was needed
    assert set(source.reads) == {("a", "2.0"), ("b", "1.5")}
