"""Character sets of names on the wire: the user name and database a client sends in its
HandshakeResponse and COM_CHANGE_USER are in the client's character set (the collation id
it sends), which mysqld converts to its system character set (utf8) before it looks the
account up. The bridge does the same with this table, and encodes the names it sends
upstream the way the upstream will decode them.

The collation ids are MariaDB 10.11's (information_schema.COLLATIONS); an id it does not
know (0, MySQL 8's 255 utf8mb4_0900_ai_ci ...) means the server's default character set,
which the server announced in its greeting. What mysqld does, measured against MariaDB
10.11: latin1 is cp1252 (0x80 is the euro sign) with the five bytes cp1252 leaves
undefined kept as the same code points; `binary` takes each byte as the code point of the
same number; a byte that is not valid in the character set becomes '?' (so the name
matches no account); ucs2, utf16, utf16le and utf32 cannot be a client's character set
(ERROR 1231 before authentication)."""

from __future__ import annotations

import codecs

# charset name -> the ids of its collations (MariaDB 10.11)
_COLLATIONS: dict[str, tuple[int, ...]] = {
    "big5": (1, 84, 1025, 1108),
    "latin2": (2, 9, 21, 27, 77, 1033, 1101),
    "dec8": (3, 69, 1027, 1093),
    "cp850": (4, 80, 1028, 1104),
    "latin1": (5, 8, 15, 31, 47, 48, 49, 94, 1032, 1071),
    "hp8": (6, 72, 1030, 1096),
    "koi8r": (7, 74, 1031, 1098),
    "swe7": (10, 82, 1034, 1106),
    "ascii": (11, 65, 1035, 1089),
    "ujis": (12, 91, 1036, 1115),
    "sjis": (13, 88, 1037, 1112),
    "cp1251": (14, 23, 50, 51, 52, 1074, 1075),
    "hebrew": (16, 71, 1040, 1095),
    "tis620": (18, 89, 1042, 1113),
    "euckr": (19, 85, 1043, 1109),
    "latin7": (20, 41, 42, 79, 1065, 1103),
    "koi8u": (22, 75, 1046, 1099),
    "gb2312": (24, 86, 1048, 1110),
    "greek": (25, 70, 1049, 1094),
    "cp1250": (26, 34, 44, 66, 99, 1050, 1090),
    "gbk": (28, 87, 1052, 1111),
    "cp1257": (29, 58, 59, 1082, 1083),
    "latin5": (30, 78, 1054, 1102),
    "armscii8": (32, 64, 1056, 1088),
    "utf8mb3": (33, 83, *range(192, 216), 223, 576, 577, 578, 1057, 1107, 1216, 1238),
    "ucs2": (35, 90, *range(128, 152), 159, 640, 641, 642, 1059, 1114, 1152, 1174),
    "cp866": (36, 68, 1060, 1092),
    "keybcs2": (37, 73, 1061, 1097),
    "macce": (38, 43, 1062, 1067),
    "macroman": (39, 53, 1063, 1077),
    "cp852": (40, 81, 1064, 1105),
    "utf8mb4": (45, 46, *range(224, 248), 608, 609, 610, 1069, 1070, 1248, 1270),
    "utf16": (54, 55, *range(101, 125), 672, 673, 674, 1078, 1079, 1125, 1147),
    "utf16le": (56, 62, 1080, 1086),
    "cp1256": (57, 67, 1081, 1091),
    "utf32": (60, 61, *range(160, 184), 736, 737, 738, 1084, 1085, 1184, 1206),
    "binary": (63,),
    "geostd8": (92, 93, 1116, 1117),
    "cp932": (95, 96, 1119, 1120),
    "eucjpms": (97, 98, 1121, 1122),
}

CHARSET_OF_ID: dict[int, str] = {i: name for name, ids in _COLLATIONS.items() for i in ids}

# Character sets a client may not use (mysqld: ERROR 1231 for character_set_client).
NOT_FOR_CLIENTS = frozenset({"ucs2", "utf16", "utf16le", "utf32"})

