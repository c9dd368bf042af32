"""A rewritten requirements file is still one pip reads and resolves (hashes too),
against a folder of tiny wheels, isolated from this machine's pip configuration."""

from __future__ import annotations

import hashlib
from pathlib import Path

from packaging.version import Version

from pipfresh._bump.files import read_files
from pipfresh._bump.model import Edit
from pipfresh._bump.specifiers import new_specifier
from pipfresh._bump.write import apply_edits, write_atomically
from support.venvs import pip_dry_run_offline
from support.wheels import build_wheel

NEW = {"bumpdemo-alpha": "2.0.1", "bumpdemo-beta": "1.9.0", "bumpdemo-gamma": "2.3.1"}


def test_pip_resolves_the_rewritten_file_with_new_hashes(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    digests = {}
    for name, version in NEW.items():
        wheel = build_wheel(wheels, name, version)
        digests[name] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    req = tmp_path / "requirements.txt"
    req.write_bytes(
        b"# CRLF, a continuation, a marker, hashes on every line (hash-checking mode)\r\n"
        b"bumpdemo-alpha==1.0.0 \\\r\n"
        b"    --hash=sha256:" + b"0" * 64 + b"\r\n"
        b'bumpdemo-beta>=1.2 ; python_version >= "3.8" --hash=sha256:' + b"1" * 64 + b"\r\n"
        b"bumpdemo-gamma~=1.4 --hash=sha256:" + b"2" * 64 + b"  # kept\r\n"
    )
    (dep,) = read_files([req], tmp_path)
    edits = []
    for pin in dep.pins:
        assert pin.span is not None
        new = new_specifier(pin.specifier, Version(NEW[pin.canonical]))
        assert new is not None
        edits.append(Edit(req, pin.span, new))
        # what the index side does with the new release's hashes: one per span
        (span,) = pin.hashes
        edits.append(Edit(req, span, f"--hash=sha256:{digests[pin.canonical]}"))
    write_atomically({req: apply_edits(dep.text, edits)})
    assert req.read_bytes().count(b"\r\n") == 5  # every line end kept
    result = pip_dry_run_offline(req, wheels)
    assert result.returncode == 0, result.stderr
    assert (
        "Would install bumpdemo-alpha-2.0.1 bumpdemo-beta-1.9.0 bumpdemo-gamma-2.3.1"
        in result.stdout
    )
