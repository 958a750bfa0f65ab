import ipaddress

import pytest

from bridge.mapping.hosts import ClientHost, HostPatternError, client_host, parse_host

SOCKET = client_host(None, True)
LOOPBACK = client_host("127.0.0.1", True)
LOOPBACK_RAW = client_host("127.0.0.1", False)
TEN = client_host("10.1.2.3", True)
MAPPED = client_host("::ffff:10.1.2.3", True)


def test_client_hosts() -> None:
    assert ClientHost("localhost", None) == SOCKET and SOCKET.display == "localhost"
    assert LOOPBACK.name == "localhost"  # as mysqld resolves loopback without DNS
    assert LOOPBACK_RAW.name is None and LOOPBACK_RAW.display == "127.0.0.1"
    assert MAPPED.ip == ipaddress.ip_address("10.1.2.3") and MAPPED.display == "10.1.2.3"


@pytest.mark.parametrize(
    ("pattern", "client", "expected"),
    [
        ("%", TEN, True),
        ("", SOCKET, True),
        ("localhost", SOCKET, True),
        ("LOCALHOST", LOOPBACK, True),
        ("localhost", TEN, False),
        ("localhost", LOOPBACK_RAW, False),
        ("127.0.0.1", LOOPBACK, True),
        ("10.1.2.3", TEN, True),
        ("10.1.2.3", MAPPED, True),
        ("10.1.2.4", TEN, False),
        ("10.%", TEN, True),
        ("10.%", SOCKET, False),
        ("10.1.2._", TEN, True),
        ("10.1._", TEN, False),
        ("10.1.2.0/255.255.255.0", TEN, True),
        ("10.1.3.0/255.255.255.0", TEN, False),
        ("10.0.0.0/8", TEN, True),
        ("10.0.0.0/8", SOCKET, False),
        ("local%", SOCKET, True),
        ("%.example.com", TEN, False),
    ],
)
def test_host_patterns(pattern: str, client: ClientHost, expected: bool) -> None:
    assert parse_host(pattern).matches(client) is expected


@pytest.mark.parametrize("bad", ["10.1.2.3/255.0.255.0", "10.1.2.3/8", "nonsense/24", "a" * 256])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(HostPatternError):
        parse_host(bad)


def test_specificity_order() -> None:
    order = ["localhost", "10.1.2.3", "10.1.2.0/24", "10.1.%", "10.%", "%", ""]
    keys = [parse_host(p).sort_key() for p in order]
    assert keys == sorted(keys)
    assert parse_host("10.1.2.3").sort_key() == parse_host("10.1.2.0/255.255.255.0").sort_key()
