"""The machine-readable outputs of a hand-built Report: the version-1 JSON document,
JSON lines and freeze lines, compared exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipfresh.models import (
    Holder,
    PackageStatus,
    ProjectError,
    Report,
    Summary,
    TargetEnv,
)
from pipfresh.ui.serialize import freeze_lines, jsonl_result, jsonl_summary, report_json

ENV = TargetEnv(
    python="/envs/demo/bin/python",
    python_version="3.11.7",
    implementation="cpython",
    prefix="/envs/demo",
    sys_path=("/envs/demo/lib/python3.11/site-packages",),
    markers={"python_version": "3.11"},
    tags=("py3-none-any",),
)
BOTO3 = PackageStatus(
    name="boto3",
    installed="1.34.0",
    latest="1.34.0",
    wanted="1.34.0",
    bump=None,
    released=None,
)
BOTOCORE = PackageStatus(
    name="botocore",
    installed="1.34.0",
    latest="1.35.10",
    wanted="1.34.162",
    bump="minor",
    released="2024-08-30T12:00:00Z",
    held_back_by=(Holder("boto3", "1.34.0", "botocore<1.35,>=1.34.0"),),
)
LOCAL = PackageStatus(
    name="localpkg",
    installed="0.1",
    latest=None,
    wanted=None,
    bump=None,
    released=None,
    kind="editable",
)
REQUESTS = PackageStatus(
    name="requests",
    installed="2.25.0",
    latest="2.32.3",
    wanted="2.32.3",
    bump="minor",
    released="2024-05-29T15:37:47Z",
)
GHOST = ProjectError("ghost", "not found on any index (http://127.0.0.1:8080/simple)")
REPORT = Report(
    environment=ENV,
    packages=(BOTO3, BOTOCORE, LOCAL, REQUESTS),
    errors=(GHOST,),
    summary=Summary(checked=5, outdated=2, errors=1, seconds=0.42),
    timings={"inspect": 0.03, "scan": 0.39},
)

BOTOCORE_DICT: dict[str, Any] = {
    "name": "botocore",
    "installed": "1.34.0",
    "wanted": "1.34.162",
    "latest": "1.35.10",
    "bump": "minor",
    "released": "2024-08-30T12:00:00Z",
    "held_back_by": [
        {"name": "boto3", "version": "1.34.0", "requirement": "botocore<1.35,>=1.34.0"}
    ],
    "kind": "index",
}
REQUESTS_DICT: dict[str, Any] = {
    "name": "requests",
    "installed": "2.25.0",
    "wanted": "2.32.3",
    "latest": "2.32.3",
    "bump": "minor",
    "released": "2024-05-29T15:37:47Z",
    "held_back_by": [],
    "kind": "index",
}
BOTO3_DICT: dict[str, Any] = {
    "name": "boto3",
    "installed": "1.34.0",
    "wanted": "1.34.0",
    "latest": "1.34.0",
    "bump": None,
    "released": None,
    "held_back_by": [],
    "kind": "index",
}
LOCAL_DICT: dict[str, Any] = {
    "name": "localpkg",
    "installed": "0.1",
    "wanted": None,
    "latest": None,
    "bump": None,
    "released": None,
    "held_back_by": [],
    "kind": "editable",
}
SUMMARY_DICT: dict[str, Any] = {"checked": 5, "outdated": 2, "errors": 1, "seconds": 0.42}


def expected_document(packages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": 1,
        "environment": {
            "python": "/envs/demo/bin/python",
            "python_version": "3.11.7",
            "prefix": "/envs/demo",
        },
        "packages": packages,
        "errors": [
            {"name": "ghost", "reason": "not found on any index (http://127.0.0.1:8080/simple)"}
        ],
        "summary": SUMMARY_DICT,
        "timings": {"inspect": 0.03, "scan": 0.39},
        "problems": [],
    }


def test_json_document_holds_the_outdated_packages() -> None:
    text = report_json(REPORT)
    assert text.endswith("}\n")
    document = json.loads(text)
    assert document == expected_document([BOTOCORE_DICT, REQUESTS_DICT])
    # Key order is part of what users see.
    assert list(document) == [
        "version",
        "environment",
        "packages",
        "errors",
        "summary",
        "timings",
        "problems",
    ]
    assert list(document["packages"][0]) == list(BOTOCORE_DICT)


def test_json_document_with_all() -> None:
    document = json.loads(report_json(REPORT, include_all=True))
    assert document == expected_document([BOTO3_DICT, BOTOCORE_DICT, LOCAL_DICT, REQUESTS_DICT])


def test_json_document_is_pretty_printed_and_stable() -> None:
    text = report_json(REPORT)
    assert text == json.dumps(json.loads(text), indent=2) + "\n"
    assert report_json(REPORT) == text


def test_json_document_of_an_empty_report() -> None:
    empty = Report(ENV, (), (), Summary(0, 0, 0, 0.0))
    assert json.loads(report_json(empty)) == {
        "version": 1,
        "environment": {
            "python": "/envs/demo/bin/python",
            "python_version": "3.11.7",
            "prefix": "/envs/demo",
        },
        "packages": [],
        "errors": [],
        "summary": {"checked": 0, "outdated": 0, "errors": 0, "seconds": 0.0},
        "timings": {},
        "problems": [],
    }


@pytest.mark.parametrize(
    ("result", "line"),
    [
        (
            REQUESTS,
            '{"name": "requests", "installed": "2.25.0", "wanted": "2.32.3", '
            '"latest": "2.32.3", "bump": "minor", "released": "2024-05-29T15:37:47Z", '
            '"held_back_by": [], "kind": "index"}\n',
        ),
        (
            BOTOCORE,
            '{"name": "botocore", "installed": "1.34.0", "wanted": "1.34.162", '
            '"latest": "1.35.10", "bump": "minor", "released": "2024-08-30T12:00:00Z", '
            '"held_back_by": [{"name": "boto3", "version": "1.34.0", '
            '"requirement": "botocore<1.35,>=1.34.0"}], "kind": "index"}\n',
        ),
        (
            LOCAL,
            '{"name": "localpkg", "installed": "0.1", "wanted": null, "latest": null, '
            '"bump": null, "released": null, "held_back_by": [], "kind": "editable"}\n',
        ),
        (
            GHOST,
            '{"error": {"name": "ghost", '
            '"reason": "not found on any index (http://127.0.0.1:8080/simple)"}}\n',
        ),
    ],
    ids=["outdated", "held-back", "editable", "error"],
)
def test_jsonl_result_lines(result: PackageStatus | ProjectError, line: str) -> None:
    assert jsonl_result(result) == line


def test_jsonl_summary_line() -> None:
    assert jsonl_summary(REPORT) == (
        '{"summary": {"checked": 5, "outdated": 2, "errors": 1, "seconds": 0.42}}\n'
    )


def test_freeze_lines_name_the_wanted_version() -> None:
    # botocore is held back: its consistent target is wanted, not latest.
    assert freeze_lines(REPORT) == "botocore==1.34.162\nrequests==2.32.3\n"


def test_freeze_lines_of_a_report_without_outdated_packages() -> None:
    assert freeze_lines(Report(ENV, (BOTO3, LOCAL), (), Summary(2, 0, 0, 0.1))) == ""


def test_freeze_lines_never_pin_a_held_or_lower_version() -> None:
    held = PackageStatus("mpmath", "1.2.1", "1.4.1", "1.2.1", "minor", None)
    down = PackageStatus("b", "2.0", "2.0", "1.6", "pre", None)
    legacy = PackageStatus("old", "2004d", "1.0", "1.0", "unknown", None)
    report = Report(ENV, (held, down, legacy), (), Summary(3, 3, 0, 0.1))
    assert freeze_lines(report) == "old==1.0\n"
