"""The engine's pure part: what plan_project decides for the pins of one project,
over hand-built pins and pages (the file side's new_specifier does the rewriting)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from pipfresh._bump.eligible import Rules
from pipfresh._bump.engine import plan_project
from pipfresh._bump.model import DepFile, FileKind, Pin, Span
from pipfresh._bump.specifiers import new_specifier
from pipfresh.models import IndexFile, ProjectPage

ROOT = Path("/project")
SHA = {"1.0": "a" * 64, "2.0": "b" * 64, "2.0-sdist": "c" * 64, "3.0": "d" * 64}


def demo_page() -> ProjectPage:
    return ProjectPage(
        "demo",
        (
            IndexFile.build("demo-1.0-py3-none-any.whl", "u", hashes={"sha256": SHA["1.0"]}),
            IndexFile.build("demo-2.0-py3-none-any.whl", "u", hashes={"sha256": SHA["2.0"]}),
            IndexFile.build("demo-2.0.tar.gz", "u", hashes={"sha256": SHA["2.0-sdist"]}),
            IndexFile.build(
                "demo-3.0-py3-none-any.whl",
                "u",
                hashes={"sha256": SHA["3.0"]},
                requires_python=">=3.12",
            ),
        ),
    )


def one_pin(
    text: str,
    kind: FileKind = "requirements",
    name: str = "requirements.txt",
    requires_python: str | None = None,
    marker: str | None = None,
) -> tuple[Pin, DepFile]:
    """The first ``demo`` pin of ``text``, its spans found by regex (as the file side
    would give them)."""
    path = ROOT / name
    match = re.search(r"demo(\S*?)(?=[\s;\"']|$)", text)
    assert match is not None
    spec = match.group(1)
    hashes = tuple(Span(m.start(), m.end()) for m in re.finditer(r"--hash=sha256:\w+", text))
    pin = Pin(
        path=path,
        line=text[: match.start()].count("\n") + 1,
        name="demo",
        canonical=canonicalize_name("demo"),
        specifier=spec,
        span=Span(match.start(1), match.end(1)),
        extras=(),
        marker=marker,
        hashes=hashes,
        section="requirements" if kind != "pyproject" else "project.dependencies",
    )
    file = DepFile(path, kind, text, (pin,), requires_python=requires_python)
    return pin, file


def edited(file: DepFile, results: object) -> str:
    text = file.text
    for edit in sorted(
        (e for r in results for e in r.edits),  # type: ignore[attr-defined]
        key=lambda e: e.span.start,
        reverse=True,
    ):
        text = text[: edit.span.start] + edit.text + text[edit.span.end :]
    return text


def test_a_pin_moves_to_the_newest_release_the_target_python_takes() -> None:
    pin, file = one_pin("demo==1.0\n")
    plan = plan_project([(pin, file)], demo_page(), Rules(), Version("3.11"), new_specifier)
    (result,) = plan.results
    assert (result.proposed, result.version, result.latest, result.bump) == (
        "==2.0",
        "2.0",
        "3.0",
        "major",
    )
    assert result.skipped == ("skipped 3.0: requires Python >=3.12, the target Python is 3.11",)
    assert edited(file, plan.results) == "demo==2.0\n"
    assert plan.keep == Version("2.0")


def test_pyproject_requires_python_is_the_floor_whatever_the_interpreter() -> None:
    pin, file = one_pin('dependencies = ["demo>=1.0"]\n', "pyproject", "pyproject.toml", ">=3.9")
    plan = plan_project([(pin, file)], demo_page(), Rules(), Version("3.13"), new_specifier)
    (result,) = plan.results
    assert result.proposed == ">=2.0"
    assert result.skipped == ("skipped 3.0: requires Python >=3.12, the project supports 3.9",)


def test_up_to_date_pin_has_no_edit() -> None:
    pin, file = one_pin("demo>=2.0\n")
    plan = plan_project([(pin, file)], demo_page(), Rules(), Version("3.11"), new_specifier)
    (result,) = plan.results
    assert result.edits == ()
    assert result.proposed is None
    assert not result.changes


def test_hashes_are_replaced_by_every_file_of_the_new_release() -> None:
    cont = " \\\r\n    "
    text = f"demo==1.0{cont}--hash=sha256:{SHA['1.0']}{cont}--hash=sha256:{'e' * 64}\r\nx\r\n"
    pin, file = one_pin(text)
    plan = plan_project([(pin, file)], demo_page(), Rules(), Version("3.11"), new_specifier)
    assert edited(file, plan.results) == (
        f"demo==2.0 \\\r\n    --hash=sha256:{SHA['2.0']} \\\r\n    --hash=sha256:{SHA['2.0-sdist']}"
        "\r\nx\r\n"
    )


def test_pins_of_one_project_in_several_files_move_together() -> None:
    req = one_pin("demo==1.0\n")
    pyproject = one_pin(
        'dependencies = ["demo>=1.0"]\n', "pyproject", "pyproject.toml", requires_python=">=3.9"
    )
    plan = plan_project(
        [req, pyproject], demo_page(), Rules(), Version("3.12"), new_specifier, root=ROOT
    )
    first, second = plan.results
    # The interpreter takes 3.0, the project's Python 3.9 does not: both go to 2.0.
    assert (first.proposed, second.proposed) == ("==2.0", ">=2.0")
    assert first.together == ("pyproject.toml:1",)
    assert second.together == ("requirements.txt:1",)
    assert first.note == "held at 2.0 to match the other pins of demo"


def test_a_kept_exclusion_is_said() -> None:
    pin, file = one_pin("demo>=1.0,!=2.0\n")
    plan = plan_project([(pin, file)], demo_page(), Rules(), Version("3.11"), new_specifier)
    (result,) = plan.results
    assert result.edits == ()
    assert result.note == "!=2.0 excludes 2.0: kept as written"


def test_nothing_eligible_keeps_the_whole_page_in_the_cache() -> None:
    pin, file = one_pin("demo<1\n")
    page = ProjectPage("demo", (IndexFile.build("demo-1.0.tar.gz", "u", yanked=True),))
    plan = plan_project([(pin, file)], page, Rules(), Version("3.11"), new_specifier)
    assert plan.results[0].edits == ()
    assert plan.keep is None
