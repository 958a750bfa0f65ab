"""`python -m tests.conformance fetch|run [--suite NAME ...]`.

fetch: download the pinned sdists and build a virtualenv per suite (needs PyPI).
run:   start the sandbox MariaDB and two bridges, run each suite directly and through them,
       compare, print the counts; exit 1 when a difference is not on the documented list.
       Needs no network: scripts/conformance runs it in a network namespace with only loopback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from tests.conformance import fetch, report
from tests.conformance.gate import KnownDifference, LegResult, compare, load_known, stale
from tests.conformance.run import LegRun, run_leg
from tests.conformance.servers import Servers, running
from tests.conformance.suites import SUITES, Suite


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    suites = [SUITES[name] for name in args.suite or SUITES]
    if args.command == "fetch":
        for suite in suites:
            print(f"conformance: {suite.requirement}: {fetch.venv(suite)}", flush=True)
        return 0
    signal.signal(signal.SIGTERM, _exit_on_term)  # stop the servers on the way out
    work = Path(args.work or tempfile.mkdtemp(prefix="conformance-"))
    with running(work, suites) as servers:
        runs = [_run_suite(suite, servers, work) for suite in suites]
    known = load_known()
    results = [r for suite, legs in zip(suites, runs, strict=True)
               for r in _compare(suite, legs, known)]  # fmt: skip
    text = report.render(results, runs, stale(known, results))
    print(text)
    (work / "summary.md").write_text(text + "\n")
    print(f"conformance: logs and reports in {work}/suites")
    # the closing line CI reads: tests passed through the bridge, and the gate's failures
    failed = sum(len(r.unexpected) + (r.bridge_passed == 0) for r in results)
    print(f"conformance: {sum(r.bridge_passed for r in results)} passed, {failed} failed")
    return 0 if all(r.ok for r in results) else 1


def _exit_on_term(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _run_suite(suite: Suite, servers: Servers, work: Path) -> dict[str, LegRun]:
    archive, python = fetch.sdist(suite), fetch.venv(suite)
    legs: dict[str, LegRun] = {}
    for leg in suite.legs:
        servers.reset_databases(suite)
        legs[leg] = run_leg(suite, archive, servers.target(leg), python, work)
        print(f"conformance: {suite.name} {leg}: {report.count(legs[leg].outcomes)} "
              f"in {legs[leg].seconds:.0f} s", flush=True)  # fmt: skip
    return legs


def _compare(suite: Suite, legs: dict[str, LegRun],
             known: list[KnownDifference]) -> list[LegResult]:  # fmt: skip
    baseline = None if suite.bridge_must_pass else legs["direct"].outcomes
    return [compare(suite.name, leg, baseline, run.outcomes, known)
            for leg, run in legs.items() if leg != "direct"]  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("command", choices=("fetch", "run"))
    parser.add_argument("--suite", action="append", choices=sorted(SUITES),
                        help="only this suite (repeatable); default: all")  # fmt: skip
    parser.add_argument("--work", help="where servers, logs and reports go (default: a temp dir)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
