"""Errors raised by pipfresh.

Every error pipfresh raises derives from :class:`PipfreshError`; exceptions of the
libraries it uses (aiohttp, subprocess, json, ...) are translated where they enter
and never reach the user::

    PipfreshError
    ├── UsageError            bad command-line or configuration input (exit 2)
    ├── TargetError           the target interpreter cannot be found or inspected
    ├── ConfigError           a pip or pipfresh configuration file cannot be used
    ├── BumpInputError        a dependency file ``bump`` cannot read, parse or write (exit 2)
    ├── UpdateError           ``update`` could not be completed
    │   ├── UpdateAborted     stopped before the environment was touched (exit 3)
    │   ├── RolledBack        failed, and the previous versions were restored (exit 4)
    │   ├── RollbackFailed    failed, and the previous versions could not all be restored
    │   └── CorruptJournal    the journal of an interrupted update cannot be used
    └── IndexError_           one project could not be answered by the index(es)
        ├── NotFound          no index knows the project
        ├── HTTPStatusError   an index answered with an HTTP error status
        ├── NetworkError      connection refused/reset, TLS failure, timeout
        ├── MalformedPage     the index answered something that is not an index page
        └── HashMismatch      a downloaded file does not match the index's sha256

Per-project errors (``IndexError_`` and subclasses) are collected in the report;
the others end the run with a one-line message.
"""

from __future__ import annotations


class PipfreshError(Exception):
    """Root of every error pipfresh raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(PipfreshError):
    """The user asked for something that cannot be done as asked."""


class TargetError(PipfreshError):
    """The target environment cannot be found or inspected."""

    def __init__(self, message: str, *, python: str | None = None) -> None:
        super().__init__(message)
        self.python = python


class ConfigError(PipfreshError):
    """A configuration file or setting is unusable."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class IndexError_(PipfreshError):
    """One project could not be answered; recorded in the report, not fatal."""

    def __init__(self, message: str, *, project: str, url: str | None = None) -> None:
        super().__init__(message)
        self.project = project
        self.url = url  # already redacted


class NotFound(IndexError_):
    """No configured index knows the project."""


class NotOnAnyIndex(NotFound):
    """No source has the project; ``missing``: the indexes that answered 404 (which
    the cache remembers, as it remembers pages)."""

    def __init__(self, message: str, *, project: str, missing: tuple[str, ...]) -> None:
        super().__init__(message, project=project)
        self.missing = missing


class HTTPStatusError(IndexError_):
    """An index answered with an HTTP error status."""

    def __init__(self, message: str, *, project: str, url: str | None, status: int) -> None:
        super().__init__(message, project=project, url=url)
        self.status = status


class NetworkError(IndexError_):
    """The index could not be reached or stopped answering."""


class MalformedPage(IndexError_):
    """The index answered with something that is not a usable project page."""


class HashMismatch(IndexError_):
    """A downloaded file's sha256 is not the one the index lists for it."""

    def __init__(
        self, message: str, *, project: str, url: str | None, expected: str, actual: str
    ) -> None:
        super().__init__(message, project=project, url=url)
        self.expected = expected
        self.actual = actual


class UpdateError(PipfreshError):
    """``pipfresh update`` could not be completed."""


class UpdateAborted(UpdateError):
    """The update stopped before the environment was touched (a download failed, a
    hash did not match, ...)."""


class RolledBack(UpdateError):
    """The update failed or was interrupted; the previous versions were restored."""

    def __init__(self, message: str, *, output: str = "") -> None:
        super().__init__(message)
        self.output = output  # the installer's output, when it failed


class RollbackFailed(UpdateError):
    """The update failed and the previous versions could not all be restored."""

    def __init__(self, message: str, *, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class CorruptJournal(UpdateError):
    """The journal an interrupted update left behind cannot be read or trusted."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