# MariaDB's latin1: cp1252, with 0x81 0x8D 0x8F 0x90 0x9D as U+0081 ... (cp1252 has none).
_LATIN1_TABLE = "".join(
    bytes([b]).decode("cp1252", errors="strict") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
    else chr(b)
    for b in range(256)
)  # fmt: skip
_LATIN1_ENCODING = codecs.charmap_build(_LATIN1_TABLE)

# charset name -> Python codec, for those Python has (the rest: ASCII only, see _codec).
_CODECS: dict[str, str] = {
    "big5": "big5", "latin2": "iso8859_2", "cp850": "cp850", "koi8r": "koi8_r",
    "ascii": "ascii", "ujis": "euc_jp", "sjis": "shift_jis", "cp1251": "cp1251",
    "hebrew": "iso8859_8", "tis620": "tis_620", "euckr": "euc_kr", "latin7": "iso8859_13",
    "koi8u": "koi8_u", "gb2312": "gb2312", "greek": "iso8859_7", "cp1250": "cp1250",
    "gbk": "gbk", "cp1257": "cp1257", "latin5": "iso8859_9", "utf8mb3": "utf-8",
    "cp866": "cp866", "macce": "mac_latin2", "macroman": "mac_roman", "cp852": "cp852",
    "utf8mb4": "utf-8", "cp1256": "cp1256", "binary": "latin_1", "cp932": "cp932",
    "eucjpms": "euc_jp",
}  # fmt: skip


class UnusableCharset(ValueError):
    """A character set a client may not have (ucs2, utf16, utf16le, utf32)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Variable 'character_set_client' can't be set to the value of '{name}'")
        self.name = name


def charset_name(charset: int, fallback: int) -> str:
    """The character set a collation id stands for: the fallback's (the server's default)
    when the id is unknown, utf8mb4 when that is unknown too."""
    return CHARSET_OF_ID.get(charset) or CHARSET_OF_ID.get(fallback) or "utf8mb4"


def effective_charset(charset: int, fallback: int) -> int:
    """The id itself when known, else the fallback (what mysqld then uses)."""
    return charset if charset in CHARSET_OF_ID else fallback


def check_client_charset(charset: int, fallback: int) -> None:
    name = charset_name(charset, fallback)
    if name in NOT_FOR_CLIENTS:
        raise UnusableCharset(name)


def _mysql_replace(exc: UnicodeError) -> tuple[str, int]:
    """mysqld's conversion: each byte that is not valid there becomes '?'."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "?", exc.start + 1


codecs.register_error("mysql-auth-bridge.question-mark", _mysql_replace)


def decode_name(raw: bytes, charset: int, fallback: int) -> str:
    """A name the client sent in `charset`, as text (mysqld's conversion to utf8)."""
    name = charset_name(charset, fallback)
    if name == "latin1":
        return codecs.charmap_decode(raw, "strict", _LATIN1_TABLE)[0]
    codec = _CODECS.get(name, "ascii")
    return raw.decode(codec, "mysql-auth-bridge.question-mark")


def encode_name(text: str, charset: int, fallback: int) -> bytes:
    """`text` as a server that was sent `charset` decodes it; UnicodeEncodeError (a
    ValueError) when the character set cannot hold it."""
    name = charset_name(charset, fallback)
    if name == "latin1":
        return codecs.charmap_encode(text, "strict", _LATIN1_ENCODING)[0]
    codec = _CODECS.get(name, "ascii")
    raw = text.encode(codec)
    if raw.decode(codec) != text:  # a lossy mapping ('¥' is 0x5C, '\\', in euc_jp and sjis)
        at = next((i for i, c in enumerate(text) if c.encode(codec).decode(codec) != c), 0)
        raise UnicodeEncodeError(codec, text, at, at + 1, "the character set cannot hold it")
    return raw


def encode_message(text: str, charset: str) -> bytes:
    """A message the server writes (an error's text, which may hold the user name) as mysqld
    sends it to a client whose character set is `charset` (a name: charset_name's):
    converted, each character the set cannot hold as '?'; `binary` is no conversion (UTF-8,
    mysqld's own), as MariaDB 10.11 answers."""
    if charset == "latin1":
        return codecs.charmap_encode(text, "replace", _LATIN1_ENCODING)[0]
    if charset == "binary":
        return text.encode("utf-8", "replace")
    return text.encode(_CODECS.get(charset, "ascii"), "replace")
