"""Reading a session file with bounds: size, nesting and YAML aliases are refused before anything big is built."""

from __future__ import annotations

import json

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from farm.errors import SessionError
from farm.storage import Location

from .model import MAX_ALIAS_VALUES, MAX_ECHO_CHARS, MAX_NESTING, MAX_SESSION_FILE_BYTES
from .problems import echo, shorten


class _Refused(Exception):
    """A session file refused while it was read; the message is the problem."""


def read_document(source: Location) -> object:
    """Parse a YAML or JSON session file into plain data.

    Raises SessionError for a file over :data:`MAX_SESSION_FILE_BYTES`, not
    valid, nested more than :data:`MAX_NESTING` deep, or with YAML aliases
    that stand for more than :data:`MAX_ALIAS_VALUES` values; none of these
    is expanded or built first.
    """
    text = _read_text(source)
    is_json = str(source).lower().endswith(".json")
    try:
        return _parse_json(text) if is_json else _parse_yaml(text)
    except _Refused as exc:
        raise SessionError(str(source), [str(exc)]) from None
    except (ValueError, yaml.YAMLError) as exc:
        raise SessionError(str(source), [shorten(f"not valid {'JSON' if is_json else 'YAML'}: {exc}")]) from None


def _read_text(source: Location) -> str:
    """The session file as text; never reads more than one byte past :data:`MAX_SESSION_FILE_BYTES`."""
    try:
        with source.open() as handle:
            data = handle.read(MAX_SESSION_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SessionError(str(source), ["no such file"]) from None
    except OSError as exc:
        raise SessionError(str(source), [f"unreadable: {exc.strerror or type(exc).__name__}"]) from None
    if len(data) > MAX_SESSION_FILE_BYTES:
        raise SessionError(
            str(source), [f"the file is larger than {MAX_SESSION_FILE_BYTES // 2**20} MiB; a session file may hold at most {MAX_SESSION_FILE_BYTES} bytes"]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SessionError(str(source), [f"unreadable: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None


def _parse_json(text: str) -> object:
    """Plain data from JSON text; refused when nested more than :data:`MAX_NESTING` deep."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise _Refused(_too_deep("arrays and objects")) from None
    _check_nesting(data)
    return data


def _check_nesting(data: object) -> None:
    """Refuse parsed JSON nested more than :data:`MAX_NESTING` deep; walked with a stack of iterators, not recursion."""
    pending = [iter((data,))]
    while pending:
        for value in pending[-1]:
            if isinstance(value, (list, dict)):
                if len(pending) > MAX_NESTING:
                    raise _Refused(_too_deep("arrays and objects"))
                pending.append(iter(value.values() if isinstance(value, dict) else value))
                break
        else:
            pending.pop()


def _too_deep(what: str) -> str:
    return f"{what} nested more than {MAX_NESTING} levels deep; a session needs far fewer"


def _parse_yaml(text: str) -> object:
    """Plain data from YAML text, built by :class:`_SessionYaml`."""
    builder = _SessionYaml(text)
    try:
        return builder.document()
    finally:
        builder.dispose()


class _PythonYamlEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python event parser, where libyaml is missing."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


_YamlEvents = yaml.cyaml.CParser if yaml.__with_libyaml__ else _PythonYamlEvents


class _SessionYaml(_YamlEvents, SafeConstructor, Resolver):
    """Plain data built straight from a YAML text's parse events, as ``yaml.safe_load`` would build it.

    No node tree is kept (PyYAML's takes hundreds of bytes per value). An
    alias shares the value its anchor named, as ``safe_load`` does, but the
    values all aliases stand for are counted, and the file is refused past
    :data:`MAX_ALIAS_VALUES` (expanding them is how a few hundred bytes become
    gigabytes), as it is when lists and mappings, aliases included, nest
    past :data:`MAX_NESTING`.
    """

    def __init__(self, text: str) -> None:
        _YamlEvents.__init__(self, text)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._anchored: dict[str, tuple[object, int, int]] = {}
        self._alias_values = 0

    def document(self) -> object:
        """The text's one document (None when it is empty)."""
        self.get_event()  # the stream's start
        data = None
        if not self.check_event(StreamEndEvent):
            self.get_event()  # the document's start
            data, _, _ = self._value(1)
            self.get_event()  # the document's end
        if not self.check_event(StreamEndEvent):
            raise _refusal(self.peek_event(), "a session file holds one YAML document, found another")
        return data

    def _value(self, depth: int) -> tuple[object, int, int]:
        """The value whose events come next, the values it holds (itself included) and how many levels
        of lists and mappings it nests; a list or mapping here is ``depth`` levels deep."""
        event = self.get_event()
        if isinstance(event, AliasEvent):
            return self._alias(event, depth)
        if isinstance(event, ScalarEvent):
            built = self._scalar(event), 1, 0
        else:
            built = self._collection(event, depth)
        if event.anchor is not None:
            self._anchored[event.anchor] = built
        return built

    def _alias(self, event: AliasEvent, depth: int) -> tuple[object, int, int]:
        if event.anchor not in self._anchored:
            raise _refusal(event, f"the alias *{event.anchor[:MAX_ECHO_CHARS]} names no anchor before it")
        value, values, levels = self._anchored[event.anchor]
        self._alias_values += values
        if self._alias_values > MAX_ALIAS_VALUES:
            raise _refusal(event, f"YAML aliases stand for more than {MAX_ALIAS_VALUES} values in all; write the session out in full")
        if depth + levels - 1 > MAX_NESTING:
            raise _refusal(event, _too_deep("lists and mappings"))
        return value, values, levels

    def _collection(self, event: yaml.events.Event, depth: int) -> tuple[object, int, int]:
        if depth > MAX_NESTING:
            raise _refusal(event, _too_deep("lists and mappings"))
        if event.tag not in (None, "!", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"):
            raise _refusal(event, f"YAML tags on lists and mappings ({echo(event.tag)}) are not allowed in session files")
        values, levels = 1, 1
        if isinstance(event, SequenceStartEvent):
            items = []
            while not self.check_event(SequenceEndEvent):
                item, item_values, item_levels = self._value(depth + 1)
                items.append(item)
                values, levels = values + item_values, max(levels, item_levels + 1)
            self.get_event()
            return items, values, levels
        mapping = {}
        while not self.check_event(MappingEndEvent):
            key_event = self.peek_event()
            key, _, _ = self._value(depth + 1)
            if isinstance(key, (list, dict)):
                raise _refusal(key_event, "mapping keys must be plain values, not lists or mappings")
            mapping[key], item_values, item_levels = self._value(depth + 1)
            values, levels = values + item_values + 1, max(levels, item_levels + 1)
        self.get_event()
        return mapping, values, levels

    def _scalar(self, event: ScalarEvent) -> object:
        tag = event.tag if event.tag not in (None, "!") else self.resolve(ScalarNode, event.value, event.implicit)
        if tag == "tag:yaml.org,2002:merge":
            raise _refusal(event, "YAML merge keys (<<) are not allowed in session files")
        construct = self.yaml_constructors.get(tag, self.yaml_constructors[None])
        try:
            return construct(self, ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))
        except ValueError as exc:
            raise _refusal(event, f"cannot read {echo(event.value)} as {tag.rsplit(':', 1)[-1]} ({exc})") from None


def _refusal(event: yaml.events.Event, message: str) -> _Refused:
    return _Refused(f"line {event.start_mark.line + 1}: {message}")
