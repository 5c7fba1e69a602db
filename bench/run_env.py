"""What every benchmark records about its run: the commit, whether the measured files differ from it,
library versions and the CPU model (each benchmark picks its own keys and libraries from these)."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> str:
    """The stripped output of ``git ARGS`` run in the repository ("" when git fails)."""
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def commit() -> str:
    """The checked-out commit (40 hex digits)."""
    return git("rev-parse", "HEAD")


def files_dirty(paths) -> bool:
    """Whether any of ``paths`` (files or folders of the repository) differs from the commit."""
    return bool(git("status", "--porcelain", "--", *paths))


def library_versions(names) -> dict[str, str | None]:
    """Installed version of each distribution name (None when it is not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
