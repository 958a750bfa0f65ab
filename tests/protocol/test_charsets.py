"""Names in the client's character set: the table of collation ids and mysqld's conversion,
with the bytes MariaDB 10.11 was measured to take (bridge/protocol/charsets.py)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.errors import ClientCharsetRefused, client_charset
from bridge.protocol.charsets import (
    CHARSET_OF_ID,
    NOT_FOR_CLIENTS,
    UnusableCharset,
    charset_name,
    check_client_charset,
    decode_name,
    encode_message,
    encode_name,
)
from bridge.protocol.constants import Capability as C
from bridge.protocol.packets import (
    ChangeUser,
    HandshakeResponse41,
    build_change_user,
    build_handshake_response41,
    parse_change_user,
    parse_handshake_response41,
)

LATIN1, UTF8MB4, BINARY, ASCII = 8, 45, 63, 11

# (collation id, the bytes a client of that charset sends, the name MariaDB 10.11 logged in
# as): each measured with a raw handshake against mariadbd 10.11.19.
MEASURED = [
    (8, b"j\xf6rg", "jörg"),  # latin1_swedish_ci
    (48, b"j\xf6rg", "jörg"),  # latin1_general_ci
    (8, b"j\xc3\xb6rg", "jÃ¶rg"),  # UTF-8 bytes under latin1: two latin1 characters
    (8, b"j\x80rg", "j€rg"),  # MariaDB's latin1 is cp1252
    (45, b"j\xc3\xb6rg", "jörg"),  # utf8mb4_general_ci
    (224, b"j\xc3\xb6rg", "jörg"),  # utf8mb4_unicode_ci
    (33, b"j\xc3\xb6rg", "jörg"),  # utf8mb3_general_ci
    (63, b"j\xf6rg", "jörg"),  # binary: each byte its own code point
    (63, b"j\xc3\xb6rg", "jÃ¶rg"),
    (28, "李".encode("gbk"), "李"),  # gbk
    (24, "李".encode("gb2312"), "李"),  # gb2312
    (1, "李".encode("big5"), "李"),  # big5
    (13, "李".encode("shift_jis"), "李"),  # sjis
    (12, "李".encode("euc_jp"), "李"),  # ujis
    (19, "李".encode("euc_kr"), "李"),  # euckr
    (51, "Ж".encode("cp1251"), "Ж"),  # cp1251
    (7, "Ж".encode("koi8_r"), "Ж"),  # koi8r
    (9, "jörg".encode("iso8859_2"), "jörg"),  # latin2
    (26, "jörg".encode("cp1250"), "jörg"),  # cp1250
    (11, b"j\xf6rg", "j?rg"),  # ascii: a byte it does not have becomes '?'
    (11, b"j\xc3\xb6rg", "j??rg"),
    (45, b"j\xf6rg", "j?rg"),  # invalid UTF-8 too
]


@pytest.mark.parametrize(("charset", "raw", "text"), MEASURED)
def test_names_decode_as_mariadb_decodes_them(charset: int, raw: bytes, text: str) -> None:
    assert decode_name(raw, charset, UTF8MB4) == text


@pytest.mark.parametrize("charset", [0, 250, 255])
def test_an_unknown_id_means_the_servers_default(charset: int) -> None:
    # MariaDB 10.11 (character_set_server latin1) took both as latin1 for ids 0, 250, 255.
    assert decode_name(b"j\xf6rg", charset, LATIN1) == "jörg"
    assert decode_name(b"j\xc3\xb6rg", charset, LATIN1) == "jÃ¶rg"
    assert decode_name(b"j\xc3\xb6rg", charset, UTF8MB4) == "jörg"
    assert encode_name("jörg", charset, LATIN1) == b"j\xf6rg"


def test_an_unknown_server_default_too_means_utf8mb4() -> None:
    assert charset_name(250, 251) == "utf8mb4"


def test_latin1_keeps_the_five_bytes_cp1252_leaves_undefined() -> None:
    raw = bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D])
    assert decode_name(raw, LATIN1, UTF8MB4) == "\x81\x8d\x8f\x90\x9d"
    assert encode_name("\x81\x8d\x8f\x90\x9d", LATIN1, UTF8MB4) == raw
    assert decode_name(bytes(range(1, 256)), LATIN1, UTF8MB4).count("?") == 1  # only 0x3F


def test_a_name_the_charset_cannot_hold_does_not_encode() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_name("李", LATIN1, UTF8MB4)
    with pytest.raises(UnicodeEncodeError):
        encode_name("jörg", ASCII, UTF8MB4)


def test_charsets_without_a_python_codec_take_ascii_only() -> None:
    dec8 = 3
    assert decode_name(b"bob", dec8, UTF8MB4) == "bob"
    assert decode_name(b"j\xf6rg", dec8, UTF8MB4) == "j?rg"


@pytest.mark.parametrize("charset", [35, 54, 56, 60, 101, 128, 160])
def test_ucs2_utf16_utf32_cannot_be_a_clients(charset: int) -> None:
    assert charset_name(charset, UTF8MB4) in NOT_FOR_CLIENTS
    with pytest.raises(UnusableCharset):
        check_client_charset(charset, UTF8MB4)
    with pytest.raises(ClientCharsetRefused) as refused:
        client_charset(charset, UTF8MB4)
    err = refused.value.to_err()
    assert (err.errno, err.sqlstate) == (1231, "42000")
    name = charset_name(charset, UTF8MB4)
    assert err.message == f"Variable 'character_set_client' can't be set to the value of '{name}'"


def test_a_clients_own_charset_passes() -> None:
    assert client_charset(LATIN1, UTF8MB4) == LATIN1
    assert client_charset(250, UTF8MB4) == 250


def test_the_table_knows_every_id_once_and_the_handshake_ids() -> None:
    assert CHARSET_OF_ID[8] == "latin1" and CHARSET_OF_ID[45] == "utf8mb4"
    assert CHARSET_OF_ID[63] == "binary" and CHARSET_OF_ID[33] == "utf8mb3"
    assert 255 not in CHARSET_OF_ID  # MySQL 8's utf8mb4_0900_ai_ci: unknown to MariaDB 10.11


def test_the_handshake_names_come_in_the_clients_charset() -> None:
    caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_CONNECT_WITH_DB
    hello = HandshakeResponse41(caps, 1 << 24, LATIN1, "jörg", b"x", "bücher")
    wire = build_handshake_response41(hello)
    assert b"\0j\xf6rg\0" in wire and b"b\xfccher\0" in wire
    parsed = parse_handshake_response41(wire)
    assert (parsed.user, parsed.database) == ("jörg", "bücher")


def test_the_handshake_of_an_unknown_id_goes_in_the_servers_charset() -> None:
    caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION
    wire = build_handshake_response41(HandshakeResponse41(caps, 0, 250, "jörg", b""), LATIN1)
    assert b"\0j\xf6rg\0" in wire
    assert parse_handshake_response41(wire, LATIN1).user == "jörg"
    assert parse_handshake_response41(wire, UTF8MB4).user == "j?rg"


def test_change_user_names_come_in_its_charset_or_the_sessions() -> None:
    caps = C.CLIENT_SECURE_CONNECTION
    named = build_change_user(ChangeUser("jörg", b"", "bücher", LATIN1), caps)
    assert named.startswith(b"\x11j\xf6rg\0")
    assert parse_change_user(named, caps, UTF8MB4).user == "jörg"
    # charset 0 (none named): the session's, here latin1 from the handshake
    unnamed = b"\x11j\xf6rg\0\0b\xfccher\0\0\0"
    parsed = parse_change_user(unnamed, caps, LATIN1)
    assert (parsed.user, parsed.database, parsed.charset) == ("jörg", "bücher", 0)
    assert parse_change_user(unnamed, caps, UTF8MB4).user == "j?rg"
    assert build_change_user(ChangeUser("jörg", b"", "", 0), caps, LATIN1).startswith(
        b"\x11j\xf6rg\0"
    )


def test_a_lossy_mapping_is_a_name_the_charset_cannot_hold() -> None:
    """Python's euc_jp and shift_jis encode '¥' as 0x5C, which reads back as '\\': a name
    sent so would be another name. It is refused as not encodable, as '日' in latin1 is."""
    for charset in (12, 13, 97):  # ujis, sjis, eucjpms
        with pytest.raises(UnicodeEncodeError) as caught:
            encode_name("a¥b", charset, UTF8MB4)
        assert caught.value.object[caught.value.start : caught.value.end] == "¥"  # named
        assert encode_name("a\\b", charset, UTF8MB4) == b"a\\b"


@settings(max_examples=300, deadline=None)
@example(charset=97, text="¥")  # drawn at random once: encoded as '\\'
@given(
    charset=st.sampled_from(
        sorted(i for i, cs in CHARSET_OF_ID.items() if cs not in NOT_FOR_CLIENTS)
    ),
    text=st.text(st.characters(blacklist_categories=["Cs"]), max_size=20),
)
def test_what_encodes_decodes_back(charset: int, text: str) -> None:
    try:
        raw = encode_name(text, charset, UTF8MB4)
    except UnicodeEncodeError:
        return
    assert decode_name(raw, charset, UTF8MB4) == text


@pytest.mark.parametrize(
    ("charset", "expected"),
    [("latin1", b"'j\xf6rg \x80 ?'"),  # MariaDB's latin1 is cp1252: the euro sign is 0x80
     ("utf8mb4", "'jörg € 日'".encode()), ("utf8mb3", "'jörg € 日'".encode()),
     ("binary", "'jörg € 日'".encode()),  # no conversion: mysqld's own UTF-8
     ("koi8r", b"'j?rg ? ?'"), ("cp932", b"'j?rg ? \x93\xfa'"),
     ("dec8", b"'j?rg ? ?'")],  # no Python codec: ASCII, the rest '?'
)  # fmt: skip
def test_a_message_is_in_the_clients_charset_what_it_cannot_hold_is_a_question_mark(
    charset: str, expected: bytes
) -> None:
    assert encode_message("'jörg € 日'", charset) == expected


def test_an_err_packet_carries_its_message_in_the_clients_charset() -> None:
    from bridge.protocol.packets import ErrPacket, build_err

    err = ErrPacket(1045, "28000", "Access denied for user 'jörg'@'localhost'")
    assert build_err(err, True, "latin1").endswith(b"'j\xf6rg'@'localhost'")
    assert build_err(err).endswith("'jörg'@'localhost'".encode())  # utf8mb4 unless told
    assert (
        build_err(err, False, "latin1")
        == b"\xff\x15\x04Access denied for user 'j\xf6rg'@'localhost'"
    )
