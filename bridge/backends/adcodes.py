"""Active Directory's reasons for a refused simple bind.

AD (and Samba's AD DC) answers every refused bind with invalidCredentials (49) and puts the
real reason in the diagnostic message as a Windows error code after `data`:
`80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 52e, v4563`.
The code goes to the log and the audit record; what the client sees is mysqld's answer for
the nearest case: 1045 for all of them, except a password that was right but must be changed
first (773, 532), which is ER_MUST_CHANGE_PASSWORD_LOGIN (1862), as mysqld answers an expired
password. AD only reports 773 and 532 after checking the password, so 1862 tells nothing to
someone who does not know it.
"""

from __future__ import annotations

import re
from typing import Any

from bridge.errors import Denied, PasswordChangeRequired

# Windows error code (hex, as AD writes it) -> what it means
BIND_REFUSALS: dict[str, str] = {
    "525": "no such user",
    "52e": "wrong password",
    "530": "not permitted to log on at this time",
    "531": "not permitted to log on from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "password must be changed",
    "775": "account locked out",
}
MUST_CHANGE = frozenset({"532", "773"})
_DATA = re.compile(r"\bdata ([0-9a-fA-F]{1,8})\b")


def ad_code(message: str) -> str | None:
    """The `data` code of an AD diagnostic message, lower case, or None."""
    found = _DATA.search(message)
    return found.group(1).lower() if found else None


def bind_refusal(dn: str, result: dict[str, Any]) -> Denied:
    """The Denied to raise for a refused user bind, with AD's reason when it gave one."""
    code = ad_code(str(result.get("message") or ""))
    what = BIND_REFUSALS.get(code or "")
    if what is None:
        reason = str(result.get("description") or "refused")
        if code is not None:
            reason += f" (AD data {code})"
    else:
        reason = f"{what} (AD data {code})"
    text = f"LDAP bind as {dn!r}: {reason}"
    return PasswordChangeRequired(text) if code in MUST_CHANGE else Denied(text)
