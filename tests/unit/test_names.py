"""pipfresh.names: one spelling of a project everywhere pipfresh prints it."""

from __future__ import annotations

import pytest
from packaging.version import Version

from pipfresh.models import InstalledDist
from pipfresh.names import renamed, shown_name
from pipfresh.requirements import analyse
from support.targets import LINUX_311_MARKERS


def dist(name: str, version: str, *requires: str) -> InstalledDist:
    canonical = name.lower().replace("_", "-").replace(".", "-")
    return InstalledDist(name=name, canonical_name=canonical, version=version, requires=requires)


INSTALLED = {d.canonical_name: d for d in (dist("Pydantic_Core", "2.0"), dist("Zope.Holder", "1"))}


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("pydantic-core", "Pydantic_Core"),  # installed: its metadata Name, as pip list
        ("PYDANTIC.CORE", "Pydantic_Core"),
        ("Pydantic_Core", "Pydantic_Core"),
        ("zope_holder", "Zope.Holder"),
        ("New_Dep", "new-dep"),  # not installed: the normalised name
        ("new.dep", "new-dep"),
    ],
)
def test_shown_name(name: str, shown: str) -> None:
    assert shown_name(name, INSTALLED) == shown


def test_a_held_back_range_names_the_project_as_installed() -> None:
    core = dist("Pydantic_Core", "2.0")
    holder = dist("Zope.Holder", "1.0", "pydantic-core<3,>=1")
    (constraint,) = analyse([holder, core], LINUX_311_MARKERS).on("pydantic-core")
    assert constraint.excluding(Version("3.1")) == "Pydantic_Core<3"
    assert constraint.requirement == "pydantic-core<3,>=1"  # quoted whole: as written


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("pydantic-core==2.0", "Pydantic_Core==2.0"),
        ("pydantic-core[extra]>=1,<3", "Pydantic_Core[extra]>=1,<3"),
        ("pydantic.core @ https://x.test/p.whl", "Pydantic_Core @ https://x.test/p.whl"),
        ("p", "Pydantic_Core"),
        ("Python >=3.9", "Pydantic_Core >=3.9"),
        ("==1.0", "==1.0"),  # no name: left alone
    ],
)
def test_renamed(requirement: str, expected: str) -> None:
    assert renamed(requirement, "Pydantic_Core") == expected
