"""AD's bind sub-codes, read from the diagnostic message as AD and Samba write it."""

from __future__ import annotations

import pytest

from bridge.backends.adcodes import BIND_REFUSALS, ad_code, bind_refusal
from bridge.errors import Denied, PasswordChangeRequired

DN = "CN=bob,CN=Users,DC=ad,DC=test"


def ad_result(code: str) -> dict[str, object]:
    """A refused bind as Samba 4.17 answered it (Windows writes another DSID and v-number)."""
    message = f"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {code}, v1db1"
    return {"result": 49, "description": "invalidCredentials", "message": message}


@pytest.mark.parametrize(
    ("code", "reason"),
    [("52e", "wrong password"), ("533", "account disabled"), ("775", "account locked out"),
     ("525", "no such user"), ("701", "account expired"), ("530", "not permitted to log on at this time")],
)  # fmt: skip
def test_refusals_are_denials_with_the_reason(code: str, reason: str) -> None:
    denied = bind_refusal(DN, ad_result(code))
    assert type(denied) is Denied
    assert denied.reason == f"LDAP bind as {DN!r}: {reason} (AD data {code})"


@pytest.mark.parametrize("code", ["773", "532"])
def test_must_change_and_expired_ask_for_a_new_password(code: str) -> None:
    denied = bind_refusal(DN, ad_result(code))
    assert isinstance(denied, PasswordChangeRequired)
    assert BIND_REFUSALS[code] in denied.reason


def test_other_servers_keep_the_ldap_description() -> None:
    slapd = {"result": 49, "description": "invalidCredentials", "message": ""}
    denied = bind_refusal("uid=bob,dc=example,dc=com", slapd)
    assert type(denied) is Denied and denied.reason.endswith(": invalidCredentials")
    unknown = bind_refusal(DN, ad_result("52f"))
    assert type(unknown) is Denied and unknown.reason.endswith("invalidCredentials (AD data 52f)")


@pytest.mark.parametrize(
    ("message", "code"),
    [("... error, data 52e, v4563", "52e"), ("data 775,", "775"), ("metadata 52e", None), ("", None),
     ("Invalid credentials", None)],
)  # fmt: skip
def test_ad_code(message: str, code: str | None) -> None:
    assert ad_code(message) == code
