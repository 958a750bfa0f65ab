"""An upstream refusal of the bridge's own credentials: the client always gets 3169, the log
says what the DBA is to do, by the upstream's errno (a locked account is unlocked upstream,
an expired password is changed there, a wrong one is fixed in the credentials file).
tests/integration/test_upstream_refusals.py proves it against a real MariaDB."""

from __future__ import annotations

import logging

import pytest

from bridge.errors import UpstreamCredentialsRefused, UpstreamRefusal, UpstreamUnavailable
from bridge.protocol.packets import ErrPacket
from bridge.upstream.login import UpstreamError
from bridge.upstream.request import CREDENTIAL_HINTS, credential_hint, upstream_failure

LOCKED = "the upstream account is locked: unlock it upstream (ALTER USER ... ACCOUNT UNLOCK)"
EXPIRED = "the upstream account's password has expired: set a new one upstream"


def refusal(errno: int) -> UpstreamError:
    return UpstreamError(
        f"upstream refused the login: {errno} ...", ErrPacket(errno, "HY000", "...")
    )


@pytest.mark.parametrize(
    ("errno", "hint"),
    [
        (4151, LOCKED),  # MariaDB
        (3118, LOCKED),  # MySQL
        (1862, EXPIRED),
        (1820, EXPIRED),
        (1045, "check the upstream credentials file"),
        (1698, "check the upstream credentials file"),
        (
            1251,
            "the upstream account's authentication plugin is not one the bridge logs in "
            "with (mysql_native_password, caching_sha2_password",
        ),
    ],
)
def test_the_log_hint_fits_the_upstreams_error(
    errno: int, hint: str, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("test.refusal")
    with caplog.at_level(logging.WARNING, "test.refusal"):
        failure = upstream_failure(refusal(errno), "app", log)
    assert isinstance(failure, UpstreamCredentialsRefused) and failure.errno == 3169
    assert failure.logged
    [record] = caplog.records
    line = record.getMessage()
    assert line.startswith(f"upstream refused the bridge's credentials for account 'app' ({hint}")
    assert line.endswith(f"upstream refused the login: {errno} ...")


def test_locked_and_expired_never_point_at_the_credentials_file_alone() -> None:
    """The trial's defect: a locked account logged '(check the upstream credentials file)'."""
    for errno in (4151, 3118):
        assert "credentials file" not in CREDENTIAL_HINTS[errno]
    for errno in (1820, 1862):
        assert CREDENTIAL_HINTS[errno].startswith("the upstream account's password has expired")


def test_other_upstream_errors_get_no_credentials_hint(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.refusal")
    assert credential_hint(UpstreamError("cannot connect")) is None
    with caplog.at_level(logging.INFO, "test.refusal"):
        client_facing = upstream_failure(refusal(1049), "app", log)  # unknown database
        outage = upstream_failure(refusal(1129), "app", log)  # host blocked
    assert isinstance(client_facing, UpstreamRefusal) and client_facing.to_err().errno == 1049
    assert type(outage) is UpstreamUnavailable and outage.errno == 3169
    assert all("credentials" not in r.getMessage() for r in caplog.records)
