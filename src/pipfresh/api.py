"""The public Python API: blocking and streaming scans."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from pipfresh.models import PackageStatus, ProjectError, Report
from pipfresh.scan import iter_results, prepare, run
from pipfresh.settings import UpgradeConfig


def check_outdated(
    python: str | None = None,
    config: UpgradeConfig | None = None,
    *,
    names: Iterable[str] = (),
) -> Report:
    """Scan an environment and return the full report (blocking).

    Args:
        python: an interpreter path, a virtual environment folder, or a version
            such as ``"3.12"``. ``None`` finds the environment as the CLI does:
            ``$VIRTUAL_ENV``, ``$CONDA_PREFIX``, a ``.venv`` here or in a parent,
            then ``python3`` on PATH.
        config: index, cache and selection settings; whatever is left unset comes
            from ``PIPFRESH_*`` variables, ``[tool.pipfresh]`` in the nearest
            pyproject.toml, the user config file, and pip's own configuration for
            the indexes.
        names: only check these installed projects.

    Raises:
        PipfreshError: the target cannot be used or a setting is invalid. Projects
            that cannot be checked do not raise: they are listed in ``Report.errors``.

    Must not be called from a running event loop; use :func:`stream_outdated` there.
    """
    scan = prepare(python, config, names=names)
    return run(scan)


async def stream_outdated(
    python: str | None = None,
    config: UpgradeConfig | None = None,
    *,
    names: Iterable[str] = (),
) -> AsyncIterator[PackageStatus | ProjectError]:
    """Yield one result per installed project as soon as its index answer arrives.

    A :class:`PackageStatus` (check ``.outdated``) or a :class:`ProjectError`.
    Arguments are those of :func:`check_outdated`.
    """
    scan = prepare(python, config, names=names)
    async for result in iter_results(scan):
        yield result
