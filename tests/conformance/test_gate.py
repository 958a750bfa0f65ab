"""The gate's verdict from outcomes, and the documented list it reads."""

from __future__ import annotations

from tests.conformance.gate import KnownDifference, compare, load_known, stale
from tests.conformance.suites import SUITES

PASSED, FAILED = "passed", "failed"
KILL = KnownDifference("mariadb", "t.py::T::test_kill*", "thread ids", 11)


def test_a_test_that_passes_directly_and_fails_through_the_bridge_fails_the_gate() -> None:
    result = compare("mariadb", "bridge", {"t::a": PASSED, "t::b": PASSED},
                     {"t::a": PASSED, "t::b": FAILED}, [KILL])  # fmt: skip
    assert result.unexpected == ["t::b"]
    assert not result.ok


def test_a_test_missing_through_the_bridge_counts_as_a_difference() -> None:
    result = compare("mariadb", "bridge", {"t::a": PASSED, "t::b": PASSED}, {"t::a": PASSED}, [])
    assert result.unexpected == ["t::b"]


def test_a_documented_difference_passes_the_gate_and_is_reported() -> None:
    result = compare("mariadb", "bridge", {"t.py::T::test_kill_1": PASSED, "t::a": PASSED},
                     {"t.py::T::test_kill_1": FAILED, "t::a": PASSED}, [KILL])  # fmt: skip
    assert result.ok
    assert result.known == ["t.py::T::test_kill_1"]


def test_a_documented_difference_covers_only_its_suite_and_legs() -> None:
    only_native = KnownDifference("mariadb", "t::a", "why", None, ("bridge-native",))
    baseline, through = {"t::a": PASSED, "t::b": PASSED}, {"t::a": FAILED, "t::b": PASSED}
    assert compare("mariadb", "bridge-native", baseline, through, [only_native]).ok
    assert not compare("mariadb", "bridge", baseline, through, [only_native]).ok
    assert not compare("mysqlclient", "bridge-native", baseline, through, [only_native]).ok


def test_a_test_that_fails_directly_does_not_count_against_the_bridge() -> None:
    result = compare("mariadb", "bridge", {"t::a": FAILED, "t::b": PASSED},
                     {"t::a": FAILED, "t::b": PASSED}, [])  # fmt: skip
    assert result.ok
    assert (result.direct_passed, result.bridge_passed) == (1, 1)


def test_without_a_baseline_every_test_must_pass_through_the_bridge() -> None:
    result = compare("PyMySQL", "bridge", None, {"t::a": PASSED, "t::b": "skipped"}, [])
    assert result.unexpected == ["t::b"]


def test_a_leg_where_nothing_passed_fails_even_with_nothing_to_compare() -> None:
    assert not compare("mariadb", "bridge", {"t::a": FAILED}, {"t::a": FAILED}, []).ok


def test_an_entry_that_matches_no_difference_is_reported_stale() -> None:
    fixed = compare("mariadb", "bridge", {"t.py::T::test_kill_1": PASSED},
                    {"t.py::T::test_kill_1": PASSED}, [KILL])  # fmt: skip
    assert stale([KILL], [fixed]) == [KILL]
    still = compare("mariadb", "bridge", {"t.py::T::test_kill_1": PASSED},
                    {"t.py::T::test_kill_1": FAILED}, [KILL])  # fmt: skip
    assert stale([KILL], [still]) == []


def test_every_documented_difference_names_a_suite_a_reason_and_its_issue_or_none() -> None:
    known = load_known()
    for entry in known:
        assert entry.suite in SUITES
        assert len(entry.reason) > 20
        assert entry.issue is None or isinstance(entry.issue, int)
        assert set(entry.legs) <= {"bridge", "bridge-native"}


def test_a_racy_entry_is_not_reported_stale_when_the_test_happens_to_pass() -> None:
    racy = KnownDifference("mariadb", "t::slow", "timing", None, racy=True)
    passed = compare("mariadb", "bridge", {"t::slow": PASSED}, {"t::slow": PASSED}, [racy])
    assert stale([racy], [passed]) == []


def test_a_parametrized_test_id_is_matched_as_written_despite_its_brackets() -> None:
    entry = KnownDifference("aiomysql", "t::test_x[asyncio-server]", "why", None)
    assert entry.covers("aiomysql", "bridge", "t::test_x[asyncio-server]")
    assert not entry.covers("aiomysql", "bridge", "t::test_x[uvloop-server]")
