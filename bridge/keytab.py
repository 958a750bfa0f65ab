"""What a keytab holds: its principals, key versions and encryption types (never the keys).
For `check --online` (bridge/kerberos_check.py), which says what it proved with which keys,
and why a keytab is stale or weak. Sans-IO: bytes in, entries out.

The file format is MIT's (also written by Heimdal, Samba's `exportkeytab` and Windows'
`ktpass`), version 0x0502, big-endian:
https://web.mit.edu/kerberos/krb5-latest/doc/formats/keytab_file_format.html
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION_2 = b"\x05\x02"

# RFC 3961/3962/8009/4757 numbers -> the names MIT's klist prints
ENCTYPES = {
    1: "des-cbc-crc", 3: "des-cbc-md5", 16: "des3-cbc-sha1",
    17: "aes128-cts-hmac-sha1-96", 18: "aes256-cts-hmac-sha1-96",
    19: "aes128-cts-hmac-sha256-128", 20: "aes256-cts-hmac-sha384-192",
    23: "arcfour-hmac", 24: "arcfour-hmac-exp",
    25: "camellia128-cts-cmac", 26: "camellia256-cts-cmac",
}  # fmt: skip
WEAK = frozenset({1, 3, 16, 23, 24})  # DES, 3DES and RC4: AD issues RC4 tickets for these


class KeytabError(ValueError):
    """Not a keytab this parser reads (not version 0x0502, or cut short)."""


@dataclass(frozen=True, slots=True)
class KeytabEntry:
    principal: str  # 'mysql/db.example.com@EXAMPLE.COM'
    kvno: int
    enctype: int

    @property
    def enctype_name(self) -> str:
        return ENCTYPES.get(self.enctype, f"enctype {self.enctype}")


def parse_keytab(data: bytes) -> list[KeytabEntry]:
    """Every live entry of a version 2 keytab (holes, negative sizes, are skipped)."""
    if data[:2] != VERSION_2:
        raise KeytabError("not a version 0x0502 keytab")
    entries, offset = [], 2
    while offset + 4 <= len(data):
        (size,) = struct.unpack_from(">i", data, offset)
        offset += 4
        if size == 0:
            break  # the end of the written part
        body = data[offset : offset + abs(size)]
        if len(body) != abs(size):
            raise KeytabError("entry cut short")
        offset += abs(size)
        if size > 0:
            entries.append(_entry(body))
    return entries


def _entry(body: bytes) -> KeytabEntry:
    """num_components(2) realm(2+n) components(2+n each) name_type(4) timestamp(4) vno8(1)
    keytype(2) key(2+n) [vno32(4), which wins when present and not 0]."""
    cursor = _Cursor(body)
    count = cursor.number(2)
    realm = cursor.counted()
    components = [cursor.counted() for _ in range(count)]
    cursor.take(4 + 4)  # name type, timestamp
    kvno = cursor.number(1)
    enctype = cursor.number(2)
    cursor.take(cursor.number(2))  # the key itself: not kept
    if cursor.left >= 4:
        kvno = cursor.number(4) or kvno
    return KeytabEntry(f"{'/'.join(components)}@{realm}", kvno, enctype)


class _Cursor:
    """Big-endian reads from one entry; KeytabError past its end."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    @property
    def left(self) -> int:
        return len(self.data) - self.at

    def take(self, n: int) -> bytes:
        if n > self.left:
            raise KeytabError("entry cut short")
        self.at += n
        return self.data[self.at - n : self.at]

    def number(self, width: int) -> int:
        return int.from_bytes(self.take(width), "big")

    def counted(self) -> str:
        return self.take(self.number(2)).decode("utf-8", "replace")


def describe(entries: list[KeytabEntry], principal: str) -> str:
    """'kvno 2: aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96' for one principal."""
    versions: dict[int, list[str]] = {}
    for entry in entries:
        if entry.principal == principal:
            versions.setdefault(entry.kvno, []).append(entry.enctype_name)
    return "; ".join(f"kvno {k}: {', '.join(names)}" for k, names in sorted(versions.items()))
