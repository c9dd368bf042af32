"""Frozen data shared by every layer: what is installed, what an index offers, what we report.

Values here are plain and cheap to build. Parsing into packaging objects (Version,
SpecifierSet, Tag) happens lazily in :mod:`pipfresh.select`, because a large index
page has tens of thousands of files and only the newest few matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import msgspec

Kind = Literal["index", "editable", "direct_url"]
Bump = Literal["major", "minor", "patch", "pre", "unknown"]
# How far a version may move from the installed one (npm-check-updates' --target).
Target = Literal["latest", "minor", "patch"]
TARGETS: tuple[Target, ...] = ("latest", "minor", "patch")
_T = TypeVar("_T")


# JSON ``null``: what an absent hashes or metadata field reads as.
_NULL = msgspec.Raw(b"null")
_hashes_decoder = msgspec.json.Decoder(dict[str, str] | None)
_metadata_decoder = msgspec.json.Decoder(bool | dict[str, str] | None)


def _json_field(raw: msgspec.Raw, decoder: msgspec.json.Decoder[_T]) -> _T | None:
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        # Not the PEP 691 shape: read as absent. No hash means the file is never
        # installed (the update refuses it); no metadata flag means the metadata is
        # read from the wheel itself. Both are safe fallbacks.
        return None


class IndexFile(msgspec.Struct, frozen=True, gc=False):
    """One downloadable file listed on a project page.

    A msgspec Struct rather than a dataclass because PEP 691 JSON pages are decoded
    straight into it (field names map to the JSON keys): a scan reads some 150,000
    file entries, and building a second object per entry cost more than decoding.

    The hashes and the PEP 658 metadata fields are kept as their JSON text and read
    when asked for: only the few files an update downloads need them, and decoding
    them for every file (a dict per file, a three-way union per field) was half the
    cost of decoding a page (``benchmarks/parse_formats.py``, "lazy fields"). Build
    files with :meth:`build`; a file that outlives its page should be
    :meth:`detached` so it does not keep the whole response body alive.
    """

    filename: str
    url: str  # absolute; may carry credentials, so never print it unredacted
    requires_python: str | None = msgspec.field(default=None, name="requires-python")
    yanked: bool | str | None = False  # PEP 592: True or a reason string means yanked
    upload_time: str | None = msgspec.field(default=None, name="upload-time")  # PEP 700
    hashes_json: msgspec.Raw = msgspec.field(default=_NULL, name="hashes")
    size: int | None = None
    core_metadata_json: msgspec.Raw = msgspec.field(default=_NULL, name="core-metadata")
    dist_info_metadata_json: msgspec.Raw = msgspec.field(
        default=_NULL, name="data-dist-info-metadata"
    )

    @classmethod
    def build(
        cls,
        filename: str,
        url: str,
        *,
        requires_python: str | None = None,
        yanked: bool | str | None = False,
        upload_time: str | None = None,
        hashes: Mapping[str, str] | None = None,
        size: int | None = None,
        core_metadata: bool | Mapping[str, str] | None = None,
        dist_info_metadata: bool | Mapping[str, str] | None = None,
    ) -> IndexFile:
        """A file from decoded values (HTML pages, find-links folders, the cache)."""
        return cls(
            filename,
            url,
            requires_python,
            yanked,
            upload_time,
            _NULL if hashes is None else msgspec.Raw(msgspec.json.encode(hashes)),
            size,
            _NULL if core_metadata is None else msgspec.Raw(msgspec.json.encode(core_metadata)),
            _NULL
            if dist_info_metadata is None
            else msgspec.Raw(msgspec.json.encode(dist_info_metadata)),
        )

    def detached(self) -> IndexFile:
        """The same file, no longer pointing into the response body it was decoded from."""
        return msgspec.structs.replace(
            self,
            hashes_json=self.hashes_json.copy(),
            core_metadata_json=self.core_metadata_json.copy(),
            dist_info_metadata_json=self.dist_info_metadata_json.copy(),
        )

    @property
    def hashes(self) -> dict[str, str] | None:
        return _json_field(self.hashes_json, _hashes_decoder)

    @property
    def core_metadata(self) -> bool | dict[str, str] | None:
        """PEP 658/714: True or the metadata file's hashes when the index serves it."""
        return _json_field(self.core_metadata_json, _metadata_decoder)

    @property
    def dist_info_metadata(self) -> bool | dict[str, str] | None:
        """The pre-PEP 714 spelling of :attr:`core_metadata`."""
        return _json_field(self.dist_info_metadata_json, _metadata_decoder)

    @property
    def is_yanked(self) -> bool:
        # An empty reason string still means yanked.
        return self.yanked is True or isinstance(self.yanked, str)

    @property
    def sha256(self) -> str | None:
        hashes = self.hashes
        return None if hashes is None else hashes.get("sha256")

    @property
    def has_metadata(self) -> bool:
        return bool(self.core_metadata or self.dist_info_metadata)


