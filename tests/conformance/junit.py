"""Reading pytest's junit XML: one outcome per test id."""

from __future__ import annotations

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
