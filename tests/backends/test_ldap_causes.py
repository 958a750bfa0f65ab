"""Why an LDAP server could not be used, as the log, the health check and `check --online`
say it: against real slapd servers (a CA that did not sign their certificate, a port nobody
listens on, a stopped process, a wrong service password), and from the texts ldap3 raises."""

from __future__ import annotations

import logging
import re
import signal
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3.core import exceptions as ldap_errors

from bridge.backends.ldap import ServerCheck
from bridge.backends.ldapcauses import Timeouts, outage_cause
from bridge.errors import BackendUnavailable
from sandbox.certs import CertSet
from sandbox.ldap import Slapd
from sandbox.ports import free_port
from tests.backends.test_ldap_backend import backend, verify
from tests.ldapfix import start_slapd

LOGGER = "bridge.backends.ldap"
VERIFY_FAILED = "TLS certificate verify failed (certificate signature failure)"


@pytest.fixture(scope="module")
def hung(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> Iterator[Slapd]:
    """A slapd that accepts connections (the kernel does) and never answers (SIGSTOP)."""
    server = start_slapd(tmp_path_factory.mktemp("hung"), certs)
    server.proc.send_signal(signal.SIGSTOP)
    yield server
    server.proc.send_signal(signal.SIGCONT)
    server.stop()


async def outage(tmp_path: Path, certs: CertSet, *servers: str) -> str:
    with pytest.raises(BackendUnavailable) as refused:
        await verify(backend(tmp_path, certs, *servers), "alice", "alice-ldap")
    return str(refused.value)


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
async def test_a_wrong_ca_says_certificate_verify_failed(
    tmp_path: Path, slapd: Slapd, other_certs: CertSet, mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    url = slapd.tls_url if mode == "ldaps" else slapd.url
    with caplog.at_level(logging.WARNING, LOGGER):
        text = await outage(tmp_path, other_certs, url)
    assert text == f"no LDAP server answered: {url}: {VERIFY_FAILED}: check ldap.ca and the " \
        "server's name"  # fmt: skip
    assert f"LDAP server {url} unavailable (service bind: {VERIFY_FAILED}" in caplog.text


async def test_a_refused_port_and_a_hung_server_say_so(
    tmp_path: Path, certs: CertSet, hung: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    refused = f"ldaps://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING, LOGGER):
        text = await outage(tmp_path, certs, refused, hung.tls_url, hung.url)
    assert text == (f"no LDAP server answered: {refused}: connection refused; "
                    f"{hung.tls_url}: TLS handshake timed out after 1 s; "
                    f"{hung.url}: no answer within 1 s")  # fmt: skip
    assert f"LDAP server {refused} unavailable (service bind: connection refused)" in caplog.text
    assert f"LDAP server {hung.url} unavailable (service bind: no answer within 1 s)" in caplog.text


async def test_a_wrong_service_password_names_the_server(
    tmp_path: Path, certs: CertSet, slapd: Slapd
) -> None:
    b = backend(tmp_path, certs, slapd.tls_url)
    b.bind_password = "not-the-password"
    with pytest.raises(BackendUnavailable) as refused:
        await verify(b, "alice", "alice-ldap")
    assert str(refused.value) == (
        "the service account cannot bind: LDAP bind as 'cn=bridge,ou=services,dc=example,"
        f"dc=com': invalidCredentials (on {slapd.tls_url})"
    )
    assert "not-the-password" not in str(refused.value)


async def test_check_each_tries_every_server(
    tmp_path: Path, certs: CertSet, slapd: Slapd, hung: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    refused = f"ldap://127.0.0.1:{free_port()}"
    b = backend(tmp_path, certs, slapd.tls_url, refused, hung.tls_url, slapd.url)
    with caplog.at_level(logging.WARNING, LOGGER):
        found = await b.check_each()
    assert found == [ServerCheck(slapd.tls_url, None), ServerCheck(refused, "connection refused"),
                     ServerCheck(hung.tls_url, "TLS handshake timed out after 1 s"),
                     ServerCheck(slapd.url, None)]  # fmt: skip
    assert caplog.text == ""  # check --online reports each itself: no log lines on the way
    b.bind_password = "not-the-password"
    again = await b.check_each()
    refusal = "LDAP bind as 'cn=bridge,ou=services,dc=example,dc=com': invalidCredentials"
    assert [again[0], again[3]] == [ServerCheck(slapd.tls_url, refusal),
                                    ServerCheck(slapd.url, refusal)]  # fmt: skip
    # ldap3 does not try a failed address again for a few seconds: the earlier cause, then
    for check, cause in ((again[1], "connection refused"),
                         (again[2], "TLS handshake timed out after 1 s")):  # fmt: skip
        assert re.fullmatch(rf"{cause} \(\d s ago; ldap3 tries it again after 6 s\)",
                            str(check.failure)), check  # fmt: skip


# Texts ldap3 2.9 raised against real servers (the first four in the tests above).
RAISED = [
    (ldap_errors.LDAPSocketOpenError("socket ssl wrapping error: [SSL: CERTIFICATE_VERIFY_FAILED] "
                                     "certificate verify failed: unable to get local issuer "
                                     "certificate (_ssl.c:1006)"),
     "TLS certificate verify failed (unable to get local issuer certificate): check ldap.ca "
     "and the server's name"),
    (ldap_errors.LDAPSocketOpenError("socket ssl wrapping error: [SSL: CERTIFICATE_VERIFY_FAILED] "
                                     "certificate verify failed: Hostname mismatch, certificate "
                                     "is not valid for 'db.example.com'. (_ssl.c:1006)"),
     "TLS certificate verify failed (Hostname mismatch, certificate is not valid for "
     "'db.example.com'.): check ldap.ca and the server's name"),
    (ldap_errors.LDAPSocketOpenError("socket connection error while opening: [Errno 111] "
                                     "Connection refused"), "connection refused"),
    (ldap_errors.LDAPSocketOpenError("socket connection error while opening: timed out"),
     "no connection within 3 s"),
    (ldap_errors.LDAPSocketReceiveError("error receiving data: timed out"), "no answer within 5 s"),
    (ldap_errors.LDAPSocketOpenError("invalid server address"), "the host name does not resolve"),
    (ldap_errors.LDAPSocketOpenError("socket ssl wrapping error: [SSL: WRONG_VERSION_NUMBER] "
                                     "wrong version number (_ssl.c:1006)"),
     "TLS handshake failed (wrong version number)"),
    (ldap_errors.LDAPSocketOpenError("socket connection error while opening: [Errno 101] "
                                     "Network is unreachable"), "Network is unreachable"),
    (ldap_errors.LDAPSessionTerminatedByServerError("session terminated by server"),
     "the server closed the connection"),
    (ssl.SSLError(1, "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol (_ssl.c:1006)"),
     "TLS handshake failed (unsupported protocol)"),
    (TimeoutError(), "TimeoutError"),
    (ValueError("something new"), "ValueError: something new"),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "said"), RAISED)
def test_causes_from_the_texts_ldap3_raises(exc: BaseException, said: str) -> None:
    assert outage_cause(exc, Timeouts(connect=3, response=5)) == said


def test_an_unknown_text_is_kept_to_one_bounded_line() -> None:
    said = outage_cause(OSError("first line " + "x" * 500 + "\nsecond"), Timeouts(3, 5))
    assert said.startswith("OSError: first line ") and len(said) <= 220 and "second" not in said
