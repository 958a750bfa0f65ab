"""Running one suite against one target, in its own copy of the unpacked sdist."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conformance.fetch import unpack
from tests.conformance.junit import outcomes, unittest_outcomes
from tests.conformance.suites import Suite, Target

PLUGINS = Path(__file__).with_name("plugins")
TIMEOUT = 900  # seconds for one suite on one leg


@dataclass(frozen=True)
class LegRun:
    suite: str
    leg: str
    outcomes: dict[str, str]
    seconds: float
    log: Path


def run_leg(suite: Suite, archive: Path, target: Target, python: Path, work: Path) -> LegRun:
    scratch = work / "suites" / suite.name / target.leg
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    root = unpack(archive, scratch / "src")
    invocation = suite.prepare(root, target, scratch)
    report, log = scratch / "junit.xml", scratch / "output.log"
    env = {**_clean_env(), **invocation.env, "PYTHONPATH": str(PLUGINS)}
    started = time.monotonic()
    args = [*invocation.args, f"--junitxml={report}"] if invocation.junit else invocation.args
    with log.open("wb") as out:
        subprocess.run([str(python), *args], cwd=invocation.cwd, env=env, stdout=out,
                       stderr=subprocess.STDOUT, timeout=TIMEOUT, check=False)  # fmt: skip
    seconds = time.monotonic() - started
    if not invocation.junit:
        return LegRun(suite.name, target.leg, unittest_outcomes(log.read_text()), seconds, log)
    if not report.exists():
        raise RuntimeError(f"{suite.name} on {target.leg} wrote no report; see {log}")
    return LegRun(suite.name, target.leg, outcomes(report), seconds, log)


def _clean_env() -> dict[str, str]:
    """This process's environment without what would point the suite elsewhere."""
    drop = (
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "PYTEST_ADDOPTS",
        "MYSQL_PWD",
        "MYSQL_HOST",
        "MYSQL_TCP_PORT",
    )
    return {k: v for k, v in os.environ.items() if k not in drop}
