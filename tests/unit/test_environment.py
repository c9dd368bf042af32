"""Unit tests for pipfresh.environment: tags, metadata reading, interpreter discovery.

Nothing here starts a subprocess: the target script is imported and run in-process,
dist-info folders and fake interpreters are files the tests write into tmp_path.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name

from pipfresh import _target_script
from pipfresh.environment import find_interpreter, start_inspection
from pipfresh.errors import TargetError
from pipfresh.installed import read_installed
from pipfresh.tags import TagFacts, linux_archs, linux_platforms, supported_tags

# ---------------------------------------------------------------------------
# Wheel tags
# ---------------------------------------------------------------------------


def host_facts() -> TagFacts:
    facts = _target_script.collect()
    return TagFacts.from_json(facts["implementation"], facts["version_info"], facts["tags"])


def test_host_tags_equal_packaging_sys_tags() -> None:
    assert supported_tags(host_facts()) == [str(tag) for tag in sys_tags()]


def test_host_markers_equal_packaging_default_environment() -> None:
    from packaging.markers import default_environment

    assert _target_script.marker_environment() == default_environment()


def _x86(n: int, arch: str = "x86_64") -> list[str]:
    """manylinux tags for glibc 2.n down to 2.5 with the legacy aliases in place."""
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags = []
    for minor in range(n, 4, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        if minor in legacy:
            tags.append(f"{legacy[minor]}_{arch}")
    return tags


@pytest.mark.parametrize(
    ("archs", "glibc", "musl", "denied", "expected"),
    [
        pytest.param(["x86_64"], None, None, (), ["linux_x86_64"], id="no-libc-known"),
        pytest.param(
            ["x86_64"], (2, 17), None, (), ["linux_x86_64", *_x86(17)], id="x86_64-glibc-2.17"
        ),
        pytest.param(
            ["x86_64"],
            (2, 5),
            None,
            (),
            ["linux_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64"],
            id="x86_64-floor-2.5",
        ),
        pytest.param(["x86_64"], (2, 4), None, (), ["linux_x86_64"], id="x86_64-below-floor"),
        pytest.param(["i686"], (2, 12), None, (), ["linux_i686", *_x86(12, "i686")], id="i686"),
        pytest.param(
            ["aarch64"],
            (2, 18),
            None,
            (),
            [
                "linux_aarch64",
                "manylinux_2_18_aarch64",
                "manylinux_2_17_aarch64",
                "manylinux2014_aarch64",
            ],
            id="aarch64-floor-2.17",
        ),
        pytest.param(["aarch64"], (2, 16), None, (), ["linux_aarch64"], id="aarch64-too-old"),
        pytest.param(
            ["armv8l", "armv7l"],
            (2, 17),
            None,
            (),
            [
                "linux_armv8l",
                "linux_armv7l",
                "manylinux_2_17_armv8l",
                "manylinux2014_armv8l",
                "manylinux_2_17_armv7l",
                "manylinux2014_armv7l",
            ],
            id="armv8l-also-armv7l",
        ),
        pytest.param(
            ["x86_64"],
            None,
            (1, 2),
            (),
            [
                "linux_x86_64",
                "musllinux_1_2_x86_64",
                "musllinux_1_1_x86_64",
                "musllinux_1_0_x86_64",
            ],
            id="musl",
        ),
        pytest.param(
            ["aarch64"],
            (2, 19),
            None,
            [(2, 18, "aarch64"), (2, 17, "aarch64")],
            ["linux_aarch64", "manylinux_2_19_aarch64"],
            id="denied-by-_manylinux-module",
        ),
        pytest.param(
            ["x86_64"],
            (3, 1),
            None,
            (),
            [
                "linux_x86_64",
                "manylinux_3_1_x86_64",
                "manylinux_3_0_x86_64",
                *_x86(50),
            ],
            id="hypothetical-glibc-3",
        ),
    ],
)
def test_linux_platforms(
    archs: list[str],
    glibc: tuple[int, int] | None,
    musl: tuple[int, int] | None,
    denied: list[tuple[int, int, str]],
    expected: list[str],
) -> None:
    assert linux_platforms(archs, glibc=glibc, musl=musl, denied=denied) == expected


@pytest.mark.parametrize(
    ("platform", "is_32bit", "expected"),
    [
        ("linux-x86_64", False, ["x86_64"]),
        ("linux-x86_64", True, ["i686"]),
        ("linux-i686", True, ["i686"]),
        ("linux-aarch64", False, ["aarch64"]),
        ("linux-aarch64", True, ["armv8l", "armv7l"]),
        ("linux-armv7l", True, ["armv7l"]),
        ("linux-ppc64le", False, ["ppc64le"]),
    ],
)
def test_linux_archs(platform: str, is_32bit: bool, expected: list[str]) -> None:
    assert linux_archs(platform, is_32bit) == expected


_ELF_X86_64 = {"bits": 64, "lsb": True, "machine": 62, "flags": 0, "interpreter": ""}
_ELF_I386 = {"bits": 32, "lsb": True, "machine": 3, "flags": 0, "interpreter": ""}
_ELF_ARMHF = {"bits": 32, "lsb": True, "machine": 40, "flags": 0x05000400, "interpreter": ""}
_ELF_ARMEL = {"bits": 32, "lsb": True, "machine": 40, "flags": 0x05000000, "interpreter": ""}


@pytest.mark.parametrize(
    ("facts", "first", "present", "absent"),
    [
        pytest.param(
            TagFacts("cpython", (3, 12), "312", ("cp312",), "win-amd64"),
            "cp312-cp312-win_amd64",
            ["cp312-abi3-win_amd64", "cp32-abi3-win_amd64", "py3-none-win_amd64", "cp312-none-any"],
            ["cp312-cp312-linux_x86_64"],
            id="windows",
        ),
        pytest.param(
            TagFacts(
                "cpython", (3, 12), "312", ("cp312",), "macosx-11.0-arm64", mac=((14, 2), "arm64")
            ),
            "cp312-cp312-macosx_14_0_arm64",
            ["cp312-abi3-macosx_11_0_arm64", "py3-none-macosx_10_9_universal2"],
            ["cp312-cp312-macosx_10_9_x86_64"],
            id="macos-arm64",
        ),
        pytest.param(
            TagFacts(
                "cpython",
                (3, 13),
                "313",
                ("cp313t",),
                "linux-x86_64",
                glibc="2.28",
                elf=_ELF_X86_64,
            ),
            "cp313-cp313t-linux_x86_64",
            ["cp313-cp313t-manylinux_2_28_x86_64", "cp313-abi3t-manylinux2014_x86_64"],
            ["cp313-abi3-linux_x86_64", "cp313-cp313-linux_x86_64"],
            id="free-threaded",
        ),
        pytest.param(
            TagFacts(
                "cpython",
                (3, 11),
                "311",
                ("cp311d", "cp311"),
                "linux-x86_64",
                glibc="2.17",
                elf=_ELF_X86_64,
            ),
            "cp311-cp311d-linux_x86_64",
            ["cp311-cp311-manylinux2014_x86_64", "cp311-abi3-manylinux1_x86_64"],
            ["cp311-cp311d-manylinux_2_18_x86_64"],
            id="debug-build",
        ),
        pytest.param(
            TagFacts(
                "pypy",
                (3, 10),
                "310",
                ("pypy310_pp73",),
                "linux-x86_64",
                glibc="2.17",
                elf=_ELF_X86_64,
            ),
            "pp310-pypy310_pp73-linux_x86_64",
            ["pp310-pypy310_pp73-manylinux2014_x86_64", "pp310-none-linux_x86_64", "pp3-none-any"],
            ["cp310-abi3-linux_x86_64", "pp310-abi3-linux_x86_64"],
            id="pypy",
        ),
        pytest.param(
            TagFacts(
                "cpython",
                (3, 9),
                "39",
                ("cp39",),
                "linux-x86_64",
                is_32bit=True,
                glibc="2.31",
                elf=_ELF_I386,
            ),
            "cp39-cp39-linux_i686",
            ["cp39-cp39-manylinux2010_i686"],
            ["cp39-cp39-linux_x86_64", "cp39-cp39-manylinux_2_31_x86_64"],
            id="32-bit-on-64-bit-kernel",
        ),
        pytest.param(
            TagFacts(
                "cpython",
                (3, 9),
                "39",
                ("cp39",),
                "linux-x86_64",
                is_32bit=True,
                glibc="2.31",
                elf=_ELF_X86_64,
            ),
            "cp39-cp39-linux_i686",
            ["py3-none-linux_i686"],
            ["cp39-cp39-manylinux2010_i686"],
            id="i686-without-i386-binary-has-no-manylinux",
        ),
        pytest.param(
            TagFacts(
                "cpython",
                (3, 11),
                "311",
                ("cp311",),
                "linux-aarch64",
                is_32bit=True,
                glibc="2.31",
                elf=_ELF_ARMHF,
            ),
            "cp311-cp311-linux_armv8l",
            ["cp311-cp311-linux_armv7l", "cp311-cp311-manylinux_2_31_armv7l"],
            [],
            id="armhf",
        ),
        pytest.param(
            TagFacts(
                "cpython",
                (3, 11),
                "311",
                ("cp311",),
                "linux-aarch64",
                is_32bit=True,
                glibc="2.31",
                elf=_ELF_ARMEL,
            ),
            "cp311-cp311-linux_armv8l",
            ["cp311-cp311-linux_armv7l"],
            ["cp311-cp311-manylinux_2_31_armv7l"],
            id="armel-no-manylinux",
        ),
    ],
)
def test_supported_tags(facts: TagFacts, first: str, present: list[str], absent: list[str]) -> None:
    tags = supported_tags(facts)
    assert tags[0] == first
    assert len(tags) == len(set(tags))
    assert tags[-1] == "py30-none-any"
    for tag in present:
        assert tag in tags
    for tag in absent:
        assert tag not in tags


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads an ELF interpreter")
def test_read_elf_of_the_host_interpreter() -> None:
    elf = _target_script.read_elf(os.path.realpath(sys.executable))
    assert elf is not None
    assert elf["bits"] == (32 if sys.maxsize < 2**32 else 64)
    assert "ld-" in elf["interpreter"]


def test_read_elf_rejects_other_files(tmp_path: Path) -> None:
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    short = tmp_path / "short"
    short.write_bytes(b"\x7fELF\x02\x01")
    assert _target_script.read_elf(str(text)) is None
    assert _target_script.read_elf(str(short)) is None
    assert _target_script.read_elf(str(tmp_path / "missing")) is None


# ---------------------------------------------------------------------------
# Installed distributions
# ---------------------------------------------------------------------------


def write_dist(
    site: Path,
    name: str,
    version: str | None,
    *,
    requires: tuple[str, ...] = (),
    direct_url: dict[str, object] | str | None = None,
    extra_headers: str = "",
    body: str = "A description.\nRequires-Dist: not-a-header\n",
) -> Path:
    folder = site / f"{name.replace('-', '_')}-{version or '0'}.dist-info"
    folder.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}"]
    if version is not None:
        lines.append(f"Version: {version}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    (folder / "METADATA").write_text("\n".join(lines) + "\n" + extra_headers + "\n" + body)
    if isinstance(direct_url, dict):
        (folder / "direct_url.json").write_text(json.dumps(direct_url))
    elif isinstance(direct_url, str):
        (folder / "direct_url.json").write_text(direct_url)
    return folder


def test_first_on_path_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_dist(first, "Requests", "2.0")
    write_dist(second, "requests", "1.0")
    write_dist(second, "idna", "3.4")
    dists = read_installed([str(first), str(second)])
    assert [(d.name, d.version, d.location) for d in dists] == [
        ("Requests", "2.0", str(first)),
        ("idna", "3.4", str(second)),
    ]
    assert dists[0].canonical_name == "requests"


def test_names_are_matched_canonically(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_dist(first, "Zope.Interface", "6.0")
    write_dist(second, "zope_interface", "5.0")
    dists = read_installed([str(first), str(second)])
    assert [(d.canonical_name, d.version) for d in dists] == [("zope-interface", "6.0")]


def test_requires_dist_and_header_parsing(tmp_path: Path) -> None:
    write_dist(
        tmp_path,
        "pkg",
        "1.0",
        requires=("idna>=2.5", 'pysocks!=1.5.7,>=1.5.6; extra == "socks"'),
        extra_headers="Summary: folded\n  over two lines\nRequires-Dist: chardet\n  <6\n",
    )
    (dist,) = read_installed([str(tmp_path)])
    assert dist.requires == (
        "idna>=2.5",
        'pysocks!=1.5.7,>=1.5.6; extra == "socks"',
        "chardet <6",
    )
    assert dist.kind == "index"
    assert dist.url is None


def test_header_names_in_any_case_and_folds_after_other_headers(tmp_path: Path) -> None:
    folder = tmp_path / "pkg-1.0.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_bytes(
        b"Metadata-Version: 2.1\nname: pkg\nVERSION: 1.0\nrequires-dist: a\n"
        b"Classifier: b\n  folded into the classifier\nRequires-Dist: c\n  <2\n"
        b"Requires-Python: >=3\n  folded into requires-python\n\nbody\n"
    )
    (dist,) = read_installed([str(tmp_path)])
    assert (dist.name, dist.version, dist.requires) == ("pkg", "1.0", ("a", "c <2"))


def test_body_is_not_read_as_headers(tmp_path: Path) -> None:
    write_dist(tmp_path, "pkg", "1.0", body="Version: 9.9\nRequires-Dist: evil\n")
    (dist,) = read_installed([str(tmp_path)])
    assert (dist.version, dist.requires) == ("1.0", ())


def test_crlf_and_whitespace_only_continuation(tmp_path: Path) -> None:
    folder = tmp_path / "old-1.0.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_bytes(
        b"Metadata-Version: 1.0\r\nName: old\r\nDescription: line one\r\n"
        b"        \r\n        line three\r\nVersion: 1.0\r\n\r\nbody\r\n"
    )
    (dist,) = read_installed([str(tmp_path)])
    assert (dist.name, dist.version) == ("old", "1.0")


def test_non_utf8_metadata_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "latin-1.0.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_bytes(
        b"Metadata-Version: 2.1\nName: latin\nVersion: 1.0\nAuthor: Fran\xe7ois\n"
        b"Requires-Dist: caf\xe9\n\n\xff\xfe body\n"
    )
    (dist,) = read_installed([str(tmp_path)])
    assert (dist.name, dist.version) == ("latin", "1.0")
    assert dist.requires == ("caf\ufffd",)


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param(None, id="no-METADATA"),
        pytest.param(b"", id="empty"),
        pytest.param(b"Metadata-Version: 2.1\nName: broken\n\n", id="no-version"),
        pytest.param(b"Metadata-Version: 2.1\nVersion: 1.0\n\n", id="no-name"),
        pytest.param(b"Name: broken\nVersion:\n\n", id="empty-version"),
        pytest.param(b"\n\nName: broken\nVersion: 1.0\n", id="headers-after-blank-line"),
        pytest.param("dir", id="METADATA-is-a-folder"),
    ],
)
def test_broken_dist_is_skipped(tmp_path: Path, metadata: bytes | str | None) -> None:
    folder = tmp_path / "broken-1.0.dist-info"
    folder.mkdir()
    if metadata == "dir":
        (folder / "METADATA").mkdir()
    elif isinstance(metadata, bytes):
        (folder / "METADATA").write_bytes(metadata)
    write_dist(tmp_path, "good", "2.0")
    assert [d.name for d in read_installed([str(tmp_path)])] == ["good"]


def test_egg_info_folder_with_requires_txt(tmp_path: Path) -> None:
    folder = tmp_path / "legacy-0.1-py3.8.egg-info"
    folder.mkdir()
    (folder / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 0.1\n")
    (folder / "requires.txt").write_text(
        'six>=1.0\n\n[socks]\nPySocks\n\n[:python_version < "3.9"]\nimportlib-resources\n'
        '\n[tests:sys_platform == "win32"]\ncolorama\n'
    )
    (dist,) = read_installed([str(tmp_path)])
    assert (dist.name, dist.version, dist.kind) == ("legacy", "0.1", "index")
    assert dist.requires == (
        "six>=1.0",
        'PySocks; extra == "socks"',
        'importlib-resources; python_version < "3.9"',
        'colorama; extra == "tests" and (sys_platform == "win32")',
    )


def test_egg_info_requires_match_importlib_metadata(tmp_path: Path) -> None:
    """Our requires.txt conversion means the same as importlib.metadata's."""
    from packaging.requirements import Requirement

    test_egg_info_folder_with_requires_txt(tmp_path)
    (dist,) = read_installed([str(tmp_path)])
    (reference,) = importlib.metadata.distributions(path=[str(tmp_path)])
    envs = [
        {"extra": extra, "python_version": py, "sys_platform": plat}
        for extra in ("", "socks", "tests")
        for py in ("3.8", "3.12")
        for plat in ("linux", "win32")
    ]

    def applies(requirements: list[str] | tuple[str, ...]) -> list[list[str]]:
        parsed = [Requirement(r) for r in requirements]
        return [
            sorted(r.name for r in parsed if r.marker is None or r.marker.evaluate(env))
            for env in envs
        ]

    assert applies(dist.requires) == applies(reference.requires or [])


