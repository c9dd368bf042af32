#!/usr/bin/env python3
"""`pipfresh update --test` on a real project's own test suite: bleach 6.1.0.

    .venv/bin/python benchmarks/doctor.py

1. Downloads bleach 6.1.0's sdist from PyPI (`pip download --no-binary :all:`), whose
   tests/ is its own pytest suite, and unpacks it: the project folder.
2. Downloads real wheels from PyPI of old pins of what its tests need (six,
   webencodings, pytest 7.1 and its dependencies) and of their newest releases, and
   serves them on a local index (tests/support/index_server.py, 127.0.0.1), together
   with one made-to-break release: six 1.17.0.post1, the newest six without
   ``viewkeys`` (bleach's vendored html5lib then fails to import).
3. A venv with the old pins (uv), where `python -m pytest -x -q` is green.
4. `pipfresh update -y --installer uv --test "python -m pytest -x -q"` in the
   project folder, against the local index: the culprit (six) must be
   reverted, everything else upgraded, the final run green.

Prints the culprits, the number of test runs, the time in tests and the wall time.
Needs PyPI for the downloads (cached in benchmarks/.work/doctor/). Records nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from _common import WORK_DIR, canonical, dev_bin, isolated_env

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.index_server import IndexServer  # noqa: E402 - the tests' index server

PROJECT = "bleach==6.1.0"
#: What bleach's tests need, pinned old (Python 3.8+), and their newest releases.
OLD_PINS = (
    "six==1.16.0",
    "webencodings==0.5.1",
    "pytest==7.1.3",
    "pluggy==1.0.0",
    "iniconfig==1.1.1",
    "packaging==21.3",
    "pyparsing==3.0.9",
    "attrs==22.1.0",
    "py==1.11.0",
)
NEWEST = (
    "six",
    "webencodings",
    "pytest",
    "pluggy",
    "iniconfig",
    "packaging",
    "pyparsing",
    "attrs",
    "pygments",
)
BROKEN = "six"
TEST = "python -m pytest -x -q"


def pip_download(dest: Path, *args: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(dest), *args],
        check=True,
        env=isolated_env(),
    )


def project_folder(work: Path) -> Path:
    sdists = work / "sdist"
    if not any(sdists.glob("bleach-*.tar.gz")):
        pip_download(sdists, "--no-binary", ":all:", "--no-deps", PROJECT)
    archive = next(sdists.glob("bleach-*.tar.gz"))
    folder = work / "project"
    shutil.rmtree(folder, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(work / "unpacked", filter="data")
    shutil.move(str(work / "unpacked" / archive.name.removesuffix(".tar.gz")), folder)
    shutil.rmtree(work / "unpacked")
    return folder


def wheels(work: Path) -> Path:
    folder = work / "wheels"
    # One pip run: files already there are not downloaded again.
    pip_download(folder, "--only-binary", ":all:", "--no-deps", *OLD_PINS)
    pip_download(folder, "--only-binary", ":all:", "--no-deps", *NEWEST)
    return folder


def broken_wheel(folder: Path) -> Path:
    """six's newest release, republished one post-release higher without its
    ``viewkeys`` helper (bleach's vendored html5lib imports it)."""
    from packaging.version import Version

    name = BROKEN
    found = {Version(p.name.split("-")[1]): p for p in folder.glob(f"{name}-*.whl")}
    real = str(max(found))
    source = found[max(found)]
    fake = f"{real}.post1"
    dest = folder.parent / "broken" / source.name.replace(real, fake)
    dest.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(dest, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            path = info.filename.replace(f"{name}-{real}.dist-info", f"{name}-{fake}.dist-info")
            if path == "six.py":
                cut = data.replace(b'    viewkeys = operator.methodcaller("keys")\n', b"")
                if cut == data:
                    raise SystemExit(f"{source.name}: six.py no longer looks as expected")
                data = cut
            if path.endswith("METADATA"):
                data = data.replace(f"Version: {real}".encode(), f"Version: {fake}".encode())
            if path.endswith("RECORD"):
                continue
            new.writestr(path, data)
        # A RECORD without hashes: installers accept it, and it lists every file.
        record = [n.filename for n in new.infolist()]
        info_dir = f"{name}-{fake}.dist-info"
        new.writestr(
            f"{info_dir}/RECORD", "".join(f"{n},,\n" for n in record) + f"{info_dir}/RECORD,,\n"
        )
    return dest


def freeze(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [dev_bin("uv"), "pip", "list", "--python", str(python), "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=isolated_env(),
    ).stdout
    return {canonical(p["name"]): p["version"] for p in json.loads(out)}


def main() -> int:
    work = WORK_DIR / "doctor"
    work.mkdir(parents=True, exist_ok=True)
    project = project_folder(work)
    folder = wheels(work)
    broken = broken_wheel(folder)
    server = IndexServer().start()
    try:
        for wheel in [*folder.glob("*.whl"), broken]:
            server.add(wheel)
        venv = work / "venv"
        shutil.rmtree(venv, ignore_errors=True)
        uv = dev_bin("uv")
        env = isolated_env({"PYTHONDONTWRITEBYTECODE": "1"})
        subprocess.run(
            [uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env
        )
        python = venv / "bin" / "python"
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "-q",
                "--python",
                str(python),
                "--index-url",
                server.url,
                "--no-deps",
                *OLD_PINS,
            ],
            check=True,
            env=env,
        )
        before = freeze(python)
        green = subprocess.run(
            TEST.split(),
            cwd=project,
            check=False,
            env={**env, "PATH": f"{venv / 'bin'}:{env['PATH']}"},
            capture_output=True,
            text=True,
        )
        last = (green.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"tests before the update: {last}")
        if green.returncode != 0:
            print(green.stdout[-3000:])
            return 1
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipfresh",
                "update",
                "-y",
                "--installer",
                "uv",
                "--python",
                str(python),
                "--index-url",
                server.url,
                "--test",
                TEST,
                "--format",
                "json",
            ],
            cwd=project,
            check=False,
            env={**env, "PIPFRESH_CACHE_DIR": str(work / "cache")},
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    finally:
        server.stop()
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        print(result.stdout)
        print(f"pipfresh exited {result.returncode}")
        return 1
    document = json.loads(result.stdout)
    test = document["test"]
    after = freeze(python)
    print("culprits:", [(c["name"], c["changes"], c["failures"][:2]) for c in test["culprits"]])
    print("flaky:", test["flaky"])
    print(
        f"test runs: {test['runs']}, in tests: {test['seconds']:.1f} s, wall: {wall:.1f} s, "
        f"final run {'green' if test['final']['passed'] else 'RED'}"
    )
    for name in sorted(before):
        print(f"  {name:<14} {before[name]:>8} -> {after.get(name, '-')}")
    ok = (
        test["final"]["passed"]
        and [c["name"] for c in test["culprits"]] == ["six"]
        and after["six"] == before["six"]
        and all(after[n] != before[n] for n in ("webencodings", "pytest", "pluggy", "packaging"))
    )
    print("OK" if ok else "NOT AS EXPECTED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
