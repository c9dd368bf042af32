"""Target environments for the pure unit tests: what the inspection script reports."""

from __future__ import annotations

#: A Linux CPython 3.11 target: the full PEP 508 marker environment.
LINUX_311_MARKERS: dict[str, str] = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.7",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "6.1.0",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.11.7",
    "python_version": "3.11",
    "sys_platform": "linux",
}
