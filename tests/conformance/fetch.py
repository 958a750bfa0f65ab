"""Getting the suites: the pinned sdists from PyPI (`pip download --no-binary :all:`), cached
in a directory CI can keep, unpacked per run, and a virtualenv with those very sdists built and
installed, so each suite tests the release it came with."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.conformance.suites import Suite

CACHE = Path(os.environ.get("CONFORMANCE_CACHE", "~/.cache/mysql-auth-bridge/conformance"))


def cache_dir() -> Path:
    path = CACHE.expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def sdist(suite: Suite) -> Path:
    """The suite's sdist in the cache, downloaded the first time."""
    downloads = cache_dir() / "sdists"
    found = _cached(downloads, suite.requirement)
    if found is None:
        _pip("download", "--no-binary", ":all:", "--no-deps", "-d", str(downloads),
             suite.requirement)  # fmt: skip
        found = _cached(downloads, suite.requirement)
    if found is None:
        raise FileNotFoundError(f"pip download {suite.requirement} left no sdist in {downloads}")
    return found


def _cached(downloads: Path, requirement: str) -> Path | None:
    name, version = requirement.split("==")
    marker = f"-{version}.tar.gz"
    if not downloads.is_dir():
        return None
    for path in downloads.iterdir():
        project, found, _ = path.name.partition(marker)
        if found and _normal(project) == _normal(name):
            return path
    return None


def _normal(project: str) -> str:
    """A project name as PEP 503 compares them (PyMySQL, pymysql; mysql-connector, _)."""
    return re.sub(r"[-_.]+", "-", project).lower()


def unpack(archive: Path, into: Path) -> Path:
    """The sdist's top directory, unpacked under `into`."""
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(into, filter="data")
    return into / top


def venv(suite: Suite) -> Path:
    """The python of a virtualenv with the suite's sdist built and installed, and its helpers
    (cached by the pins)."""
    archive = sdist(suite)
    key = hashlib.sha256("\n".join([archive.name, *suite.helpers]).encode()).hexdigest()
    path = cache_dir() / f"venv-{suite.name}-{key[:12]}"
    python = path / "bin" / "python"
    if not (path / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
        _pip("install", str(archive), *suite.helpers, python=python)
        (path / ".complete").touch()
    return python


def _pip(*args: str, python: Path | None = None) -> None:
    command = [str(python or sys.executable), "-m", "pip", "-q", "--disable-pip-version-check",
               *args]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
