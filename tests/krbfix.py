"""The Kerberos realm the Kerberos tests log in to (an MIT KDC, see sandbox/kdc.py): its user
principals and their passwords. The service principal mysql/localhost is added per test
with Kdc.service_keytab."""

from __future__ import annotations

PRINCIPALS = {
    "alice": "alice-krb",
    "bob": "bob-krb",
    "karl": "karl-krb",
    "dave": "dave-krb",
    "erin": "erin-krb",
}