def test_egg_info_single_file(tmp_path: Path) -> None:
    (tmp_path / "single-2.3-py3.11.egg-info").write_text(
        "Metadata-Version: 1.0\nName: single\nVersion: 2.3\n"
    )
    (dist,) = read_installed([str(tmp_path)])
    assert (dist.name, dist.version, dist.requires) == ("single", "2.3", ())


def test_egg_directory_on_path(tmp_path: Path) -> None:
    egg = tmp_path / "eggy-1.0-py3.11.egg"
    (egg / "EGG-INFO").mkdir(parents=True)
    (egg / "EGG-INFO" / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: eggy\nVersion: 1.0\n")
    (dist,) = read_installed([str(egg)])
    assert (dist.name, dist.location) == ("eggy", str(egg))


def test_legacy_egg_link_is_editable(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    project = tmp_path / "src" / "devpkg"
    (project / "devpkg.egg-info").mkdir(parents=True)
    (project / "devpkg.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 2.1\nName: devpkg\nVersion: 0.3.dev0\n"
    )
    site.mkdir()
    (site / "devpkg.egg-link").write_text("../src/devpkg\n.")
    write_dist(site, "other", "1.0")
    dists = read_installed([str(site), str(project)])
    assert [(d.name, d.kind, d.location) for d in dists] == [
        ("other", "index", str(site)),
        ("devpkg", "editable", str(site)),
    ]
    assert dists[1].url == project.as_uri()


@pytest.mark.parametrize(
    ("direct_url", "kind", "url"),
    [
        pytest.param(
            {"url": "file:///home/me/proj", "dir_info": {"editable": True}},
            "editable",
            "file:///home/me/proj",
            id="pep660-editable",
        ),
        pytest.param(
            {"url": "file:///home/me/proj", "dir_info": {}},
            "direct_url",
            "file:///home/me/proj",
            id="local-dir-not-editable",
        ),
        pytest.param(
            {"url": "file:///tmp/x", "dir_info": {"editable": "yes"}},
            "direct_url",
            "file:///tmp/x",
            id="editable-must-be-true",
        ),
        pytest.param(
            {
                "url": "https://github.com/pypa/pip.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc"},
            },
            "direct_url",
            "https://github.com/pypa/pip.git",
            id="vcs",
        ),
        pytest.param(
            {"url": "https://example.com/a-1.0.tar.gz", "archive_info": {"hashes": {}}},
            "direct_url",
            "https://example.com/a-1.0.tar.gz",
            id="archive",
        ),
        pytest.param(
            {
                "url": "https://alice:s3cret@git.example.com/repo.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc"},
            },
            "direct_url",
            "https://alice:****@git.example.com/repo.git",
            id="password-redacted",
        ),
        pytest.param(
            {"url": "https://ghp_token@github.com/o/r.git", "vcs_info": {"vcs": "git"}},
            "direct_url",
            "https://****@github.com/o/r.git",
            id="token-user-redacted",
        ),
        pytest.param(
            {
                "url": "https://u:p%40ss@host.example:8443/x.whl",
                "archive_info": {},
            },
            "direct_url",
            "https://u:****@host.example:8443/x.whl",
            id="password-with-escapes-and-port",
        ),
        pytest.param("{not json", "direct_url", None, id="invalid-json"),
        pytest.param({"dir_info": {"editable": True}}, "editable", None, id="no-url"),
    ],
)
def test_direct_url(
    tmp_path: Path, direct_url: dict[str, object] | str, kind: str, url: str | None
) -> None:
    write_dist(tmp_path, "pkg", "1.0", direct_url=direct_url)
    (dist,) = read_installed([str(tmp_path)])
    assert (dist.kind, dist.url) == (kind, url)
    assert "s3cret" not in repr(dist)


