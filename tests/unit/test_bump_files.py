"""bump's file side: reading requirements/constraints/pyproject files with exact spans,
following includes, and round trips (rewrite every pin's span, then the diff is exactly
the expected lines) over the corpus in tests/fixtures/bump/."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from pipfresh._bump.files import discover, read_files
from pipfresh._bump.model import BumpInputError, DepFile, Edit
from pipfresh._bump.reqfile import parse_requirements
from pipfresh._bump.specifiers import new_specifier
from pipfresh._bump.write import apply_edits

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bump"
HAND = FIXTURES / "hand"


def read_one(path: Path) -> DepFile:
    return read_files([path], path.parent)[0]


def bumped(dep: DepFile, versions: dict[str, str]) -> str:
    """``dep``'s text with every editable pin named in ``versions`` moved to that one."""
    edits = []
    for pin in dep.pins:
        if pin.span is None or pin.canonical not in versions:
            continue
        assert dep.text[pin.span.start : pin.span.end] == pin.specifier
        new = new_specifier(pin.specifier, Version(versions[pin.canonical]))
        if new is not None:
            edits.append(Edit(dep.path, pin.span, new))
    return apply_edits(dep.text, edits)


def without_spans(dep: DepFile) -> str:
    """The file's text with every pin's specifier span cut out."""
    spans = sorted((p.span.start, p.span.end) for p in dep.pins if p.span is not None)
    pieces, pos = [], 0
    for start, end in spans:
        pieces.append(dep.text[pos:start])
        pos = end
    return "".join(pieces) + dep.text[pos:]


def changed_lines(old: str, new: str) -> list[tuple[str, str]]:
    """(before, after) of every line that differs; a version edit never adds a line."""
    before, after = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(before) == len(after)
    return [(a, b) for a, b in zip(before, after, strict=True) if a != b]


# ----------------------------------------------------------------- requirements files


PY38 = 'python_version >= "3.8"'
WHEEL = "./vendor/thing-1.0-py3-none-any.whl"
IDNA_HASH = "--hash=sha256:90b77e79eaa3eba6de819a0c442c0b4ceefc341a7a2ab77d7562bf49f425c5c2"
TRAIL = f" ; {PY38}  # trailing comment\n"


def test_every_kind_of_line_in_a_requirements_file() -> None:
    dep = read_one(HAND / "requirements-mixed.txt")
    assert dep.kind == "requirements"
    got = [
        (p.line, p.name, p.canonical, p.specifier, p.extras, p.marker, p.leave_alone)
        for p in dep.pins
    ]
    assert got == [
        (5, "requests", "requests", ">= 2.25.1", ("socks", "security"), PY38, None),
        (6, "Django_Rest.framework", "django-rest-framework", "~=3.14.0", (), None, None),
        (7, "attrs", "attrs", ">=21.1,<23", (), None, None),
        (8, "six", "six", "==1.15.0", (), "sys_platform == 'win32'", None),
        (10, "./local/pkg", "./local/pkg", "", (), None, "editable"),
        (11, "ygit", "ygit", "", (), None, "editable"),
        (12, "pkg", "pkg", "", (), None, "url"),
        (13, "zed", "zed", "", (), None, "vcs"),
        (14, WHEEL, WHEEL, "", (), None, "path"),
        (15, "click", "click", "", (), None, "unversioned"),
        (16, "urllib3", "urllib3", ">=1.26,<2", (), None, "unparsable-version"),
        (18, "numpy", "numpy", ">=1.21", (), None, None),
        (20, "rich", "rich", "==13.0.0", (), None, None),
    ]  # fmt: skip
    assert next(p for p in dep.pins if p.name == "urllib3").span is None


MIXED_VERSIONS = {
    "requests": "2.32.3",
    "django-rest-framework": "3.15.2",
    "attrs": "24.2.0",
    "six": "1.16.0",
    "click": "8.1.7",
    "urllib3": "2.2.3",
    "numpy": "2.1.0",
    "rich": "13.9.4",
    "pkg": "9.0",
}

