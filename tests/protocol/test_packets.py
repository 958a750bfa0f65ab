"""Golden bytes: every parse/build pair against public captures and documented packets."""

from typing import Any

import pytest

from bridge.errors import AccessDenied
from bridge.protocol.constants import Capability as C
from bridge.protocol.errors import ProtocolError
from bridge.protocol.framing import frame
from bridge.protocol.packets import (
    AuthSwitchRequest,
    ChangeUser,
    ErrPacket,
    HandshakeResponse41,
    HandshakeV10,
    OkPacket,
    SSLRequest,
    build_auth_more_data,
    build_auth_switch_request,
    build_change_user,
    build_err,
    build_handshake_response41,
    build_handshake_v10,
    build_ok,
    build_ssl_request,
    is_ssl_request,
    parse_auth_more_data,
    parse_auth_switch_request,
    parse_change_user,
    parse_err,
    parse_handshake_response41,
    parse_handshake_v10,
    parse_ok,
    parse_ssl_request,
)
from tests.vectors import load

PACKETS = load("packets.json")
SERVER = load("server_packets_byte_exact.json")


def payload_of(entry: dict[str, Any]) -> bytes:
    if "payload_hex" in entry:
        return bytes.fromhex(entry["payload_hex"])
    return bytes.fromhex(entry["frame_hex"])[4:]


@pytest.mark.parametrize(
    "name",
    [
        "connector_python_handshake_response_allset",
        "connector_python_handshake_response_nopass",
        "connector_python_handshake_response_nouser",
        "connector_python_handshake_response_nodb",
        "docs_hsr41_pam_test_native",
        "docs_hsr41_root_with_attrs",
    ],
)
def test_handshake_response41_vectors(name: str) -> None:
    entry = PACKETS[name]
    expected = entry["parsed"]
    hello = parse_handshake_response41(payload_of(entry))
    assert hello.capabilities == expected["caps"]
    assert hello.max_packet == expected["max_packet"]
    assert hello.charset == expected["charset"]
    assert hello.user == expected["user"]
    assert hello.auth_response.hex() == expected["auth_response"]
    assert (hello.database or "") == expected.get("db", "")
    assert hello.auth_plugin == expected.get("plugin")
    assert dict(hello.attrs) == expected.get("attrs", {})


def test_auth_data_cut_short_is_a_bad_handshake() -> None:
    # go-mysql TestReadAuthData: CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, packet one byte short.
    payload = payload_of(PACKETS["go_mysql_readAuthData_packet"])
    assert parse_handshake_response41(payload).user == "root"
    cut = payload[: 32 + len(b"root\0") + 1 + 19]
    with pytest.raises(ProtocolError):
        parse_handshake_response41(cut)


def test_two_byte_first_packet_is_a_bad_handshake() -> None:
    with pytest.raises(ProtocolError):
        parse_handshake_response41(
            bytes.fromhex(PACKETS["go_mysql_decodeFirstPart"]["short_payload_hex"])
        )


def test_connector_net_attribute_lengths_do_not_break_the_login() -> None:
    entry = PACKETS["connector_net_8_0_12_bad_attr_lengths"]
    hello = parse_handshake_response41(payload_of(entry))
    assert hello.user == entry["user"]
    assert hello.database == entry["db"]
    assert hello.auth_plugin == entry["plugin"]


def test_greeting_without_plugin_auth() -> None:
    entry = PACKETS["mysql_5_0_30_greeting"]
    greeting = parse_handshake_v10(payload_of(entry))
    want = entry["expected"]
    assert greeting.server_version == want["server_version"]
    assert greeting.connection_id == want["thread_id"]
    assert greeting.capabilities == want["capabilities"]
    assert (greeting.charset, greeting.status) == (want["charset"], want["status"])
    assert greeting.scramble == want["scramble"].encode()


def test_greeting_with_unterminated_plugin_name() -> None:
    entry = PACKETS["mysql_5_5_8_greeting_plugin_name_not_nul_terminated"]
    greeting = parse_handshake_v10(payload_of(entry))
    assert greeting.auth_plugin == entry["expected"]["plugin"]
    assert greeting.scramble.hex() == entry["expected"]["scramble"]
    assert greeting.capabilities == entry["expected"]["capabilities"]


def test_greeting_round_trip_keeps_mariadb_extended_capabilities() -> None:
    caps = (C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH
            | C.MARIADB_CLIENT_PROGRESS | C.MARIADB_CLIENT_CACHE_METADATA)  # fmt: skip
    greeting = HandshakeV10("5.5.5-10.11.6-MariaDB", 7, bytes(range(1, 21)), caps, 45, 2,
                            "caching_sha2_password")  # fmt: skip
    assert parse_handshake_v10(build_handshake_v10(greeting)) == greeting


def test_handshake_response_round_trip() -> None:
    hello = HandshakeResponse41(
        C.CLIENT_PROTOCOL_41 | C.CLIENT_LONG_PASSWORD, 1 << 24, 45, "alice", b"\x01" * 32,
        "shop", "caching_sha2_password", (("_client_name", "x"), ("program_name", "y")),
    )  # fmt: skip
    parsed = parse_handshake_response41(build_handshake_response41(hello))
    assert (parsed.user, parsed.auth_response, parsed.database) == ("alice", b"\x01" * 32, "shop")
    assert parsed.auth_plugin == "caching_sha2_password"
    assert parsed.attrs == hello.attrs


