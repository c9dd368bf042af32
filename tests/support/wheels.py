"""Build real wheels and sdists in milliseconds, with the standard library only.

Wheels are written directly with :mod:`zipfile` (valid ``METADATA``, ``WHEEL`` and a
``RECORD`` with sha256 digests and sizes), so pip and uv install them without
complaint. Sdists carry a tiny in-tree PEP 517 backend (``backend-path = ["."]``,
no build requirements), so building them needs neither setuptools nor network.

Output is deterministic: the same arguments always give byte-identical files (fixed
timestamps, sorted members), which keeps hashes stable across a session.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "WheelFactory",
    "build_sdist",
    "build_wheel",
    "dist_filename_name",
    "import_name",
    "metadata_text",
    "wheel_filename",
]

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FIXED_TAR_MTIME = 315532800  # 1980-01-01, as in the zip members


# --------------------------------------------------------------------------------------
# Stdlib-only core. The source of the functions in this block is copied verbatim into
# every sdist's `_backend.py` (see `_backend_source`), so they may use only the
# modules `base64`, `hashlib`, `re` and `zipfile`, and only each other.
# --------------------------------------------------------------------------------------


def _core_escape(component: str) -> str:
    """Escape a name or version for use in a wheel/sdist filename (PEP 427/625)."""
    return re.sub(r"[-_.]+", "_", component).lower()


def _core_escape_version(version: str) -> str:
    return re.sub(r"[-]+", "_", version)


def _core_metadata(
    name: str,
    version: str,
    requires: list[str],
    requires_python: str | None,
) -> str:
    lines = ["Metadata-Version: 2.1", "Name: " + name, "Version: " + version]
    if requires_python is not None:
        lines.append("Requires-Python: " + requires_python)
    extras: list[str] = []
    for requirement in requires:
        for extra in re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", requirement):
            if extra not in extras:
                extras.append(extra)
    lines.extend("Provides-Extra: " + extra for extra in extras)
    lines.extend("Requires-Dist: " + requirement for requirement in requires)
    return "\n".join(lines) + "\n\n"


def _core_expand_tag(tag: str) -> list[str]:
    interpreters, abis, platforms = tag.split("-")
    return [
        f"{i}-{a}-{p}"
        for i in interpreters.split(".")
        for a in abis.split(".")
        for p in platforms.split(".")
    ]


def _core_wheel_bytes(
    name: str,
    version: str,
    *,
    requires: list[str],
    requires_python: str | None,
    tag: str,
    files: dict[str, str],
) -> tuple[str, bytes]:
    """Return (filename, content) of a wheel. Deterministic for equal arguments."""
    dist = _core_escape(name)
    escaped_version = _core_escape_version(version)
    dist_info = dist + "-" + escaped_version + ".dist-info"
    purelib = tag.split("-")[1:] == ["none", "any"]
    wheel_lines = [
        "Wheel-Version: 1.0",
        "Generator: pipfresh-tests",
        "Root-Is-Purelib: " + ("true" if purelib else "false"),
    ]
    wheel_lines.extend("Tag: " + expanded for expanded in _core_expand_tag(tag))
    members: dict[str, str] = {dist + "/__init__.py": "__version__ = " + repr(version) + "\n"}
    members.update(files)
    members[dist_info + "/METADATA"] = _core_metadata(name, version, requires, requires_python)
    members[dist_info + "/WHEEL"] = "\n".join(wheel_lines) + "\n"
    record_path = dist_info + "/RECORD"
    record: list[str] = []
    buffer = io_bytes()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(members, key=lambda p: (p.startswith(dist_info + "/"), p)):
            data = members[path].encode("utf-8")
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(path + ",sha256=" + digest.decode("ascii") + "," + str(len(data)))
        record.append(record_path + ",,")
        info = zipfile.ZipInfo(record_path, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, "\n".join(record) + "\n")
    filename = dist + "-" + escaped_version + "-" + tag + ".whl"
    return filename, buffer.getvalue()


def io_bytes() -> io.BytesIO:
    """A BytesIO (a named function so the backend template can provide its own)."""
    return io.BytesIO()


_CORE_FUNCTIONS = (
    _core_escape,
    _core_escape_version,
    _core_metadata,
    _core_expand_tag,
    _core_wheel_bytes,
    io_bytes,
)


# --------------------------------------------------------------------------------------
# Public helpers
# --------------------------------------------------------------------------------------


def dist_filename_name(name: str) -> str:
    """The name as it appears in a wheel or sdist filename: ``Foo.Bar-baz`` -> ``foo_bar_baz``."""
    return _core_escape(name)


def import_name(name: str) -> str:
    """The top-level package a built distribution contains (same as the filename name)."""
    return _core_escape(name)


def metadata_text(
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
) -> str:
    """The core metadata (``METADATA`` / ``PKG-INFO``) text the builders write."""
    return _core_metadata(name, version, list(requires), requires_python)


def wheel_filename(name: str, version: str, tag: str = "py3-none-any") -> str:
    """The filename :func:`build_wheel` gives to these arguments."""
    return f"{_core_escape(name)}-{_core_escape_version(version)}-{tag}.whl"


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    tag: str = "py3-none-any",
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write a wheel into ``dest`` and return its path.

    The wheel holds ``<name>/__init__.py`` (with ``__version__``) plus ``files``
    (paths relative to the wheel root, e.g. ``{"foo/cli.py": "..."}``), and a
    ``.dist-info`` with METADATA (Metadata-Version 2.1, Requires-Dist,
    Requires-Python, Provides-Extra for extras used in markers), WHEEL and RECORD.
    ``tag`` may be a compressed tag set such as ``py2.py3-none-any``.
    """
    if tag.count("-") != 2:
        raise ValueError(f"tag must look like 'py3-none-any', got {tag!r}")
    filename, data = _core_wheel_bytes(
        name,
        version,
        requires=list(requires),
        requires_python=requires_python,
        tag=tag,
        files=dict(files or {}),
    )
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / filename
    path.write_bytes(data)
    return path


