"""A real slapd for the LDAP tests (shared by the backend and the integration tests)."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.certs import CertSet
from sandbox.ldap import PEOPLE, SERVICE_DN, Person, Slapd

PEOPLE_LIST = [
    Person("alice", "alice-ldap", posix_groups=("dbadmins",)),
    Person("bob", "bob-ldap", named_groups=("readers",)),
    Person("dave", "dave-ldap", posix_groups=("dbadmins",), named_groups=("readers",)),
    Person("carol", "carol-ldap"),
    Person("admin", "admin-ldap", named_groups=("admins",)),
]
SERVICE_PASSWORD = "bridge-service-pw"


def start_slapd(
    base: Path, certs: CertSet, other_suffixes: tuple[str, ...] = (), debug: str = "0"
) -> Slapd:
    return Slapd.start(base, certs, PEOPLE_LIST, SERVICE_PASSWORD, other_suffixes, debug)


def ldap_settings(
    directory: Path, certs: CertSet, *servers: str, **extra: object
) -> dict[str, object]:
    secret = directory / "ldap-bind.secret"
    secret.write_text(SERVICE_PASSWORD + "\n")
    os.chmod(secret, 0o600)
    return {"servers": list(servers), "ca": str(certs.ca), "bind_dn": SERVICE_DN,
            "bind_password_file": str(secret), "base_dn": "dc=example,dc=com",
            "connect_timeout": 1.0, "response_timeout": 1.0, **extra}  # fmt: skip


__all__ = ["PEOPLE", "PEOPLE_LIST", "SERVICE_PASSWORD", "ldap_settings", "start_slapd"]
