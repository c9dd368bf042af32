"""pipfresh: find and upgrade outdated packages in a Python environment.

Blocking use::

    from pipfresh import UpgradeConfig, check_outdated

    report = check_outdated(python=".venv", config=UpgradeConfig(concurrency=20))
    for pkg in report.outdated:
        print(pkg.name, pkg.installed, pkg.wanted, pkg.latest, pkg.bump)

Streaming use (results arrive as the indexes answer)::

    async for result in stream_outdated(python=".venv"):
        ...  # a PackageStatus, or a ProjectError for a project that could not be checked
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "Holder",
    "PackageStatus",
    "PipfreshError",
    "ProjectError",
    "Report",
    "Summary",
    "TargetEnv",
    "UpgradeConfig",
    "__version__",
    "check_outdated",
    "stream_outdated",
]

# Imports are lazy so that `pipfresh --version` and `--help` do not pay for
# packaging and aiohttp.
if TYPE_CHECKING:
    from pipfresh.api import check_outdated, stream_outdated
    from pipfresh.errors import PipfreshError
    from pipfresh.models import Holder, PackageStatus, ProjectError, Report, Summary, TargetEnv
    from pipfresh.settings import UpgradeConfig

_LAZY = {
    "check_outdated": "pipfresh.api",
    "stream_outdated": "pipfresh.api",
    "PipfreshError": "pipfresh.errors",
    "Holder": "pipfresh.models",
    "PackageStatus": "pipfresh.models",
    "ProjectError": "pipfresh.models",
    "Report": "pipfresh.models",
    "Summary": "pipfresh.models",
    "TargetEnv": "pipfresh.models",
    "UpgradeConfig": "pipfresh.settings",
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
