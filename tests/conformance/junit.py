"""Reading a suite's report: pytest's junit XML, or the verbose output of a unittest runner
(MySQL Connector/Python's own unittests.py). One outcome per test id."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


def outcomes(report: Path) -> dict[str, str]:
    """{"tests/test_x.py::TestY::test_z": outcome}; a test reported twice (a teardown error
    after a pass) keeps the worse outcome."""
    found: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314
        name = test_id(case.get("classname", ""), case.get("name", ""))
        outcome = _outcome(case)
        if found.get(name) in (FAILED, ERROR):
            continue
        found[name] = outcome
    return found


def test_id(classname: str, name: str) -> str:
    return f"{classname}::{name}" if classname else name


def _outcome(case: ET.Element) -> str:
    if case.find("error") is not None:
        return ERROR
    if case.find("failure") is not None:
        return FAILED
    if case.find("skipped") is not None:
        return SKIPPED
    return PASSED


# "module.Class.test_x ... ok" (verbosity 2), then "FAIL: module.Class.test_x (using X)" blocks
_STARTED = re.compile(r"^([A-Za-z_][\w.]*)(?: \([^)\n]*\))? \.\.\. (.*)$", re.MULTILINE)
_PROBLEM = re.compile(r"^(FAIL|ERROR): ([A-Za-z_][\w.]*)", re.MULTILINE)
_UNITTEST = {"FAIL": FAILED, "ERROR": ERROR}


def unittest_outcomes(text: str) -> dict[str, str]:
    """Outcomes from a unittest runner's verbose output: the summary's FAIL/ERROR blocks are
    authoritative (a test's own output can split its progress line)."""
    found: dict[str, str] = {}
    for name, rest in _STARTED.findall(text):
        found[name] = _progress(rest)
    for kind, name in _PROBLEM.findall(text):
        found[name] = _UNITTEST[kind]
    return found


def _progress(rest: str) -> str:
    if rest.startswith("skipped"):
        return SKIPPED
    if rest.startswith("unexpected success"):
        return FAILED
    return PASSED  # ok, expected failure, or output that a FAIL/ERROR block will override
