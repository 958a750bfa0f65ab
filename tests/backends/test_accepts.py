"""plugins.ACCEPTS writes out what each backend checks; it must say what the backend
classes themselves say, and reading the files must not load the backends' libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bridge.backends.kerberos import KerberosBackend
from bridge.backends.ldap import LdapBackend
from bridge.backends.oidc import OidcBackend
from bridge.backends.pam import PamBackend
from bridge.backends.peer import PeerBackend
from bridge.backends.store import StoreBackend
from bridge.plugins import ACCEPTS, PLUGINS

BACKENDS = (StoreBackend, PamBackend, LdapBackend, KerberosBackend, PeerBackend, OidcBackend)


def test_accepts_is_what_each_backend_class_accepts() -> None:
    assert {backend.name: backend.accepts for backend in BACKENDS} == ACCEPTS
    assert {spec.backend for spec in PLUGINS.values()} <= set(ACCEPTS)


def test_reading_the_files_loads_no_ldap_kerberos_or_oidc_library(tmp_path: Path) -> None:
    """What check and a reload's child import for a configuration that uses none of them."""
    probe = (
        "import sys; import bridge.checks, bridge.reloadproc; "
        "print(sorted(m for m in ('ldap3', 'gssapi', 'jwt') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=root, check=True
    )
    assert done.stdout.strip() == "[]"
