"""The gate's report: counts per suite and leg (the table docs/clients.md carries), then each
difference with its documented reason, or as the failure it is."""

from __future__ import annotations

from collections import Counter

from tests.conformance.gate import KnownDifference, LegResult
from tests.conformance.junit import PASSED
from tests.conformance.run import LegRun


def count(outcomes: dict[str, str]) -> str:
    tally = Counter(outcomes.values())
    rest = ", ".join(f"{n} {o}" for o, n in sorted(tally.items()) if o != PASSED)
    return f"{tally[PASSED]}/{len(outcomes)} passed" + (f" ({rest})" if rest else "")


def render(results: list[LegResult], runs: list[dict[str, LegRun]],
           stale: list[KnownDifference]) -> str:  # fmt: skip
    seconds = {(r.suite, r.leg): r.seconds for legs in runs for r in legs.values()}
    lines = ["| suite | leg | direct | through the bridge | known differences | unexpected |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        direct = count(r.baseline) if r.baseline else "not run (MariaDB cannot)"
        lines.append(f"| {r.suite} | {r.leg} | {direct} | {count(r.through)} | "
                     f"{len(r.known)} | {len(r.unexpected)} |")  # fmt: skip
    lines.append("")
    lines += [f"- time: {s} {leg} {t:.0f} s" for (s, leg), t in seconds.items()]
    for r in results:
        lines += [f"- UNEXPECTED {r.suite} {r.leg}: {t} ({r.through.get(t, 'missing')})"
                  for t in r.unexpected]  # fmt: skip
        if r.bridge_passed == 0:
            lines.append(f"- UNEXPECTED {r.suite} {r.leg}: no test passed through the bridge")
        lines += [f"- known {r.suite} {r.leg}: {t}" for t in r.known]
    lines += [f"- STALE entry (matches no difference now: remove it): {k.suite} {k.test} "
              f"(issue {k.issue})" for k in stale]  # fmt: skip
    verdict = "PASS" if all(r.ok for r in results) else "FAIL"
    lines.append(f"\nconformance gate: {verdict}")
    return "\n".join(lines)