ROUND_TRIPS = [
    (
        "requirements-mixed.txt",
        MIXED_VERSIONS,
        [
            (
                "requests[socks,security] >= 2.25.1" + TRAIL,
                "requests[socks,security] >= 2.32.3" + TRAIL,
            ),
            ("Django_Rest.framework~=3.14.0\n", "Django_Rest.framework~=3.15.2\n"),
            ("attrs (>=21.1,<23)\n", "attrs (>=24.2,<25)\n"),
            (
                "six==1.15.0; sys_platform == 'win32' \\\n",
                "six==1.16.0; sys_platform == 'win32' \\\n",
            ),
            ("numpy>=1.21 \\\n", "numpy>=2.1 \\\n"),
            ("rich==13.0.0  # pinned\n", "rich==13.9.4  # pinned\n"),
        ],
    ),
    (
        "requirements-hashes.txt",
        {"certifi": "2024.8.30", "idna": "3.10", "requests": "2.31.0"},
        [
            ("certifi==2023.7.22 \\\n", "certifi==2024.8.30 \\\n"),
            (f"idna==3.4 {IDNA_HASH}\n", f"idna==3.10 {IDNA_HASH}\n"),
        ],
    ),
    (
        "crlf/requirements.txt",
        {"alpha": "2.0.1", "beta": "1.9", "gamma": "2.3.1"},
        [
            ("alpha==1.0.0\r\n", "alpha==2.0.1\r\n"),
            (
                'beta>=1.2 ; python_version >= "3.8" \\\r\n',
                'beta>=1.9 ; python_version >= "3.8" \\\r\n',
            ),
            ("gamma~=1.4  # kept\r\n", "gamma~=2.3  # kept\r\n"),
        ],
    ),
    (
        "tree/requirements/base.txt",
        {"django": "5.1.3"},
        [("Django>=4.2,<5.0\n", "Django>=5.1,<6.0\n")],
    ),
]


