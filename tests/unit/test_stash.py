"""Keeping replaced distributions aside: folders owned by one distribution move whole,
anything shared stays file by file, and putting back restores the exact tree."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipfresh.upgrade.stash import (
    Kept,
    RealRoots,
    StashError,
    covered,
    installer_leftovers,
    installer_temporaries,
    keep_aside,
    plan_kept,
    put_back,
)


def tree(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def write(root: Path, *names: str) -> list[str]:
    paths = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        paths.append(str(path))
    return paths


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site-packages"
    folder.mkdir()
    return folder


def originals(kept: list[Kept], site: Path) -> list[str]:
    return [os.path.relpath(k.original, site) for k in kept]


def test_a_folder_of_one_distribution_is_kept_whole(site: Path) -> None:
    files = write(site, "pkg/__init__.py", "pkg/sub/mod.py", "pkg-1.0.dist-info/RECORD", "top.py")
    (site / "pkg/__pycache__").mkdir()
    (site / "pkg/__pycache__/__init__.cpython-311.pyc").write_bytes(b"compiled")
    kept = plan_kept([("pkg", files)], [str(site)])
    assert originals(kept, site) == ["pkg", "pkg-1.0.dist-info", "top.py"]


def test_a_folder_with_a_file_of_someone_else_is_kept_file_by_file(site: Path) -> None:
    ours = write(site, "ns/ours/a.py", "ns/ours/b.py", "ns/shared.py")
    write(site, "ns/theirs.py")  # another distribution's file in the same folder
    kept = plan_kept([("ours", ours)], [str(site)])
    assert originals(kept, site) == ["ns/ours", "ns/shared.py"]


def test_bytecode_of_another_module_blocks_the_folder(site: Path) -> None:
    ours = write(site, "pkg/a.py")
    (site / "pkg/__pycache__").mkdir()
    (site / "pkg/__pycache__/other.cpython-311.pyc").write_bytes(b"?")
    kept = plan_kept([("pkg", ours)], [str(site)])
    assert originals(kept, site) == ["pkg/a.py"]


def test_a_root_is_never_kept_whole(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    scripts = write(bindir, "tool")
    kept = plan_kept([("tool", scripts)], [str(tmp_path), str(bindir)])
    assert [k.original for k in kept] == scripts


def test_a_copied_distribution_is_copied_file_by_file(site: Path) -> None:
    files = write(site, "pip/__init__.py", "pip/main.py")
    kept = plan_kept([("pip", files)], [str(site)], copied=["pip"])
    assert [(k.original, k.copy) for k in kept] == [(f, True) for f in files]


def test_a_record_naming_the_state_folder_is_refused(site: Path) -> None:
    files = write(site, ".pipfresh-update/journal.json")
    with pytest.raises(StashError, match="state folder"):
        plan_kept([("evil", files)], [str(site)])


def test_put_back_restores_folders_over_what_the_new_version_left(site: Path) -> None:
    files = write(site, "pkg/__init__.py", "pkg/old.py", "pkg-1.0.dist-info/RECORD")
    before = tree(site)
    kept = plan_kept([("pkg", files)], [str(site)])
    stash = site.parent / "stash"
    keep_aside(kept, stash, roots=[str(site)])
    assert tree(site) == {}
    new = write(site, "pkg/__init__.py", "pkg/new.py", "pkg-2.0.dist-info/RECORD")
    (site / "pkg/__pycache__").mkdir()  # bytecode the new version left, not in its list
    (site / "pkg/__pycache__/stray.cpython-311.pyc").write_bytes(b"x")
    problems = put_back(kept, stash, new, [str(site)])
    assert problems == []
    assert {k: v for k, v in tree(site).items() if "__pycache__" not in k} == before


def test_put_back_leaves_an_unknown_file_where_a_folder_goes(site: Path) -> None:
    files = write(site, "pkg/__init__.py")
    kept = plan_kept([("pkg", files)], [str(site)])
    stash = site.parent / "stash"
    keep_aside(kept, stash, roots=[str(site)])
    (site / "pkg").write_bytes(b"in the way")
    problems = put_back(kept, stash, [], [str(site)])
    [problem] = problems
    assert problem.startswith(str(site / "pkg"))
    assert (site / "pkg").read_bytes() == b"in the way"
    assert (stash / kept[0].slot / "__init__.py").is_file()  # still kept for a retry


def test_put_back_after_a_crash_while_keeping_aside_deletes_no_old_file(site: Path) -> None:
    """Killed halfway through keeping files aside, before any installer ran: what was
    not moved yet is the old version, though the new versions would write the same
    paths, so the recovery must not delete it (bin/pip, a folder not yet moved)."""
    first = write(site, "aaa/__init__.py", "aaa-1.0.dist-info/RECORD")
    second = write(site, "bbb/__init__.py", "bbb/util.py", "bbb-1.0.dist-info/RECORD", "bbb-tool")
    before = tree(site)
    kept = plan_kept([("aaa", first), ("bbb", second)], [str(site)])
    stash = site.parent / "stash"
    keep_aside(kept[:1], stash, roots=[str(site)])  # the crash: only the first moved
    clear = [str(site / p) for p in ("aaa/__init__.py", "bbb/__init__.py", "bbb-tool")]
    assert put_back(kept, stash, clear, [str(site)]) == []
    assert tree(site) == before


def test_a_symlink_inside_the_environment_never_leads_a_delete_or_restore_out(
    tmp_path: Path, site: Path
) -> None:
    """A journal's paths are checked as the file system resolves them, not as text:
    ``site/sneaky -> outside`` keeps ``site/sneaky/canary.txt`` out of reach."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text("keep me")
    (site / "sneaky").symlink_to(outside)
    victim = str(site / "sneaky" / "canary.txt")
    stash = tmp_path / "stash"
    (stash / "00000").mkdir(parents=True)
    (stash / "00000/000000").write_text("planted")
    problems = put_back([Kept(victim, "00000/000000", False)], stash, [victim], [str(site)])
    assert (outside / "canary.txt").read_text() == "keep me"
    assert any("outside the environment" in p for p in problems), problems
    with pytest.raises(StashError, match="a symlink leads out of the environment"):
        plan_kept([("evil", [victim])], [str(site)])


