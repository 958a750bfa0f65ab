"""bridge/keytab.py against a keytab MIT's ktutil wrote (`addent -password` for
svc@EX.TEST, kvno 3, aes256; and mysql/db.ex.test@EX.TEST, kvno 300, arcfour-hmac: a kvno
over 255 is kept in the trailing 32-bit field, with 300 & 0xff = 44 in the 8-bit one)."""

from __future__ import annotations

import pytest

from bridge.keytab import KeytabEntry, KeytabError, describe, parse_keytab

KTUTIL = bytes.fromhex(
    "0502"
    "00000041"  # entry size 65
    "0001" "0007" "45582e54455354" "0003" "737663"  # 1 component, EX.TEST, svc
    "00000001" "6b0dfb26" "03"  # name type 1, timestamp, vno8 3
    "0012" "0020" "995dfc824e984cad28cbebefea2c7934d85cf70b120a2478ab0f38b2c9318c35"
    "00000003"  # vno32 3
    "0000003f"  # entry size 63
    "0002" "0007" "45582e54455354" "0005" "6d7973716c" "000a" "64622e65782e74657374"
    "00000001" "6b0dfb26" "2c"  # vno8 44
    "0017" "0010" "48b8efc2f1caff1d40153937b3db9c5a"
    "0000012c"  # vno32 300
)  # fmt: skip


def test_entries_of_a_real_keytab() -> None:
    assert parse_keytab(KTUTIL) == [
        KeytabEntry("svc@EX.TEST", 3, 18),
        KeytabEntry("mysql/db.ex.test@EX.TEST", 300, 23),
    ]


def test_describe_names_versions_and_enctypes_never_keys() -> None:
    entries = parse_keytab(KTUTIL)
    assert describe(entries, "svc@EX.TEST") == "kvno 3: aes256-cts-hmac-sha1-96"
    assert describe(entries, "mysql/db.ex.test@EX.TEST") == "kvno 300: arcfour-hmac"
    assert describe(entries, "nobody@EX.TEST") == ""
    assert "995dfc82" not in repr(entries)


def test_holes_are_skipped_and_a_zero_size_ends_the_file() -> None:
    hole = (-8).to_bytes(4, "big", signed=True) + bytes(8)
    data = KTUTIL[:2] + hole + KTUTIL[2:] + bytes(4) + b"garbage after the end"
    assert [e.kvno for e in parse_keytab(data)] == [3, 300]


def test_an_eight_bit_kvno_when_there_is_no_32_bit_one() -> None:
    first = KTUTIL[2 : 2 + 4 + 65]
    size = (65 - 4).to_bytes(4, "big")
    assert parse_keytab(b"\x05\x02" + size + first[4:-4])[0].kvno == 3


@pytest.mark.parametrize(
    "data",
    [b"", b"\x05\x01" + KTUTIL[2:], KTUTIL[:40], KTUTIL[:6] + b"\x00\x09" + KTUTIL[8:]],
    ids=["empty", "version 1", "cut short", "more components than bytes"],
)
def test_what_is_not_a_keytab_is_one_error(data: bytes) -> None:
    with pytest.raises(KeytabError):
        parse_keytab(data)
