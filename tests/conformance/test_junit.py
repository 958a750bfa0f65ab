"""Reading pytest's junit XML into one outcome per test."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.junit import outcomes

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