def test_a_symlinked_folder_that_stays_inside_is_fine(site: Path) -> None:
    """A venv's own ``lib64 -> lib`` resolves inside the environment."""
    write(site, "lib/pkg/a.py")
    (site / "lib64").symlink_to(site / "lib")
    kept = plan_kept([("pkg", [str(site / "lib64/pkg/a.py")])], [str(site)])
    assert [k.original for k in kept] == [str(site / "lib64/pkg")]


def test_a_symlink_deep_below_ordinary_folders_is_still_resolved(
    tmp_path: Path, site: Path
) -> None:
    """Real paths are worked out folder by folder and remembered; a link two levels
    down, met after its parent was resolved for another file, still leads out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    write(site, "pkg/sub/ok.py")
    (site / "pkg" / "sub" / "away").symlink_to(outside)
    real = RealRoots([str(site)])
    assert real.holds(str(site / "pkg/sub/ok.py"))
    assert real.holds(str(site / "pkg/sub/away"))  # the link itself is inside
    assert not real.holds(str(site / "pkg/sub/away/file.py"))
    assert not real.holds(str(site / "pkg/sub/away/deeper/file.py"))
    assert real.holds(str(site / "pkg/sub/not-yet-there/file.py"))


@pytest.mark.parametrize(
    ("path", "kept", "expected"),
    [
        ("/env/lib/pkg/a.py", {"/env/lib/pkg/a.py"}, True),
        ("/env/lib/pkg/a.py", {"/env/lib/pkg"}, True),
        ("/env/lib/pkg/a.py", {"/env"}, True),
        ("/env/lib/pkg/a.py", {"/env/lib/pk"}, False),  # a prefix, not a parent
        ("/env/lib/pkg/a.py", {"/env/lib/pkg/a"}, False),
        ("/env/lib/pkg", {"/env/lib/pkg/a.py"}, False),
        ("/env/lib/pkg/a.py", set(), False),
        ("/env/lib/pkg/a.py", {"/"}, True),
    ],
)
def test_covered_means_the_path_or_one_of_its_parents(
    path: str, kept: set[str], expected: bool
) -> None:
    if os.name == "nt":
        pytest.skip("POSIX paths")
    assert covered(path, kept) is expected


def test_installer_leftovers_are_pips_stash_folders_of_the_projects_replaced(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site-packages"
    for folder in ("pip", "~ip", "~-p", "~ix", "~ip-24.3.1.dist-info", "~other"):
        (site / folder).mkdir(parents=True)
    (site / "~ix.py").write_text("")
    originals = [str(site / "pip" / "__init__.py"), str(site / "pip-24.3.1.dist-info" / "RECORD")]
    found = installer_leftovers([str(site)], originals, since=0)
    assert found == sorted(str(site / n) for n in ("~-p", "~ip", "~ip-24.3.1.dist-info"))
    # Only what was made since the update began.
    assert installer_leftovers([str(site)], originals, since=time.time() + 60) == []


def test_installer_temporaries_are_uvs_half_written_files_made_since_the_update(
    tmp_path: Path,
) -> None:
    """uv writes a script as bin/.tmpXXXXXX and renames it; killed in between, the
    temporary file is left, and the restore removes it. Nothing else is taken."""
    bin_dir = tmp_path / "bin"
    site = tmp_path / "site-packages"
    for folder in (bin_dir, site):
        folder.mkdir()
    left = [bin_dir / ".tmpAb3dE9", site / ".tmpZZ00yy"]
    kept = [bin_dir / ".tmp", bin_dir / ".tmpAb3dE", bin_dir / ".tmpAb3dE9x", bin_dir / "tmpAb3dE9"]
    for path in [*left, *kept]:
        path.write_bytes(b"")
    (site / ".tmpQwErTy").mkdir()  # a folder of that name too
    started = time.time() - 5
    found = installer_temporaries([str(bin_dir), str(site), str(bin_dir)], started)
    assert found == sorted([*map(str, left), str(site / ".tmpQwErTy")])
    # Made before the update began: not the installer's.
    assert installer_temporaries([str(bin_dir), str(site)], time.time() + 60) == []
    assert installer_temporaries([str(tmp_path / "missing")], started) == []
