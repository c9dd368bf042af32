"""pipfresh: find and upgrade outdated packages in a Python environment.

Blocking use::

    from pipfresh import UpgradeConfig, check_outdated, update

    report = check_outdated(python=".venv", config=UpgradeConfig(concurrency=20))
    for pkg in report.outdated:
        print(pkg.name, pkg.installed, pkg.wanted, pkg.latest, pkg.bump)

    result = update(python=".venv")  # plan, download, install, verify; rolls back on failure
    for change in result.results:
        print(change.name, change.before, "->", change.after)

Streaming use (results arrive as the indexes answer)::

    async for result in stream_outdated(python=".venv"):
        ...  # a PackageStatus, or a ProjectError for a project that could not be checked

Raising the pins of dependency files (``pipfresh bump``)::

    report = bump(["requirements.txt", "pyproject.toml"])
    for pin in report.changes:
        print(report.where(pin), pin.name, pin.now, "->", pin.proposed)
    apply(report)  # only the version text changes; every file atomically, or none
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "Addition",
    "BumpInputError",
    "BumpReport",
    "Change",
    "ChangeResult",
    "Dropped",
    "Holder",
    "PackageStatus",
    "PinResult",
    "PipfreshError",
    "Plan",
    "ProjectError",
    "Report",
    "Summary",
    "TargetEnv",
    "UpdateResult",
    "UpgradeConfig",
    "__version__",
    "apply",
    "bump",
    "check_outdated",
    "stream_outdated",
    "update",
]

# Imports are lazy so that `pipfresh --version` and `--help` do not pay for
# packaging and aiohttp.
if TYPE_CHECKING:
    from pipfresh._bump.model import BumpInputError
    from pipfresh._bump.report import BumpReport, PinResult
    from pipfresh.api import UpdateResult, apply, bump, check_outdated, stream_outdated, update
    from pipfresh.errors import PipfreshError
    from pipfresh.models import Holder, PackageStatus, ProjectError, Report, Summary, TargetEnv
    from pipfresh.plan import Addition, Change, Dropped, Plan
    from pipfresh.settings import UpgradeConfig
    from pipfresh.upgrade import ChangeResult

# The bump engine is the private subpackage ``pipfresh._bump``: a subpackage named
# ``pipfresh.bump`` would, once imported, become the attribute ``pipfresh.bump`` and
# hide the function of that name (``__getattr__`` is asked only for missing names).
_LAZY = {
    "apply": "pipfresh.api",
    "bump": "pipfresh.api",
    "BumpInputError": "pipfresh._bump.model",
    "BumpReport": "pipfresh._bump.report",
    "PinResult": "pipfresh._bump.report",
    "check_outdated": "pipfresh.api",
    "stream_outdated": "pipfresh.api",
    "update": "pipfresh.api",
    "UpdateResult": "pipfresh.api",
    "PipfreshError": "pipfresh.errors",
    "Holder": "pipfresh.models",
    "PackageStatus": "pipfresh.models",
    "ProjectError": "pipfresh.models",
    "Report": "pipfresh.models",
    "Summary": "pipfresh.models",
    "TargetEnv": "pipfresh.models",
    "Addition": "pipfresh.plan",
    "Change": "pipfresh.plan",
    "Dropped": "pipfresh.plan",
    "Plan": "pipfresh.plan",
    "UpgradeConfig": "pipfresh.settings",
    "ChangeResult": "pipfresh.upgrade",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipfresh' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
