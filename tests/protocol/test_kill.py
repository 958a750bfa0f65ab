import time

import pytest

from bridge.protocol.errors import ProtocolError
from bridge.protocol.kill import (
    PARSE_LIMIT,
    Kill,
    build_process_kill,
    might_be_kill,
    parse_kill,
    parse_process_kill,
)


@pytest.mark.parametrize(
    ("sql", "target", "query_only", "modifier"),
    [
        (b"KILL 5", 5, False, ""),
        (b"kill query 7;", 7, True, ""),
        (b"  /* why */ KiLl\n CONNECTION\t 9 ; ", 9, False, ""),
        (b"/*!50000 KILL QUERY 3 */", 3, True, ""),
        (b"/*M!100000 KILL 3 */", 3, False, ""),
        (b"KILL HARD QUERY 4", 4, True, "HARD"),
        (b"kill soft 4", 4, False, "SOFT"),
        (b"# a comment\nKILL 1", 1, False, ""),
        (b"-- a comment\nKILL 2 -- and another", 2, False, ""),
        (b"\vKILL\xa05", 5, False, ""),
        (b"KILL 0005;;", 5, False, ""),
    ],
)
def test_kill_forms_that_name_a_connection_are_translated(
    sql: bytes, target: int, query_only: bool, modifier: str
) -> None:
    assert parse_kill(sql) == Kill("translate", target, query_only, modifier)


def translated(sql: bytes) -> Kill:
    kill = parse_kill(sql)
    assert kill is not None
    return kill


def test_translated_statement() -> None:
    assert translated(b"kill query 7").statement(1234) == b"KILL QUERY 1234"
    assert translated(b"KILL 7").statement(9) == b"KILL CONNECTION 9"
    assert translated(b"KILL HARD 7").statement(9) == b"KILL HARD CONNECTION 9"


@pytest.mark.parametrize("sql", [b"KILL QUERY ID 5", b"kill user bob", b"KILL HARD USER 'bob'@'%'"])
def test_kill_forms_without_a_connection_id_pass(sql: bytes) -> None:
    assert parse_kill(sql) == Kill("forward")


@pytest.mark.parametrize(
    "sql",
    [b"KILL 5; SELECT 1", b"KILL @x", b"KILL 5.0", b"KILL 0x5", b"KILL (5)", b"KILL 2+3",
     b"KILL CONNECTION_ID()", b"KILL", b"KILL '5'", b"KILL --5",
     # a KILL hiding behind another statement or a comment the upstream may skip
     b" SELECT 1; KILL 5", b"/**/DO 1;kill 5", b"KILL USER bob; KILL 5", b"KILL QUERY ID 1;KILL 5",
     b"/*!99999 x */ KILL 5", b"/*M!999999 SELECT 1; */KILL 5", b"KILL 5 /*!99999 + 1 */"],
)  # fmt: skip
def test_kill_forms_the_bridge_cannot_translate_are_refused(sql: bytes) -> None:
    found = parse_kill(sql)
    assert found is not None and found.action == "refuse"


@pytest.mark.parametrize("sql", [b"SELECT 1", b"killer", b"/* KILL 5 */ SELECT 1", b"/* KILL 5"])
def test_other_queries_are_not_kills(sql: bytes) -> None:
    assert parse_kill(sql) is None


PAD = 5000  # past PARSE_LIMIT


@pytest.mark.parametrize(
    "sql",
    [b" " * PAD + b"KILL 5", b"/* " + b"x" * PAD + b" */ KILL 5", b" KILL 5 /*" + b"x" * PAD + b"*/",
     b" SELECT 1; KILL 5; /*" + b"x" * PAD + b"*/", b"/*!99999 x */ KILL 5 -- " + b"x" * PAD,
     b"\t" * (PARSE_LIMIT - 2) + b"KILL 5 " + b" " * PAD],  # the first word cut at the limit
)  # fmt: skip
def test_a_long_query_that_starts_with_or_hides_a_kill_is_refused(sql: bytes) -> None:
    found = parse_kill(sql)
    assert found is not None and found.action == "refuse"


@pytest.mark.parametrize(
    "sql",
    [b" SELECT '" + b"skill " * PAD + b"'", b"/* kill */ INSERT INTO t VALUES " + b"(1)," * PAD],
)
def test_a_long_query_that_starts_with_another_statement_passes(sql: bytes) -> None:
    assert parse_kill(sql) is None


def test_a_long_query_full_of_kill_words_costs_its_first_4_kib_only() -> None:
    # 16 MiB of tokens: read whole, this took 6 s and 520 MiB in the bridge
    sql = b" kill" + b" x" * (8 << 20)
    started = time.perf_counter()
    found = parse_kill(sql)
    assert time.perf_counter() - started < 0.5
    assert found is not None and found.action == "refuse"


def test_might_be_kill_is_a_first_byte_test() -> None:
    assert all(might_be_kill(b) for b in b"kK /#-\t\n\v\f\r\xa0")  # MariaDB's whitespace
    assert not any(might_be_kill(b) for b in b"SsIiUuDdCc(")


def test_com_process_kill() -> None:
    assert parse_process_kill(build_process_kill(0xDEADBEEF)) == 0xDEADBEEF
    assert build_process_kill(5) == b"\x0c\x05\x00\x00\x00"
    with pytest.raises(ProtocolError):
        parse_process_kill(b"\x0c\x01")