@dataclass(frozen=True, slots=True)
class ProjectPage:
    """Everything the configured indexes offer for one project, merged."""

    name: str  # canonical (PEP 503 normalised) project name
    files: tuple[IndexFile, ...]
    # PEP 700 list of every version, when every source gave one: lets selection find
    # the newest release's files without grouping the whole page.
    versions: tuple[str, ...] | None = None
    # False for a cached digest holding only some releases' files: selection answers
    # from it only when those releases decide the question (else: fetch the page).
    complete: bool = True
    # False when no file URL can be local (file:): a remote index's page, whose links
    # the parser keeps to http(s). Spares merging a look at every file of a large page
    # for local wheels whose metadata may have to be read.
    local_files: bool = field(default=True, compare=False)


@dataclass(frozen=True, slots=True)
class InstalledDist:
    """One distribution installed in the target environment (first on sys.path wins)."""

    name: str  # as written in the metadata
    canonical_name: str
    version: str  # raw; may be a legacy, non-PEP 440 string
    kind: Kind = "index"
    location: str = ""  # the sys.path entry it was found in
    requires: tuple[str, ...] = ()  # raw Requires-Dist lines
    url: str | None = None  # for editable / direct_url installs (redacted)
    metadata_dir: str = ""  # its .dist-info / .egg-info folder (or PKG-INFO-style file)


@dataclass(frozen=True, slots=True)
class TargetEnv:
    """The interpreter being scanned, as reported by one subprocess run inside it."""

    python: str  # interpreter path
    python_version: str  # full, e.g. "3.11.7"
    implementation: str  # sys.implementation.name: "cpython", "pypy", ...
    prefix: str  # sys.prefix
    sys_path: tuple[str, ...]
    markers: Mapping[str, str]  # PEP 508 marker environment
    tags: tuple[str, ...]  # supported wheel tags, best first, e.g. "cp311-cp311-linux_x86_64"
    externally_managed: bool = False  # PEP 668 marker file present
    supported: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    # Installation scheme (sysconfig): purelib, platlib, scripts, data, include.
    paths: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.supported:
            object.__setattr__(self, "supported", frozenset(self.tags))


@dataclass(frozen=True, slots=True)
class Holder:
    """An installed distribution whose requirement keeps a package from its latest release."""

    name: str
    version: str
    requirement: str


@dataclass(frozen=True, slots=True)
class PackageStatus:
    """The answer for one installed project."""

    name: str
    installed: str
    latest: str | None  # None: no installable release on any index
    wanted: str | None
    bump: Bump | None  # None when not outdated
    released: str | None  # upload time of the target release (ISO 8601), when known
    kind: Kind = "index"
    held_back_by: tuple[Holder, ...] = ()
    #: The day (YYYY-MM-DD) an ``update --test`` found that this version (wanted or
    #: latest) broke the environment's tests; None otherwise.
    broke_tests: str | None = None
    #: Upload time of the latest release, when known (``released`` is the wanted one's).
    latest_released: str | None = None

    @property
    def outdated(self) -> bool:
        return self.bump is not None


@dataclass(frozen=True, slots=True)
class Problem:
    """An installed requirement that the installed set does not satisfy (what ``pip check``
    reports): the required project is missing, or its installed version is outside the range."""

    name: str  # the distribution that has the requirement
    version: str
    requirement: str  # as written in its metadata, markers left out
    project: str  # the required project, as named in the requirement
    installed: str | None  # its installed version; None when it is not installed

    @property
    def message(self) -> str:
        head = f"{self.name} {self.version} requires {self.requirement}"
        if self.installed is None:
            return f"{head}, which is not installed"
        return f"{head}, but {self.project} {self.installed} is installed"


@dataclass(frozen=True, slots=True)
class ProjectError:
    """A project that could not be checked, with a one-line reason."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class Summary:
    checked: int
    outdated: int
    errors: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Report:
    """The result of a scan: what the CLI renders and the API returns."""

    environment: TargetEnv
    packages: tuple[PackageStatus, ...]  # every checked project, in name order
    errors: tuple[ProjectError, ...]
    summary: Summary
    timings: Mapping[str, float] = field(default_factory=dict)
    # Requirements the installed set already breaks, found before any index was asked.
    problems: tuple[Problem, ...] = ()

    @property
    def outdated(self) -> tuple[PackageStatus, ...]:
        return tuple(p for p in self.packages if p.outdated)