def test_path_entries_that_are_not_folders_are_ignored(tmp_path: Path) -> None:
    archive = tmp_path / "lib.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    write_dist(tmp_path / "site", "ok", "1.0")
    paths = [str(tmp_path / "missing"), str(archive), str(tmp_path / "site")]
    assert [d.name for d in read_installed(paths)] == ["ok"]


def test_same_names_and_versions_as_importlib_metadata(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for index in range(30):
        write_dist(first if index % 2 else second, f"proj-{index}", f"1.{index}")
    write_dist(second, "proj-1", "0.1")  # shadowed by first/proj-1 1.1
    (second / "single-2.3.egg-info").write_text("Name: single\nVersion: 2.3\n")
    paths = [str(first), str(second)]
    expected: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=paths):
        expected.setdefault(canonicalize_name(dist.metadata["Name"]), dist.version)
    assert {d.canonical_name: d.version for d in read_installed(paths)} == expected


# ---------------------------------------------------------------------------
# Finding the interpreter (no interpreter is run: the candidates are plain files)
# ---------------------------------------------------------------------------


def fake_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def fake_venv(folder: Path) -> Path:
    (folder / "pyvenv.cfg").parent.mkdir(parents=True, exist_ok=True)
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return fake_executable(folder / "bin" / "python")


