"""bridge/yamlfile.py: the data safe_load gives, and the lines, from either path."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import yamlfile
from bridge.yamlfile import Marks, key_line, mark_at, start_line

PLAIN = """\
accounts:
  - user: alice
    host: '10.%'
    plugin: mysql_native_password
    init_sql: ["SET @a = 1", 'x']
  - {user: "", host: "%", plugin: authentication_pam}
numbers: {port: 3306, timeout: 1.5, on: yes, off: no, none: ~, empty: , hex: 0x1F, day: 2026-01-01}
quoted: {a: '3306', b: "true", c: 'null'}
block: |
  two
  lines
"""
UNUSUAL = {
    "anchor and alias": "base: &b {x: 1}\nother: *b\n",
    "merge key": "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n",
    "explicit tag": "a: !!binary aGk=\nb: !!str 12\n",
    "complex key": "? [a, b]\n: 1\n",
}


def full_path(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each time the fast path gives up."""
    calls: list[str] = []
    real = yamlfile._full

    def counting(text: str) -> Any:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(yamlfile, "_full", counting)
    return calls


def test_a_plain_file_takes_the_fast_path_and_gives_safe_loads_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = full_path(monkeypatch)
    data, marks = yamlfile.parse(PLAIN)
    assert data == yaml.safe_load(PLAIN)
    assert calls == []
    assert mark_at(marks, ["accounts", 0]) is not None
    second = mark_at(marks, ["accounts", 1])
    assert isinstance(second, Marks) and start_line(second) == 5
    assert mark_at(marks, ["accounts", 0, "host"]) == 2
    assert mark_at(marks, ["accounts", 0, "init_sql", 1]) == 4
    assert key_line(marks, "block") == 8
    assert mark_at(marks, ["accounts", 7]) is None
    assert mark_at(marks, ["nothing"]) is None
    assert mark_at(marks, ["accounts", 0, "user", "deeper"]) == 1  # below a scalar: its line


@pytest.mark.parametrize("text", UNUSUAL.values(), ids=list(UNUSUAL))
def test_unusual_yaml_goes_to_pyyaml_and_still_gives_lines(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = full_path(monkeypatch)
    if "? [a, b]" in text:
        with pytest.raises(yaml.YAMLError, match="unhashable"):
            yamlfile.parse(text)
        return
    data, marks = yamlfile.parse(text)
    assert data == yaml.safe_load(text)
    assert calls == [text]
    assert isinstance(marks, Marks)
    last = list(data)[-1]
    assert key_line(marks, last) == text.count("\n", 0, text.index(f"\n{last}:") + 1)


def test_merge_key_lines_point_at_the_merged_values() -> None:
    data, marks = yamlfile.parse(UNUSUAL["merge key"])
    assert data["m"] == {"x": 1, "y": 2}
    assert mark_at(marks, ["m", "x"]) == 0  # from the anchored mapping on line 1
    assert mark_at(marks, ["m", "y"]) == 3


def test_an_alias_to_an_ancestor_gives_safe_loads_recursive_data_without_hanging() -> None:
    data, marks = yamlfile.parse("a: &x [1, *x]\n")
    assert data["a"][1] is data["a"]
    assert mark_at(marks, ["a", 1, 1, 1, 0]) == 0


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_an_empty_stream_has_no_data_and_no_marks(text: str) -> None:
    assert yamlfile.parse(text) == (None, None)


def test_an_empty_document_is_none() -> None:
    data, mark = yamlfile.parse("\n---\n...\n")
    assert data is None and isinstance(mark, int)


def test_a_second_document_and_bad_yaml_are_pyyaml_errors() -> None:
    with pytest.raises(yaml.composer.ComposerError, match="single document"):
        yamlfile.parse("a: 1\n---\nb: 2\n")
    with pytest.raises(yaml.YAMLError):
        yamlfile.parse("a: [1, 2\n")


SCALARS = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(DOCS, st.booleans())
def test_any_dumped_document_reads_back_as_safe_load_reads_it(doc: Any, flow: bool) -> None:
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    data, _ = yamlfile.parse(text)
    assert data == yaml.safe_load(text)


def test_a_value_yaml_cannot_build_is_a_yaml_error_with_its_line() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        yamlfile.parse("accounts:\n  - {user: a, host: 2001-02-30}\n")
    assert "cannot read '2001-02-30' as timestamp" in str(caught.value)
    assert "line 2" in str(caught.value)