@pytest.mark.parametrize(("name", "versions", "expected"), ROUND_TRIPS)
def test_round_trip_changes_only_the_version_text(
    name: str, versions: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    dep = read_one(HAND / name)
    assert dep.text == (HAND / name).read_bytes().decode()
    new = bumped(dep, versions)
    assert changed_lines(dep.text, new) == expected
    # a second run proposes nothing: the bump is a fixed point
    again = parse_requirements(dep.path, new, dep.kind).file
    assert bumped(again, versions) == new
    assert [(p.name, p.extras, p.marker, len(p.hashes)) for p in again.pins] == [
        (p.name, p.extras, p.marker, len(p.hashes)) for p in dep.pins
    ]


def test_hash_spans_are_each_whole_option() -> None:
    dep = read_one(HAND / "requirements-hashes.txt")
    hashes = {p.name: [dep.text[s.start : s.end] for s in p.hashes] for p in dep.pins}
    assert hashes == {
        "certifi": [
            "--hash=sha256:539cc1d13202e33ca466e88b2807e29f4c13049d6d87031a3c110744495cb082",
            "--hash=sha256:92d6037539857d8206b8f6ae472e8b77db8058fec5937a1ef3f54304089edbb9",
        ],
        "idna": [IDNA_HASH],
        "requests": [
            "--hash=sha256:58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f"
        ],
    }
    assert [p.line for p in dep.pins] == [7, 11, 12]


def test_crlf_hash_span_stops_before_the_line_end() -> None:
    dep = read_one(HAND / "crlf" / "requirements.txt")
    beta = next(p for p in dep.pins if p.name == "beta")
    (span,) = beta.hashes
    assert dep.text[span.start : span.end] == "--hash=sha256:" + "0" * 64
    assert dep.text[span.end : span.end + 2] == "\r\n"


def test_a_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"\xef\xbb\xbfalpha==1.0\n")
    dep = read_one(path)
    (pin,) = dep.pins
    assert (pin.name, dep.text[pin.span.start : pin.span.end]) == ("alpha", "==1.0")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("alpha==1.0\nbeta==\n", 2, "not a valid requirement"),
        ("alpha~=1\n", 1, "not a valid requirement"),
        ("alpha>=1.0 --bogus\n", 1, "no such option: --bogus"),
        ("--no-such-option\n", 1, "no such option: --no-such-option"),
        ("# ok\n-r\n", 2, "-r needs a value"),
        ("alpha==1.0 \\\n  --hash='sha256:x\n", 1, "cannot read the options"),
        ("alpha[x==1.0\n", 1, "not a valid requirement"),
    ],
)
def test_a_line_pip_would_reject_names_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    with pytest.raises(BumpInputError) as caught:
        read_files([path], tmp_path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in caught.value.message


# ------------------------------------------------------------------ discovery, includes


def test_discovery_finds_pyproject_then_sorted_requirement_files(tmp_path: Path) -> None:
    for name in [
        "requirements.txt",
        "constraints.txt",
        "requirements-dev.txt",
        "pyproject.toml",
        "notes.txt",
        "requirements.in",
    ]:
        (tmp_path / name).write_text("")
    (tmp_path / "requirements-folder.txt").mkdir()
    assert [p.name for p in discover(tmp_path)] == [
        "pyproject.toml",
        "constraints.txt",
        "requirements-dev.txt",
        "requirements.txt",
    ]


def test_includes_are_followed_once_with_their_kind() -> None:
    tree = HAND / "tree"
    files = read_files(None, tree)
    assert [(f.path.relative_to(tree).as_posix(), f.kind) for f in files] == [
        ("constraints.txt", "constraints"),
        ("requirements.txt", "requirements"),
        ("requirements/base.txt", "requirements"),
        ("requirements/test.txt", "requirements"),
    ]
    top = files[1]
    assert [p.resolve().relative_to(tree).as_posix() for p in top.includes] == [
        "requirements/base.txt",
        "requirements/test.txt",
        "constraints.txt",
    ]


def test_a_file_reached_first_by_c_is_a_constraints_file() -> None:
    tree = HAND / "tree"
    files = read_files([Path("requirements.txt")], tree)
    kinds = {f.path.resolve().relative_to(tree).as_posix(): f.kind for f in files}
    assert kinds == {
        "requirements.txt": "requirements",
        "requirements/base.txt": "requirements",
        "requirements/test.txt": "requirements",
        "constraints.txt": "constraints",
    }
    assert {p.section for f in files for p in f.pins} == {"requirements", "constraints"}


def test_an_include_cycle_names_the_line_that_closes_it() -> None:
    with pytest.raises(BumpInputError) as caught:
        read_files(None, HAND / "cycle")
    # discovery reads requirements-dev.txt first: its include of requirements.txt is
    # fine, requirements.txt's include of requirements-dev.txt closes the cycle
    assert caught.value.path.name == "requirements.txt"
    assert caught.value.line == 1
    assert caught.value.message == (
        "include cycle: requirements-dev.txt -> requirements.txt -> requirements-dev.txt"
    )


def test_a_missing_include_names_the_including_line(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("alpha\n-c missing.txt\n")
    with pytest.raises(BumpInputError) as caught:
        read_files(None, tmp_path)
    assert (
        str(caught.value)
        == f"{tmp_path / 'requirements.txt'}:2: {tmp_path / 'missing.txt'}: no such file"
    )


def test_a_missing_file_and_a_non_utf8_file(tmp_path: Path) -> None:
    with pytest.raises(BumpInputError, match=r"nope\.txt: no such file$"):
        read_files([Path("nope.txt")], tmp_path)
    (tmp_path / "requirements.txt").write_bytes(b"alpha\nbeta==1.0 # caf\xe9\n")
    with pytest.raises(BumpInputError) as caught:
        read_files(None, tmp_path)
    assert (caught.value.line, caught.value.message) == (2, "not UTF-8 text")


# ---------------------------------------------------------------------- pyproject.toml


def test_every_array_and_string_kind_in_a_setuptools_pyproject() -> None:
    dep = read_one(HAND / "setuptools" / "pyproject.toml")
    assert (dep.kind, dep.requires_python) == ("pyproject", ">=3.9")
    got = [(p.line, p.section, p.name, p.specifier, p.extras, p.leave_alone) for p in dep.pins]
    deps = "project.dependencies"
    assert got == [
        (3, "build-system.requires", "setuptools", ">=61.0", (), None),
        (3, "build-system.requires", "wheel", "", (), "unversioned"),
        (14, deps, "requests", ">=2.25.1,<3", ("socks",), None),
        (15, deps, "attrs", ">=21.1", (), None),
        (16, deps, "click", ">=7.0", (), None),
        (17, deps, "idna", "", (), "unversioned"),
        (18, deps, "escaped-name", ">=1.0", (), None),  # the escape is in the name only
        (19, deps, "tomli", ">=1.1", (), None),
        (20, deps, "pkg", "", (), "url"),
        (21, deps, "six", "==1.16", (), "unparsable-version"),  # an escape in the version
        (26, "project.optional-dependencies.docs", "sphinx", ">=5.0,<7", (), None),
        (26, "project.optional-dependencies.docs", "furo", "==2023.3.27", (), None),
        (28, "project.optional-dependencies.test", "pytest", "~= 7.2", (), None),
    ]
    assert next(p for p in dep.pins if p.name == "six").span is None


def test_dependency_groups_skip_include_group_tables() -> None:
    dep = read_one(HAND / "groups" / "pyproject.toml")
    assert [(p.section, p.name, p.specifier, p.marker) for p in dep.pins] == [
        ("project.dependencies", "httpx", ">=0.23", None),
        ("project.optional-dependencies.cli", "rich", ">=12", None),
        ("dependency-groups.test", "pytest", ">=7", None),
        ("dependency-groups.test", "coverage", ">=6.5", None),
        ("dependency-groups.lint", "ruff", "==0.1.0", None),
        ("dependency-groups.dev", "mypy", ">=1.0", "implementation_name == 'cpython'"),
    ]


def test_poetry_tables_are_not_read() -> None:
    dep = read_one(HAND / "poetry" / "pyproject.toml")
    assert [(p.section, p.name) for p in dep.pins] == [("build-system.requires", "poetry-core")]


PYPROJECT_TRIPS = [
    (
        "setuptools/pyproject.toml",
        {
            "setuptools": "75.1.0",
            "requests": "3.0.1",
            "attrs": "24.2.0",
            "click": "8.1.7",
            "escaped-name": "2.0",
            "tomli": "2.0.1",
            "six": "1.17.0",
            "sphinx": "8.0.2",
            "furo": "2024.8.6",
            "pytest": "8.3.3",
        },
        [
            (
                "requires = [\"setuptools>=61.0\", 'wheel']\n",
                "requires = [\"setuptools>=75.1\", 'wheel']\n",
            ),
            (
                "    \"requests[socks] >=2.25.1,<3 ; python_version >= '3.8'\",  # trailing\n",
                "    \"requests[socks] >=3.0.1,<4 ; python_version >= '3.8'\",  # trailing\n",
            ),
            ("    'attrs>=21.1',\n", "    'attrs>=24.2',\n"),
            ('    "click (>=7.0)",\n', '    "click (>=8.1)",\n'),
            ('    "escaped\\u002Dname>=1.0",\n', '    "escaped\\u002Dname>=2.0",\n'),
            (
                "    \"tomli>=1.1\\u003B python_version < '3.11'\",\n",
                "    \"tomli>=2.0\\u003B python_version < '3.11'\",\n",
            ),
            (
                'docs = ["sphinx>=5.0,<7", "furo==2023.3.27"]\n',
                'docs = ["sphinx>=8.0,<9", "furo==2024.8.6"]\n',
            ),
            ('  "pytest ~= 7.2",\n', '  "pytest ~= 8.3",\n'),
        ],
    ),
    (
        "groups/pyproject.toml",
        {"httpx": "0.27.2", "rich": "13.9.4", "pytest": "8.3.3", "ruff": "0.6.9", "mypy": "1.0"},
        [
            ('dependencies = ["httpx>=0.23"]\n', 'dependencies = ["httpx>=0.27"]\n'),
            (
                'optional-dependencies.cli = ["rich>=12"]\n',
                'optional-dependencies.cli = ["rich>=13"]\n',
            ),
            (
                'test = ["pytest>=7", "coverage[toml]>=6.5"]\n',
                'test = ["pytest>=8", "coverage[toml]>=6.5"]\n',
            ),
            (
                'lint = [{include-group = "test"}, "ruff==0.1.0"]\n',
                'lint = [{include-group = "test"}, "ruff==0.6.9"]\n',
            ),
        ],
    ),
    (
        "poetry/pyproject.toml",
        {"poetry-core": "1.9.0", "requests": "3.0", "pytest": "9.0"},
        [
            (
                'requires = ["poetry-core>=1.0.0"]\n',
                'requires = ["poetry-core>=1.9.0"]\n',
            )
        ],
    ),
    (
        "crlf/pyproject.toml",
        {"alpha": "2.0", "beta": "1.9"},
        [
            ('  "alpha==1.0",\r\n', '  "alpha==2.0",\r\n'),
            ('  "beta>=1.2",  # c\r\n', '  "beta>=1.9",  # c\r\n'),
        ],
    ),
]


@pytest.mark.parametrize(("name", "versions", "expected"), PYPROJECT_TRIPS)
def test_pyproject_round_trip_changes_only_the_version_text(
    name: str, versions: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    dep = read_one(HAND / name)
    new = bumped(dep, versions)
    assert changed_lines(dep.text, new) == expected
    again = read_files_text(dep.path, new)
    assert bumped(again, versions) == new
    assert [(p.name, p.section, p.extras, p.marker) for p in again.pins] == [
        (p.name, p.section, p.extras, p.marker) for p in dep.pins
    ]


def read_files_text(path: Path, text: str) -> DepFile:
    from pipfresh._bump.pyproject import parse_pyproject

    return parse_pyproject(path, text)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[project]\nname = "x"\ndependencies = ["a>=1",\n', 3, "not valid TOML"),
        ('[project]\ndependencies = [\n  "a>=1",\n  "b>>2",\n]\n', 4, "not a valid requirement"),
        ("[build-system]\nrequires = ['./local']\n", 2, "not a valid requirement"),
        ('[project]\nname = "x"\nname = "y"\n', 3, "not valid TOML"),
    ],
)
def test_a_broken_pyproject_names_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(BumpInputError) as caught:
        read_files(None, tmp_path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: {message}")
    assert "\n" not in str(caught.value)


def test_strings_the_scanner_cannot_place_are_listed_but_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\ndependencies = ["a>=1", """b>=2"""]\n[dependency-groups]\nx = ["c>=3"]\n'
    )
    dep = read_one(path)
    assert [(p.name, p.specifier, p.span is None, p.leave_alone) for p in dep.pins] == [
        ("a", ">=1", True, "unparsable-version"),
        ("b", ">=2", True, "unparsable-version"),
        ("c", ">=3", False, None),
    ]


# --------------------------------------------------------------- real projects' files

REAL = FIXTURES / "real"
# Each real corpus entry by the file a user would name: the others are read through it.
REAL_ROOTS = [
    REAL / "flask" / "pyproject.toml",
    REAL / "sigstore-python" / "requirements.txt",
    REAL / "aiohttp" / "requirements" / "constraints.in",
]
REAL_FILES = [
    (root, dep) for root in REAL_ROOTS for dep in read_files([root], root.parent) if dep.pins
]


def test_the_real_roots_reach_every_real_file() -> None:
    reached = {dep.path.resolve() for root in REAL_ROOTS for dep in read_files([root], root.parent)}
    on_disk = {p.resolve() for p in REAL.rglob("*") if p.is_file()}
    assert reached == on_disk


def test_the_aiohttp_tree_is_followed_through_r_and_c() -> None:
    root = REAL_ROOTS[2]
    deps = read_files([root], root.parent)
    assert [d.path.name for d in deps] == [
        "constraints.in",
        "cython.in",
        "multidict.in",
        "dev.in",
        "lint.in",
        "test.in",
        "broken-projects.in",
        "base.in",
        "runtime-deps.in",
        "doc.in",
        "doc-spelling.in",
    ]
    kinds = {d.path.name: d.kind for d in deps}
    assert kinds["broken-projects.in"] == "constraints"  # reached through -c only
    assert kinds["runtime-deps.in"] == "requirements"


@pytest.mark.parametrize(
    ("root", "dep"),
    REAL_FILES,
    ids=[dep.path.relative_to(REAL).as_posix() for _, dep in REAL_FILES],
)
def test_real_files_change_only_inside_each_specifier(root: Path, dep: DepFile) -> None:
    path = dep.path
    editable = [p for p in dep.pins if p.span is not None]
    versions = {p.canonical: "99.1.0" for p in editable}
    new = bumped(dep, versions)
    moved = {p.line for p in editable if new_specifier(p.specifier, Version("99.1.0"))}
    assert len(changed_lines(dep.text, new)) == len(moved)
    again = (
        read_files_text(path, new)
        if dep.kind == "pyproject"
        else parse_requirements(path, new, dep.kind).file
    )
    # outside the specifiers' spans, every character is as it was
    assert without_spans(dep) == without_spans(again)
    assert bumped(again, versions) == new  # a second bump is a no-op
    assert [(p.name, p.section, p.extras, p.marker) for p in again.pins] == [
        (p.name, p.section, p.extras, p.marker) for p in dep.pins
    ]


def test_real_files_have_pins_to_move() -> None:
    moved = {
        dep.path.relative_to(REAL).as_posix(): sum(
            1
            for p in dep.pins
            if p.span is not None and new_specifier(p.specifier, Version("99.1.0"))
        )
        for _, dep in REAL_FILES
    }
    assert {k: v for k, v in moved.items() if v} == {
        "flask/pyproject.toml": 9,
        "sigstore-python/requirements.txt": 32,
        "aiohttp/requirements/broken-projects.in": 1,
        "aiohttp/requirements/test.in": 1,
        "aiohttp/requirements/runtime-deps.in": 7,
    }