def fake_pyenv(root: Path, *versions: str) -> Path:
    for version in versions:
        major_minor = ".".join(version.split(".")[:2])
        fake_executable(root / "versions" / version / "bin" / f"python{major_minor}")
        fake_executable(root / "versions" / version / "bin" / "python3")
    return root


@pytest.fixture
def empty_env(tmp_path: Path) -> dict[str, str]:
    """An environment with nothing on PATH and no pyenv, so the real machine never leaks in."""
    (tmp_path / "empty-bin").mkdir()
    return {"PATH": str(tmp_path / "empty-bin"), "PYENV_ROOT": str(tmp_path / "no-pyenv")}


def test_venv_folder(tmp_path: Path, empty_env: dict[str, str]) -> None:
    python = fake_venv(tmp_path / "env")
    found = find_interpreter(str(tmp_path / "env"), cwd=tmp_path, environ=empty_env)
    assert found == str(python)


def test_relative_venv_folder_resolves_against_cwd(
    tmp_path: Path, empty_env: dict[str, str]
) -> None:
    python = fake_venv(tmp_path / "proj" / ".venv")
    found = find_interpreter(".venv", cwd=tmp_path / "proj", environ=empty_env)
    assert found == str(python)


def test_symlinked_interpreter_is_not_resolved(tmp_path: Path, empty_env: dict[str, str]) -> None:
    real = fake_executable(tmp_path / "base" / "python3.12")
    link = tmp_path / "env" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    assert find_interpreter(str(link), cwd=tmp_path, environ=empty_env) == str(link)


