"""What the upstream's greeting says it is: MariaDB or MySQL, and which release. Pure."""

from __future__ import annotations

import re

# MariaDB 10.x sends "5.5.5-10.11.6-MariaDB...", the prefix old clients needed
_VERSION = re.compile(r"(?:5\.5\.5-)?(\d+)\.(\d+)\.(\d+)")


def is_mariadb(server_version: str) -> bool:
    return "mariadb" in server_version.lower()


def release(server_version: str) -> tuple[int, int, int] | None:
    """(major, minor, patch), or None when the version string has none."""
    found = _VERSION.match(server_version)
    if found is None:
        return None
    major, minor, patch = (int(n) for n in found.groups())
    return major, minor, patch
