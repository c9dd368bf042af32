"""The machine-readable outputs: the version-1 JSON document, JSON lines and freeze lines.

These are public interfaces (documented in docs/json-schema.md): fields may be added,
never renamed or removed without bumping ``version``.
"""

from __future__ import annotations

import json
from collections.abc import Set
from typing import Any

from packaging.utils import canonicalize_name

from pipfresh.models import PackageStatus, Problem, ProjectError, Report, Summary, TargetEnv

SCHEMA_VERSION = 1


def package_dict(status: PackageStatus, direct: Set[str] | None = None) -> dict[str, Any]:
    """``direct``: the canonical names of the direct dependencies (``pipfresh outdated``
    knows them; other callers leave the field out)."""
    found: dict[str, Any] = {
        "name": status.name,
        "installed": status.installed,
        "wanted": status.wanted,
        "latest": status.latest,
        "bump": status.bump,
        "released": status.released,
        "held_back_by": [
            {"name": h.name, "version": h.version, "requirement": h.requirement}
            for h in status.held_back_by
        ],
        "kind": status.kind,
    }
    if direct is not None:
        found["direct"] = canonicalize_name(status.name) in direct
    if status.broke_tests:  # only when set: the documents of other scans stay as they were
        found["broke_tests"] = status.broke_tests
    return found


def error_dict(error: ProjectError) -> dict[str, Any]:
    return {"name": error.name, "reason": error.reason}


def problem_dict(problem: Problem) -> dict[str, Any]:
    return {
        "name": problem.name,
        "version": problem.version,
        "requirement": problem.requirement,
        "project": problem.project,
        "installed": problem.installed,
    }


def environment_dict(target: TargetEnv) -> dict[str, Any]:
    return {
        "python": target.python,
        "python_version": target.python_version,
        "prefix": target.prefix,
    }


def summary_dict(summary: Summary) -> dict[str, Any]:
    return {
        "checked": summary.checked,
        "outdated": summary.outdated,
        "errors": summary.errors,
        "seconds": summary.seconds,
    }


def report_json(
    report: Report, *, include_all: bool = False, direct: Set[str] | None = None
) -> str:
    packages = report.packages if include_all else report.outdated
    document = {
        "version": SCHEMA_VERSION,
        "environment": environment_dict(report.environment),
        "packages": [package_dict(p, direct) for p in packages],
        "errors": [error_dict(e) for e in report.errors],
        "summary": summary_dict(report.summary),
        "timings": dict(report.timings),
        # Added after the first release of version 1, so it comes last.
        "problems": [problem_dict(p) for p in report.problems],
    }
    return json.dumps(document, indent=2) + "\n"


def jsonl_result(result: PackageStatus | ProjectError, direct: Set[str] | None = None) -> str:
    """One line per project: a package object, or ``{"error": {...}}`` for a failed one."""
    if isinstance(result, ProjectError):
        return json.dumps({"error": error_dict(result)}) + "\n"
    return json.dumps(package_dict(result, direct)) + "\n"


def jsonl_summary(report: Report) -> str:
    return json.dumps({"summary": summary_dict(report.summary)}) + "\n"


def freeze_lines(report: Report) -> str:
    """``name==wanted`` for each package that can move up, for a requirements file.

    A package held where it is (wanted == installed), or one that only an already
    inconsistent environment would move down, is left out: the file must never
    ask for a downgrade.
    """
    from pipfresh.select import parse_version

    lines = []
    for p in report.outdated:
        wanted = parse_version(p.wanted) if p.wanted else None
        installed = parse_version(p.installed)
        if wanted is not None and (installed is None or wanted > installed):
            lines.append(f"{p.name}=={p.wanted}\n")
    return "".join(lines)
