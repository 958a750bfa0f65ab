"""The Active Directory domain the AD tests log in to (a Samba AD DC, see
sandbox/samba.py): users, nested groups (alice is in dbas, dbas is in dbadmins), a
disabled user, a user who must change the password, one to lock out, and the service
account the bridge searches as, which also holds the SPN mysql/localhost."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.samba import BASE, AdGroup, AdUser, SambaDC

SERVICE = AdUser("svc-mysql", "Svc-mysql-pw-1", spns=("mysql/localhost",))
AD_USERS = [
    AdUser("alice", "Alice-ad-pw-1", groups=("dbas",)),
    AdUser("bob", "Bob-ad-pw-1", groups=("readers",)),
    AdUser("carl", "Carl-ad-pw-1", groups=("readers",)),
    AdUser("erin", "Erin-ad-pw-1"),
    AdUser("dana", "Dana-ad-pw-1", groups=("readers",), disabled=True),
    AdUser("chris", "Chris-ad-pw-1", groups=("readers",), must_change=True),
    AdUser("lou", "Lou-ad-pw-1", groups=("readers",)),
    SERVICE,
]
AD_GROUPS = [AdGroup("dbas", member_of=("dbadmins",)), AdGroup("dbadmins"), AdGroup("readers")]
PASSWORDS = {u.name: u.password for u in AD_USERS}
# AD settings as docs/ldap.md gives them (the group filter for AD's 'group' class).
GROUP_FILTER = "(&(objectClass=group)(member={dn}))"
# Generous: one samba process serves LDAP and the KDC, on 2 cores shared with other work.
TIMEOUTS = {"connect_timeout": 5.0, "response_timeout": 10.0}


def ad_settings(directory: Path, dc: SambaDC, *servers: str, **extra: object) -> dict[str, object]:
    secret = directory / "ad-bind.secret"
    secret.write_text(SERVICE.password + "\n")
    os.chmod(secret, 0o600)
    return {"servers": list(servers), "ca": str(dc.certs.ca), "bind_dn": SERVICE.dn,
            "bind_password_file": str(secret), "base_dn": BASE,
            "user_search_attr": "sAMAccountName", "group_search_filter": GROUP_FILTER,
            "nested_groups": "ad", **TIMEOUTS, **extra}  # fmt: skip