def _backend_source(
    name: str, version: str, requires: Sequence[str], requires_python: str | None, broken: bool
) -> str:
    core = "\n\n".join(inspect.getsource(function) for function in _CORE_FUNCTIONS)
    config = json.dumps(
        {
            "name": name,
            "version": version,
            "requires": list(requires),
            "requires_python": requires_python,
            "broken": broken,
        }
    )
    return f'''\
"""In-tree PEP 517 backend written by pipfresh's test support. Standard library only."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
import zipfile

CONFIG = json.loads({config!r})


{core}


def _sources():
    files = {{}}
    for root, _dirs, names in os.walk("."):
        for file_name in names:
            path = os.path.relpath(os.path.join(root, file_name), ".").replace(os.sep, "/")
            top = path.split("/")[0]
            if path.endswith(".py") and top == _core_escape(CONFIG["name"]):
                with open(path, encoding="utf-8") as handle:
                    files[path] = handle.read()
    return files


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist_info = (
        _core_escape(CONFIG["name"]) + "-" + _core_escape_version(CONFIG["version"]) + ".dist-info"
    )
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    text = _core_metadata(
        CONFIG["name"], CONFIG["version"], CONFIG["requires"], CONFIG["requires_python"]
    )
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w") as handle:
        handle.write(text)
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if CONFIG["broken"]:
        raise RuntimeError("this sdist is broken on purpose (pipfresh test support)")
    filename, data = _core_wheel_bytes(
        CONFIG["name"],
        CONFIG["version"],
        requires=CONFIG["requires"],
        requires_python=CONFIG["requires_python"],
        tag="py3-none-any",
        files=_sources(),
    )
    with open(os.path.join(wheel_directory, filename), "wb") as handle:
        handle.write(data)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    base = _core_escape(CONFIG["name"]) + "-" + CONFIG["version"]
    filename = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as archive:
        for root, _dirs, names in os.walk("."):
            for file_name in sorted(names):
                path = os.path.relpath(os.path.join(root, file_name), ".")
                archive.add(path, arcname=base + "/" + path.replace(os.sep, "/"))
    return filename
'''


def build_sdist(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    broken: bool = False,
) -> Path:
    """Write a ``.tar.gz`` sdist into ``dest`` and return its path.

    The sdist builds offline with pip or uv through an in-tree backend that needs no
    build requirements. With ``broken=True`` its metadata can still be prepared but
    ``build_wheel`` raises, so an installer fails in the middle of an install.
    """
    base = f"{_core_escape(name)}-{version}"
    members = {
        "PKG-INFO": _core_metadata(name, version, list(requires), requires_python),
        "pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "_backend"\nbackend-path = ["."]\n'
        ),
        "_backend.py": _backend_source(name, version, requires, requires_python, broken),
        f"{_core_escape(name)}/__init__.py": f"__version__ = {version!r}\n",
    }
    buffer = io.BytesIO()
    # mtime=0 in the gzip header keeps the archive byte-identical across builds.
    with (
        _gzip_writer(buffer) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        directory = tarfile.TarInfo(base)
        directory.type = tarfile.DIRTYPE
        directory.mode = 0o755
        directory.mtime = _FIXED_TAR_MTIME
        archive.addfile(directory)
        for relative in sorted(members):
            data = members[relative].encode("utf-8")
            info = tarfile.TarInfo(f"{base}/{relative}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = _FIXED_TAR_MTIME
            archive.addfile(info, io.BytesIO(data))
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{base}.tar.gz"
    path.write_bytes(buffer.getvalue())
    return path


def _gzip_writer(buffer: io.BytesIO) -> io.BufferedIOBase:
    import gzip

    return gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="")


class WheelFactory:
    """Builds wheels (``factory(...)``) and sdists (``factory.sdist(...)``) once per
    distinct arguments, each into its own folder under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[tuple[object, ...], Path] = {}

    def _dest(self, key: tuple[object, ...]) -> Path:
        return self.root / hashlib.sha256(repr(key).encode()).hexdigest()[:16]

    def __call__(
        self,
        name: str,
        version: str,
        *,
        requires: Sequence[str] = (),
        requires_python: str | None = None,
        tag: str = "py3-none-any",
        files: Mapping[str, str] | None = None,
    ) -> Path:
        key = (
            "wheel",
            name,
            version,
            tuple(requires),
            requires_python,
            tag,
            tuple(sorted((files or {}).items())),
        )
        if key not in self._built:
            self._built[key] = build_wheel(
                self._dest(key),
                name,
                version,
                requires=requires,
                requires_python=requires_python,
                tag=tag,
                files=files,
            )
        return self._built[key]

    def sdist(
        self,
        name: str,
        version: str,
        *,
        requires: Sequence[str] = (),
        requires_python: str | None = None,
        broken: bool = False,
    ) -> Path:
        key = ("sdist", name, version, tuple(requires), requires_python, broken)
        if key not in self._built:
            self._built[key] = build_sdist(
                self._dest(key),
                name,
                version,
                requires=requires,
                requires_python=requires_python,
                broken=broken,
            )
        return self._built[key]
