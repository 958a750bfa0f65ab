"""The state engine's failures in words (bridge/state/engine.py `cause`): the texts
redis-py 5 and the socket/TLS layers give, as seen from a real redis-server in
tests/integration/test_state_redis.py, and what a DBA reads for each."""

from __future__ import annotations

import pytest
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError

from bridge.config import StateConfig
from bridge.state.engine import cause

CONFIG = StateConfig(backend="memory", connect_timeout=1.0, command_timeout=0.5)


@pytest.mark.parametrize(
    ("exc", "meaning"),
    [
        (ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
         "connection refused"),
        (ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connect call failed "
                         "('127.0.0.1', 6379)."), "connection refused"),
        (ConnectionError("Connection closed by server."), "the server closed the connection"),
        (ConnectionError("Error 1 connecting to localhost:6380. [SSL: CERTIFICATE_VERIFY_FAILED] "
                         "certificate verify failed: self-signed certificate in certificate "
                         "chain (_ssl.c:1006)."),
         "TLS certificate verify failed (self-signed certificate in certificate chain): check "
         "state.tls_ca and the URL's host name"),
        (ConnectionError("Error 1 connecting to localhost:6380. [SSL: WRONG_VERSION_NUMBER] "
                         "wrong version number (_ssl.c:1006)."),
         "TLS handshake failed (wrong version number)"),
        (ConnectionError("Error -2 connecting to redis.invalid:6379. Name or service not known."),
         "the host name does not resolve"),
        (AuthenticationError("invalid username-password pair or user is disabled."),
         "authentication refused: wrong state.username or state.password_file"),
        (AuthenticationError("Authentication required."),
         "the server wants a password: set state.password_file (and state.username)"),
        (ResponseError("OOM command not allowed when used memory > 'maxmemory'."),
         "the server is out of memory (maxmemory): writes refused"),
        (ResponseError("READONLY You can't write against a read only replica."),
         "the server is a read-only replica: point state.url at the primary"),
        (TimeoutError(), "no answer within 1.5 s"),
        (ConnectionError("Timeout connecting to server"), "no connection within 1 s"),
        (ResponseError("ERR something new"), "ResponseError: ERR something new"),
    ],
)  # fmt: skip
def test_a_failure_in_words(exc: Exception, meaning: str) -> None:
    assert cause(exc, CONFIG) == meaning
