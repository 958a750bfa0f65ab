"""The mutation report's own rules: what counts as detected, what a listing is, and that
every listed equivalent names a mutant of a configured module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import mutation_report as mr


def write_meta(root: Path, module: str, codes: dict[str, int | None]) -> None:
    meta = root / (module + ".meta")
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes}))


def test_score_counts_kills_and_timeouts_not_survivors(tmp_path: Path) -> None:
    write_meta(tmp_path, "bridge/m.py", {"a": 1, "b": 36, "c": -24, "d": 0, "e": 33, "f": None})
    s = mr.score("bridge/m.py", tmp_path)
    assert (s.detected, s.total, sorted(s.survivors)) == (3, 6, ["d", "e", "f"])
    assert s.percent == 50.0


def test_a_worker_that_raised_counts_only_if_the_rerun_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_meta(tmp_path, "bridge/m.py", {"fails": 255, "passes": 255, "odd": 255})
    reruns = {"fails": 2, "passes": 0, "odd": 4}  # 2: the test module did not import
    monkeypatch.setattr(mr, "rerun_by_file", lambda name, _dir: reruns[name])
    s = mr.score("bridge/m.py", tmp_path)
    assert (s.detected, sorted(s.survivors)) == (1, ["odd", "passes"])
    assert json.loads((tmp_path / "reruns.json").read_text()) == {"fails": 1, "passes": 0, "odd": 4}


def test_report_fails_below_the_minimum_or_on_unlisted_survivors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "eq.md"
    listed.write_text("- `bridge.m.x_f__mutmut_2`: a reason\n- `bridge.m.x_f__mutmut_3`:\n")
    monkeypatch.setattr(mr, "EQUIVALENTS", listed)
    monkeypatch.setattr(mr, "ROOT", tmp_path)
    codes: dict[str, int | None] = {f"bridge.m.x_f__mutmut_{i}": 1 for i in range(4, 22)}
    write_meta(tmp_path, "bridge/m.py", {**codes, "bridge.m.x_f__mutmut_2": 0})
    assert mr.report(["bridge/m.py"], 90.0, tmp_path) == 0  # 18/19, its survivor listed
    write_meta(tmp_path, "bridge/m.py", {**codes, "bridge.m.x_f__mutmut_3": 0})
    assert mr.report(["bridge/m.py"], 90.0, tmp_path) == 1  # a listing needs a reason
    assert "survived: bridge.m.x_f__mutmut_3" in capsys.readouterr().out
    assert mr.report(["bridge/m.py"], 99.0, tmp_path) == 1


def test_every_listed_equivalent_belongs_to_a_configured_module() -> None:
    modules = {m.removesuffix(".py").replace("/", ".") for m in mr.configured_modules()}
    for name in mr.listed_equivalents():
        assert name.rsplit(".", 1)[0] in modules, name
