"""YAML text -> the data `yaml.safe_load` gives, and the line of every key and item, in one
parse.

The common file (plain mappings, sequences and scalars: every accounts and credentials file
the bridge or `import-sql` writes) is built straight from libyaml's events, without PyYAML's
node tree: a tree of 10,000 account rows costs several times the parse itself, in memory
and in time. Anything else (anchors and aliases, explicit tags, merge keys, keys that are
not scalars, a second document) is left to PyYAML's own composer and constructor, which
also says what is wrong with it.

Lines are 0-based, as libyaml marks them. A scalar's marks are its line; a collection's are
a `Marks`.
"""

from __future__ import annotations

from typing import Any, TypeAlias, cast

import yaml


class Marks:
    """Where a collection starts, and its items: for a mapping, key -> (the key's line, the
    value's marks); for a sequence, each item's marks."""

    __slots__ = ("items", "line")

    def __init__(self, line: int, items: dict[Any, tuple[int, Mark]] | list[Mark]) -> None:
        self.line = line
        self.items = items


Mark: TypeAlias = Marks | int


def start_line(mark: Mark) -> int:
    return mark if isinstance(mark, int) else mark.line


def mark_at(mark: Mark | None, loc: list[int | str]) -> Mark | None:
    """The marks of the value at a key path; where the path goes below a scalar, the
    scalar's; None where a key or an index is not there."""
    for key in loc:
        if mark is None or isinstance(mark, int):
            return mark
        if isinstance(mark.items, dict):
            entry = mark.items.get(key)
            mark = entry[1] if entry is not None else None
        elif isinstance(key, int):
            mark = mark.items[key] if 0 <= key < len(mark.items) else None
        else:
            return mark
    return mark


def key_line(mark: Mark | None, key: Any) -> int | None:
    """The line of a key of a mapping (not of its value)."""
    if isinstance(mark, Marks) and isinstance(mark.items, dict) and key in mark.items:
        return mark.items[key][0]
    return None


def _loader_class() -> type[Any]:
    """libyaml's parser (several times faster than PyYAML's own) when PyYAML has it."""
    try:
        return cast(type[Any], yaml.CSafeLoader)
    except AttributeError:
        return yaml.SafeLoader


_Loader = _loader_class()
_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers
_TAG = "tag:yaml.org,2002:"
_STR, _MERGE = _TAG + "str", _TAG + "merge"
_PLAIN_TAGS = (None, "!")  # no tag, or the non-specific one: resolved as PyYAML does


def parse(text: str) -> tuple[Any, Mark | None]:
    """The data and its marks; (None, None) for an empty stream. yaml.YAMLError for
    text that is not YAML or that safe_load refuses."""
    try:
        return _Fast(text).document()
    except _Unusual:
        return _full(text)


class _Unusual(Exception):
    """A feature the fast path leaves to PyYAML."""


class _Fast:
    """Events -> data and marks, for plain documents; _Unusual for anything else."""

    def __init__(self, text: str) -> None:
        self.loader = _Loader(text)
        self.get = self.loader.get_event

    def document(self) -> tuple[Any, Mark | None]:
        try:
            self.get()  # StreamStart
            if self.loader.check_event(yaml.StreamEndEvent):
                return None, None
            self.get()  # DocumentStart
            found = self.value(self.get())
            self.get()  # DocumentEnd
            if not self.loader.check_event(yaml.StreamEndEvent):
                raise _Unusual  # another document: PyYAML's composer says so
            return found
        finally:
            self.loader.dispose()

    def value(self, event: Any) -> tuple[Any, Mark]:
        kind = event.__class__
        if kind is yaml.AliasEvent or event.anchor is not None or event.tag not in _PLAIN_TAGS:
            raise _Unusual
        if kind is yaml.ScalarEvent:
            text = event.value
            if not event.implicit[0] or text[:1] not in _IMPLICIT:  # a string: most are
                return text, event.start_mark.line
            return self.scalar(event), event.start_mark.line
        if kind is yaml.MappingStartEvent:
            return self.mapping(event.start_mark.line)
        return self.sequence(event.start_mark.line)

    def scalar(self, event: Any) -> Any:
        """As PyYAML resolves and constructs an untagged scalar that an implicit resolver
        (int, bool, null, ...) may claim, by its first character."""
        text = event.value
        tag = self.loader.resolve(yaml.ScalarNode, text, event.implicit)
        if tag == _STR:
            return text
        if tag == _MERGE:
            raise _Unusual
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
        try:
            return self.loader.construct_object(node)
        except (ValueError, OverflowError) as exc:  # e.g. 2001-02-30 read as a date
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"cannot read {text!r} as {tag.rsplit(':', 1)[-1]}: {exc}",
                event.start_mark,
            ) from None

    def mapping(self, line: int) -> tuple[dict[Any, Any], Marks]:
        data: dict[Any, Any] = {}
        items: dict[Any, tuple[int, Mark]] = {}
        while True:
            event = self.get()
            if event.__class__ is yaml.MappingEndEvent:
                return data, Marks(line, items)
            if event.__class__ is not yaml.ScalarEvent:
                raise _Unusual  # an alias, or a collection as a key
            key_data, key_mark = self.value(event)
            data[key_data], mark = self.value(self.get())
            items[key_data] = (cast(int, key_mark), mark)

    def sequence(self, line: int) -> tuple[list[Any], Marks]:
        data: list[Any] = []
        items: list[Mark] = []
        while True:
            event = self.get()
            if event.__class__ is yaml.SequenceEndEvent:
                return data, Marks(line, items)
            value, mark = self.value(event)
            data.append(value)
            items.append(mark)


def _full(text: str) -> tuple[Any, Mark | None]:
    """PyYAML's composer and SafeConstructor (exactly safe_load), marks from its nodes."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        data = loader.construct_document(node)  # also flattens merge keys in the tree
        return data, _node_marks(node, loader, {})
    finally:
        loader.dispose()


def _node_marks(node: yaml.Node, loader: Any, seen: dict[int, Mark]) -> Mark:
    if id(node) in seen:  # an alias: the marks of its anchor
        return seen[id(node)]
    line = node.start_mark.line
    if isinstance(node, yaml.ScalarNode):
        return line
    if isinstance(node, yaml.SequenceNode):
        marks = seen[id(node)] = Marks(line, [])
        marks.items = [_node_marks(item, loader, seen) for item in node.value]
        return marks
    items: dict[Any, tuple[int, Mark]] = {}
    marks = seen[id(node)] = Marks(line, items)
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = loader.construct_object(key_node)
            items[key] = (key_node.start_mark.line, _node_marks(value_node, loader, seen))
    return marks