def test_handshake_response_without_attrs_does_not_claim_them() -> None:
    """CLIENT_CONNECT_ATTRS only with a block behind it: MariaDB answers 1043 'Bad
    handshake' to the flag with nothing after the plugin name."""
    caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_CONNECT_ATTRS
    for attrs in ((), (("_client_name", "x"),)):
        hello = HandshakeResponse41(caps, 1 << 24, 45, "bob", b"", None, "x_plugin", attrs)
        built = build_handshake_response41(hello)
        flags = int.from_bytes(built[:4], "little")
        assert bool(flags & C.CLIENT_CONNECT_ATTRS) == bool(attrs)
        assert built.endswith(b"x_plugin\0") != bool(attrs)
        assert parse_handshake_response41(built).attrs == attrs


def test_ssl_request() -> None:
    default = payload_of(PACKETS["connector_python_ssl_request_default"])
    assert not is_ssl_request(default)  # flags 0: no CLIENT_SSL, not an SSLRequest
    built = build_ssl_request(SSLRequest(C.CLIENT_PROTOCOL_41, 1 << 30, 45))
    assert len(built) == 32 and is_ssl_request(built)
    assert parse_ssl_request(built).capabilities & C.CLIENT_SSL
    assert built[4:] == default[4:]


def test_err_1045_byte_exact() -> None:
    entry = SERVER["err_1045"]
    err = AccessDenied("ham", "localhost", True, "test").to_err()
    assert err == ErrPacket(1045, "28000", entry["text"])
    assert frame(build_err(err), entry["seq"]).hex() == entry["frame_hex"]
    assert parse_err(bytes.fromhex(entry["frame_hex"])[4:]) == err


def test_ok_after_auth_byte_exact() -> None:
    entry = SERVER["ok_after_auth_go_sql_driver"]
    assert frame(build_ok(OkPacket()), 2).hex() == entry["frame_hex"]
    assert parse_ok(build_ok(OkPacket(3, 9, 0x22, 1))) == OkPacket(3, 9, 0x22, 1)


@pytest.mark.parametrize(
    ("name", "plugin"),
    [
        ("auth_switch_to_caching_sha2", "caching_sha2_password"),
        ("auth_switch_to_mysql_native_password", "mysql_native_password"),
        ("auth_switch_to_sha256_password", "sha256_password"),
        ("auth_switch_to_mysql_clear_password", "mysql_clear_password"),
    ],
)
def test_auth_switch_byte_exact(name: str, plugin: str) -> None:
    raw = bytes.fromhex(SERVER[name]["frame_hex"])
    switch = parse_auth_switch_request(raw[4:])
    assert switch.plugin == plugin
    assert frame(build_auth_switch_request(AuthSwitchRequest(plugin, switch.data)), 2) == raw


@pytest.mark.parametrize(
    ("name", "data"),
    [("caching_sha2_fast_auth_success", b"\x03"), ("caching_sha2_perform_full_auth", b"\x04")],
)
def test_auth_more_data_byte_exact(name: str, data: bytes) -> None:
    raw = bytes.fromhex(SERVER[name]["frame_hex"])
    assert frame(build_auth_more_data(data), 2) == raw
    assert parse_auth_more_data(raw[4:]) == data


def test_change_user_vectors() -> None:
    caps = PACKETS["connector_python_handshake_response_allset"]["parsed"]["caps"]
    allset = parse_change_user(payload_of(PACKETS["connector_python_com_change_user_allset"]), caps)
    assert (allset.user, allset.database, allset.charset) == ("ham", "test", 8)
    assert allset.auth_response.hex() == "33aa5f925c64945ab2f83b558a0cfb8afca7d0e3"
    nopass = parse_change_user(payload_of(PACKETS["connector_python_com_change_user_nopass"]), caps)
    assert nopass.auth_response == b"" and nopass.database == "test"
    rebuilt = build_change_user(
        ChangeUser("ham", allset.auth_response, "test", 8), caps & ~C.CLIENT_CONNECT_ATTRS
    )
    assert rebuilt.hex() == PACKETS["connector_python_com_change_user_allset"]["payload_hex"]


def test_change_user_round_trip_with_plugin_and_attrs() -> None:
    caps = (
        C.CLIENT_PROTOCOL_41
        | C.CLIENT_SECURE_CONNECTION
        | C.CLIENT_PLUGIN_AUTH
        | C.CLIENT_CONNECT_ATTRS
    )
    change = ChangeUser("bob", b"\x02" * 20, "db", 45, "mysql_native_password", (("a", "b"),))
    assert parse_change_user(build_change_user(change, caps), caps) == change


def test_attributes_block_is_kept_raw_and_can_be_forwarded() -> None:
    entry = PACKETS["docs_hsr41_root_with_attrs"]
    hello = parse_handshake_response41(payload_of(entry))
    assert hello.attrs_block and dict(hello.attrs) == entry["expected_attrs"]
    ours = (("bridge_external_user", "alice"),)
    forwarded = HandshakeResponse41(hello.capabilities, 1 << 24, 45, "dev", b"", None, "mysql_native_password",
                                    ours, hello.attrs_block)  # fmt: skip
    again = parse_handshake_response41(build_handshake_response41(forwarded))
    assert again.attrs == ours + hello.attrs


def test_a_miscounted_attributes_block_is_not_forwarded_raw() -> None:
    hello = parse_handshake_response41(payload_of(PACKETS["connector_net_8_0_12_bad_attr_lengths"]))
    assert hello.attrs_block == b""
