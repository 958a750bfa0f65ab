"""Reading pytest's junit XML into one outcome per test."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.junit import outcomes, unittest_outcomes

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.test_a" name="test_ok" time="0.1"/>
<testcase classname="tests.test_a" name="test_bad" time="0.1"><failure message="x">tb</failure></testcase>
<testcase classname="tests.test_a.T" name="test_skip" time="0"><skipped message="no"/></testcase>
<testcase classname="tests.test_b" name="test_err" time="0"><error message="fixture">tb</error></testcase>
<testcase classname="tests.test_b" name="test_teardown" time="0"/>
<testcase classname="tests.test_b" name="test_teardown" time="0"><error message="teardown"/></testcase>
<testcase classname="" name="test_param[asyncio-server]" time="0"/>
</testsuite></testsuites>
"""


def test_each_test_gets_its_outcome(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(REPORT)
    assert outcomes(report) == {
        "tests.test_a::test_ok": "passed",
        "tests.test_a::test_bad": "failed",
        "tests.test_a.T::test_skip": "skipped",
        "tests.test_b::test_err": "error",
        "tests.test_b::test_teardown": "error",  # a pass, then an error in teardown
        "test_param[asyncio-server]": "passed",
    }


UNITTEST_LOG = """2026-11-30 12:21:21,261 [myconnpy_tests:INFO] Starting unit tests
connection.Tests.test_ok ... ok
connection.Tests.test_refresh ... FAIL
connection.Tests.test_old ... skipped 'Plugin not available in this version'
connection.Tests.test_noisy ... Traceback (most recent call last):
  some output the test printed
ok
connection.Tests.test_attrs ... Traceback (most recent call last):
ERROR
cursor.Tests.test_expected ... expected failure
cursor.Tests.test_lucky ... unexpected success

======================================================================
FAIL: connection.Tests.test_refresh
----------------------------------------------------------------------
Traceback (most recent call last):
AssertionError: 1 != 2
======================================================================
ERROR: connection.Tests.test_attrs (using MySQLConnection)
----------------------------------------------------------------------
Ran 8 tests in 1.0s

FAILED (failures=1, errors=1)
"""


def test_a_unittest_runners_verbose_output_gives_each_tests_outcome() -> None:
    assert unittest_outcomes(UNITTEST_LOG) == {
        "connection.Tests.test_ok": "passed",
        "connection.Tests.test_refresh": "failed",
        "connection.Tests.test_old": "skipped",
        "connection.Tests.test_noisy": "passed",
        "connection.Tests.test_attrs": "error",
        "cursor.Tests.test_expected": "passed",
        "cursor.Tests.test_lucky": "failed",
    }
