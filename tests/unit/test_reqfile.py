"""cli.reqfile.names_in: the names a requirements file asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipfresh.cli.reqfile import names_in
from pipfresh.errors import UsageError


def test_names_versions_extras_markers_hashes_and_options(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("six==1.16.0\n")
    req = tmp_path / "req.txt"
    req.write_text(
        "# a comment\n"
        "--index-url https://example.invalid/simple\n"
        "requests[socks]>=2.0 ; python_version >= '3.8'  # trailing\n"
        "Django_Rest.framework~=3.14 \\\n"
        "    --hash=sha256:abc\n"
        "-r base.txt\n"
        "-c constraints.txt\n"
        "-e ./local\n"
        "https://example.invalid/x-1.0.tar.gz\n"
        "attrs @ https://example.invalid/attrs-23.1.0-py3-none-any.whl\n"
        "\n"
        "click\n"
    )
    assert names_in(req) == ["requests", "Django_Rest.framework", "six", "attrs", "click"]


def test_a_missing_file_is_one_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot read requirements file .*nope\.txt"):
        names_in(tmp_path / "nope.txt")


def test_a_line_that_is_no_requirement_names_its_line(tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_text("six\n!!!\n")
    with pytest.raises(UsageError, match=r"req.txt, line 2: not a requirement"):
        names_in(req)


def test_an_include_loop_is_refused(tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_text("-r req.txt\n")
    with pytest.raises(UsageError, match="includes itself"):
        names_in(req)