FIND_ERRORS = pytest.mark.parametrize(
    ("make", "spec", "message"),
    [
        pytest.param(
            None, "{tmp}/nope/python", "--python {tmp}/nope/python: not found", id="missing"
        ),
        pytest.param(
            "text", "{tmp}/passwd", "--python {tmp}/passwd: not a Python interpreter", id="not-exec"
        ),
        pytest.param(
            "dir",
            "{tmp}/emptydir",
            "--python {tmp}/emptydir: no Python interpreter in this folder",
            id="folder-without-python",
        ),
        pytest.param(
            None, "3.99", "--python 3.99: no interpreter found on PATH or in pyenv", id="version"
        ),
        pytest.param(
            None,
            "python3.99",
            "--python python3.99: no interpreter found on PATH or in pyenv",
            id="python-version",
        ),
        pytest.param(None, "nosuchpython", "--python nosuchpython: not found on PATH", id="name"),
        pytest.param(None, " ", "--python  : empty interpreter name", id="blank"),
    ],
)


def make_find_error_case(tmp_path: Path, make: str | None) -> None:
    if make == "text":
        (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    elif make == "dir":
        (tmp_path / "emptydir").mkdir()


@FIND_ERRORS
def test_find_interpreter_errors(
    tmp_path: Path, empty_env: dict[str, str], make: str | None, spec: str, message: str
) -> None:
    make_find_error_case(tmp_path, make)
    with pytest.raises(TargetError) as caught:
        find_interpreter(spec.format(tmp=tmp_path), cwd=tmp_path, environ=empty_env)
    assert str(caught.value) == message.format(tmp=tmp_path)


@FIND_ERRORS
def test_started_inspection_keeps_the_find_error_for_its_result(
    tmp_path: Path, empty_env: dict[str, str], make: str | None, spec: str, message: str
) -> None:
    make_find_error_case(tmp_path, make)
    # Nothing raised yet: the CLI has settings to check before this error may show.
    pending = start_inspection(spec.format(tmp=tmp_path), cwd=tmp_path, environ=empty_env)
    with pending, pytest.raises(TargetError) as caught:
        pending.result()
    assert str(caught.value) == message.format(tmp=tmp_path)
    with pytest.raises(RuntimeError, match="already taken"):
        pending.result()


def test_a_started_inspection_closed_unused_raises_nothing(
    tmp_path: Path, empty_env: dict[str, str]
) -> None:
    pending = start_inspection("3.99", cwd=tmp_path, environ=empty_env)
    assert pending.spec == "3.99"
    pending.close()
    pending.close()


@pytest.mark.parametrize(
    ("versions", "spec", "expected"),
    [
        (("3.12.1", "3.12.10", "3.12.9", "3.11.7"), "3.12", "3.12.10"),
        (("3.12.1", "3.12.10", "3.11.7"), "3.12.1", "3.12.1"),
        (("3.12.1", "3.12.10", "3.11.7"), "python3.11", "3.11.7"),
        (("3.12.1", "3.11.7", "3.9.18"), "3", "3.12.1"),
        (("3.13.0t", "pypy3.10-7.3.12", "3.13.0"), "3.13", "3.13.0"),
    ],
)
def test_version_request_from_pyenv(
    tmp_path: Path, empty_env: dict[str, str], versions: tuple[str, ...], spec: str, expected: str
) -> None:
    root = fake_pyenv(tmp_path / "pyenv", *versions)
    env = {**empty_env, "PYENV_ROOT": str(root)}
    found = Path(find_interpreter(spec, cwd=tmp_path, environ=env))
    assert found.parent.parent.name == expected
    assert found.name.startswith("python3")


def test_version_request_prefers_path_and_skips_shims(
    tmp_path: Path, empty_env: dict[str, str]
) -> None:
    root = fake_pyenv(tmp_path / "pyenv", "3.12.1")
    fake_executable(root / "shims" / "python3.12")
    on_path = fake_executable(tmp_path / "usr" / "bin" / "python3.12")
    env = {**empty_env, "PYENV_ROOT": str(root)}
    env["PATH"] = os.pathsep.join([str(root / "shims"), str(on_path.parent)])
    assert find_interpreter("3.12", cwd=tmp_path, environ=env) == str(on_path)
    env["PATH"] = str(root / "shims")
    assert find_interpreter("3.12", cwd=tmp_path, environ=env) == str(
        root / "versions" / "3.12.1" / "bin" / "python3.12"
    )


def test_default_order(tmp_path: Path, empty_env: dict[str, str]) -> None:
    venv_python = fake_venv(tmp_path / "active")
    conda_python = fake_venv(tmp_path / "conda")
    dot_venv_python = fake_venv(tmp_path / "proj" / ".venv")
    path_python = fake_executable(tmp_path / "bin" / "python3")
    nested = tmp_path / "proj" / "src" / "pkg"
    nested.mkdir(parents=True)
    env = {**empty_env, "PATH": str(path_python.parent)}

    def find(**extra: str) -> str:
        return find_interpreter(None, cwd=nested, environ={**env, **extra})

    both = {"VIRTUAL_ENV": str(tmp_path / "active"), "CONDA_PREFIX": str(tmp_path / "conda")}
    assert find(**both) == str(venv_python)
    assert find(CONDA_PREFIX=str(tmp_path / "conda")) == str(conda_python)
    assert find() == str(dot_venv_python)
    assert find_interpreter(None, cwd=tmp_path, environ=env) == str(path_python)


def test_default_python_when_no_python3(tmp_path: Path, empty_env: dict[str, str]) -> None:
    python = fake_executable(tmp_path / "bin" / "python")
    env = {**empty_env, "PATH": str(python.parent)}
    assert find_interpreter(None, cwd=tmp_path, environ=env) == str(python)


def test_dot_venv_without_interpreter_is_passed_over(
    tmp_path: Path, empty_env: dict[str, str]
) -> None:
    (tmp_path / "proj" / ".venv").mkdir(parents=True)  # e.g. half-deleted
    outer = fake_venv(tmp_path / ".venv")
    assert find_interpreter(None, cwd=tmp_path / "proj", environ=empty_env) == str(outer)


def test_broken_virtual_env_is_an_error(tmp_path: Path, empty_env: dict[str, str]) -> None:
    fake_venv(tmp_path / ".venv")
    env = {**empty_env, "VIRTUAL_ENV": str(tmp_path / "deleted")}
    with pytest.raises(TargetError, match=r"^\$VIRTUAL_ENV=.*deleted: no Python interpreter"):
        find_interpreter(None, cwd=tmp_path, environ=env)


def test_nothing_found(tmp_path: Path, empty_env: dict[str, str]) -> None:
    with pytest.raises(TargetError, match=r"^no Python interpreter found: "):
        find_interpreter(None, cwd=tmp_path, environ=empty_env)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"PYENV_VERSION": "3.11.7"}, "versions/3.11.7/bin/python3"),
        ({"PYENV_VERSION": "3.99.0:3.12.1"}, "versions/3.12.1/bin/python3"),
        ({"local": "# comment\n3.12.1\n"}, "versions/3.12.1/bin/python3"),
        ({"global": "3.11.7\n"}, "versions/3.11.7/bin/python3"),
        ({"global": "system\n"}, "usr/bin/python3"),
        ({}, "usr/bin/python3"),  # no version file at all means "system"
        ({"PYENV_VERSION": "3.99.0"}, "pyenv/shims/python3"),  # unresolvable: keep the shim
    ],
)
def test_pyenv_shim_is_resolved(
    tmp_path: Path, empty_env: dict[str, str], selection: dict[str, str], expected: str
) -> None:
    root = fake_pyenv(tmp_path / "pyenv", "3.11.7", "3.12.1")
    fake_executable(root / "shims" / "python3")
    fake_executable(tmp_path / "usr" / "bin" / "python3")
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    env = {**empty_env, "PYENV_ROOT": str(root)}
    env["PATH"] = os.pathsep.join([str(root / "shims"), str(tmp_path / "usr" / "bin")])
    if "PYENV_VERSION" in selection:
        env["PYENV_VERSION"] = selection["PYENV_VERSION"]
    if "local" in selection:
        (project / ".python-version").write_text(selection["local"])
    if "global" in selection:
        (root / "version").write_text(selection["global"])
    found = find_interpreter(None, cwd=project / "sub", environ=env)
    assert found == str(tmp_path / expected.replace("versions/", "pyenv/versions/"))
