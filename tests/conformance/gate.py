"""The verdict, from outcomes alone: a test that passes directly must pass through the bridge,
unless it is a documented deliberate difference (known_differences.yaml)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conformance.junit import PASSED

KNOWN = Path(__file__).with_name("known_differences.yaml")


@dataclass(frozen=True)
class KnownDifference:
    suite: str
    test: str  # a test id, or an fnmatch pattern for parametrized ones
    reason: str
    issue: int | None  # the issue whose fix would remove it; None: deliberate, by design
    legs: tuple[str, ...] = ("bridge", "bridge-native")
    racy: bool = False  # its outcome depends on timing: not reported stale when it passes

    def covers(self, suite: str, leg: str, test: str) -> bool:
        named = test == self.test or fnmatch.fnmatchcase(test, self.test)  # ids hold [ ]
        return suite == self.suite and leg in self.legs and named


def load_known(path: Path = KNOWN) -> list[KnownDifference]:
    rows = yaml.safe_load(path.read_text())["differences"]
    return [KnownDifference(r["suite"], r["test"], r["reason"], r.get("issue"),
                            tuple(r.get("legs", ("bridge", "bridge-native"))),
                            bool(r.get("racy", False)))
            for r in rows]  # fmt: skip


@dataclass
class LegResult:
    """One suite through one bridge leg, against its baseline."""

    suite: str
    leg: str
    baseline: dict[str, str]  # the direct outcomes (or {} when the suite has no direct leg)
    through: dict[str, str]
    known: list[str] = field(default_factory=list)  # differences on the documented list
    unexpected: list[str] = field(default_factory=list)  # the ones that fail the gate

    @property
    def direct_passed(self) -> int:
        return _passed(self.baseline)

    @property
    def bridge_passed(self) -> int:
        return _passed(self.through)

    @property
    def ok(self) -> bool:
        return not self.unexpected and self.bridge_passed > 0


def _passed(outcomes: dict[str, str]) -> int:
    return sum(1 for o in outcomes.values() if o == PASSED)


def compare(suite: str, leg: str, baseline: dict[str, str] | None, through: dict[str, str],
            known: list[KnownDifference]) -> LegResult:  # fmt: skip
    """With a baseline: tests that passed there. Without (MariaDB cannot run the suite): every
    test of the suite must pass through the bridge."""
    result = LegResult(suite, leg, baseline or {}, through)
    required = through if baseline is None else {t: o for t, o in baseline.items() if o == PASSED}
    for test in sorted(required):
        if through.get(test) == PASSED:
            continue
        documented = any(k.covers(suite, leg, test) for k in known)
        (result.known if documented else result.unexpected).append(test)
    return result


def stale(known: list[KnownDifference], results: list[LegResult]) -> list[KnownDifference]:
    """Entries that no longer match a difference in the suites that ran: remove them."""
    ran = {r.suite for r in results}
    hit = {(r.suite, r.leg, t) for r in results for t in r.known}
    return [k for k in known if k.suite in ran and not k.racy
            and not any(k.covers(s, leg, t) for s, leg, t in hit)]  # fmt: skip
