"""Per-module mutation scores from mutmut's results (mutants/**/*.py.meta), checked against
tests/mutation-equivalents.md. Run by scripts/mutation; not a test module.

A module passes when it scores at least --min (killed and timed-out mutants over all) and
every survivor is listed as equivalent. A listed survivor still counts against the score:
the list explains what is left, it does not raise the number.

    python -m tests.mutation_report [--min 90] [MODULE ...]   # e.g. bridge/mapping/hosts.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tests" / "mutation-equivalents.md"
# killed, pytest internal error, timeouts (mutmut's 36, SIGXCPU)
DETECTED = {1, 3, 36, 24, -24, 152}
# mutmut shows a worker that raised as 255 "timeout". It raises when pytest exits 4, which it
# does when a mutant breaks a test module's import-time code and the tests were named by id
# ("found no collectors"). Such mutants are run again by file below, and count as detected
# only if that run fails.
WORKER_RAISED = 255
_LISTED = re.compile(r"^- `(?P<name>[\w.]+__mutmut_\d+)`: \S")


@dataclass
class Score:
    module: str
    detected: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.detected + len(self.survivors)

    @property
    def percent(self) -> float:
        return 100.0 * self.detected / self.total if self.total else 100.0


def listed_equivalents(path: Path | None = None) -> set[str]:
    """Mutant names listed as `- `name`: reason` lines; a line without a reason is no listing."""
    text = (path or EQUIVALENTS).read_text()
    return {m["name"] for line in text.splitlines() if (m := _LISTED.match(line))}


def rerun_by_file(name: str, mutants_dir: Path) -> int:
    """Run the test files that cover mutant `name` with it active; pytest's exit code."""
    stats = json.loads((mutants_dir / "mutmut-stats.json").read_text())
    tests = stats["tests_by_mangled_function_name"].get(name.rsplit("__mutmut_", 1)[0], [])
    files = sorted({t.split("::", 1)[0] for t in tests})
    if not files:
        return 5
    env = dict(os.environ, MUTANT_UNDER_TEST=name, PYTHONPATH=str(mutants_dir.resolve()))
    args = ["--rootdir=.", "-x", "-q", "-p", "no:cacheprovider", "--hypothesis-profile=mutation"]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *args, *files], cwd=mutants_dir, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return 36
    return done.returncode


def verified(name: str, exit_code: int | None, mutants_dir: Path) -> int | None:
    if exit_code != WORKER_RAISED:
        return exit_code
    cache_file = mutants_dir / "reruns.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    if name not in cache:
        code = rerun_by_file(name, mutants_dir)
        # 1: a test failed; 2: collection errors (the module did not import)
        cache[name] = 1 if code in (1, 2) else code
        cache_file.write_text(json.dumps(cache, indent=1))
    return int(cache[name])


def score(module: str, mutants_dir: Path) -> Score:
    meta = mutants_dir / (module + ".meta")
    result = Score(module)
    if not meta.exists():
        raise SystemExit(f"mutation: no results for {module} (run mutmut first)")
    for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
        if verified(name, exit_code, mutants_dir) in DETECTED:
            result.detected += 1
        else:  # survived, no tests, suspicious, not checked
            result.survivors.append(name)
    return result


def report(modules: list[str], minimum: float, mutants_dir: Path) -> int:
    equivalents = listed_equivalents()
    failed = False
    print(f"{'module':40} {'mutants':>8} {'detected':>9} {'score':>7}  unexplained survivors")
    for module in modules:
        s = score(module, mutants_dir)
        unexplained = [n for n in s.survivors if n not in equivalents]
        print(f"{module:40} {s.total:8} {s.detected:9} {s.percent:6.1f}%  {len(unexplained)}")
        for name in unexplained:
            print(f"    survived: {name}   (mutmut show {name})")
        failed |= s.percent < minimum or bool(unexplained)
    if failed:
        print(f"mutation: below {minimum:.0f}% or survivors not in {EQUIVALENTS.relative_to(ROOT)}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--min", type=float, default=90.0, help="lowest acceptable score, percent")
    p.add_argument("--mutants", type=Path, default=ROOT / "mutants", help="mutmut's work dir")
    p.add_argument("modules", nargs="*", help="source files, e.g. bridge/scramble.py")
    args = p.parse_args(argv)
    return report(args.modules or configured_modules(), args.min, args.mutants)


def configured_modules() -> list[str]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["mutmut"]["only_mutate"])


if __name__ == "__main__":
    sys.exit(main())
