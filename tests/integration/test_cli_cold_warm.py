"""Cold then warm on one cache: the same answer for every case of the fault matrix.

One definition of "found" (``index.sources.found``) serves the network path and the
cache path; these tests run each case of ``test_fault_matrix`` twice against the same
cache folder and compare what the user is told: the exit status, each package's
latest and wanted, each error's reason. Real subprocesses, a real index on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from integration.test_fault_matrix import (
    FAILURES,
    HTML_TYPE,
    ODD_PAGES,
    Scene,
    Setup,
    cases,
    demo_venv,
    html_page,
    scene,
)

__all__ = ["demo_venv", "scene"]  # fixtures, used by name

Answer = tuple[int, list[tuple[str, Any, Any]], list[tuple[str, str]]]


def answer(document: dict[str, Any], result: subprocess.CompletedProcess[str]) -> Answer:
    packages = [(p["name"], p["latest"], p["wanted"]) for p in document["packages"]]
    errors = [(e["name"], e["reason"]) for e in document["errors"]]
    return result.returncode, packages, errors


def twice(scene: Scene, *extra: str, expect: int) -> tuple[Answer, Answer]:
    cold = answer(*scene.scan("--all", *extra, expect=expect))
    warm = answer(*scene.scan("--all", *extra, expect=expect))
    return cold, warm


@pytest.mark.parametrize("case", cases(FAILURES))
def test_a_failing_index_says_the_same_cold_and_warm(
    scene: Scene, case: tuple[Setup, tuple[str, ...], int | None]
) -> None:
    fault, needles, _ = case
    fault(scene.server)
    cold, warm = twice(scene, expect=3)
    assert cold == warm
    [(_, reason)] = cold[2]
    assert all(needle in reason for needle in needles), reason


@pytest.mark.parametrize("case", cases(ODD_PAGES))
def test_an_odd_but_usable_page_says_the_same_cold_and_warm(
    scene: Scene, case: tuple[bytes, str, str]
) -> None:
    body, content_type, expected = case
    scene.server.respond("demo", body, content_type=content_type)
    cold, warm = twice(scene, expect=0)
    assert cold == warm
    assert cold[1] == [("demo", expected, expected)]


def test_an_index_page_listing_nothing_is_up_to_date_cold_and_warm(scene: Scene) -> None:
    """The index answered: the project exists there with no release, both times."""
    scene.server.respond("demo", html_page(), content_type=HTML_TYPE)
    cold, warm = twice(scene, expect=0)
    assert cold == warm == (0, [("demo", None, None)], [])


@pytest.mark.parametrize("kind", ["empty-folder", "page-of-other-projects"])
def test_a_find_links_location_without_the_project_does_not_find_it(
    scene: Scene, tmp_path: Path, kind: str
) -> None:
    """The project is on no index (404) and a find-links location lists none of its
    files: cold said "up to date", warm "not found on any index" (issue 14). Both now
    say not found, naming find-links among the places searched."""
    links = tmp_path / "links"
    links.mkdir()
    location = links
    if kind == "page-of-other-projects":
        (links / "other-1.0-py3-none-any.whl").write_bytes(b"wheel")
        location = links / "index.html"
        location.write_bytes(html_page("other-1.0-py3-none-any.whl"))
    scene.server.fail("demo", 404)
    cold, warm = twice(scene, "--find-links", str(location), expect=3)
    assert cold == warm, (cold, warm)
    [(_, reason)] = cold[2]
    assert reason.startswith("not found on any index ("), reason
    assert reason.endswith(", find-links)"), reason


def test_a_find_links_folder_with_the_project_answers_the_same_cold_and_warm(
    scene: Scene, tmp_path: Path
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    (links / "demo-3.0-py3-none-any.whl").write_bytes(b"wheel")
    cold, warm = twice(scene, "--find-links", str(links), expect=0)
    assert cold == warm
    assert cold[1] == [("demo", "3.0", "3.0")]
