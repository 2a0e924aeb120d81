"""The generated parts of ``docs/session-format.md``: field tables, presets and limits, from the session models.

The document is hand-written prose around regions that this module fills::

    <!-- fields: Track -->        the field table of a model (an effect by its type: compressor)
    ...
    <!-- end fields -->
    <!-- table: presets -->       the loudness presets; "limits": the limits at a glance;
                                  "automation": what each effect's automation can move
    ...
    <!-- end table -->

A field's description is its pydantic ``description``, or for an effect's
parameter the entry in its :mod:`dsp` class's "Parameters" docstring section
(a class without one describes its single parameter in its summary line).

``python -m farm.session.reference`` rewrites the regions in place;
``--check`` changes nothing and exits with status 1 if a region is out of
date or a model or field is undocumented.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import re
import sys
import typing
from pathlib import Path

from pydantic import BaseModel

from dsp.eq import EqBand
from dsp.multiband import CompressorBand

from .effects import (
    EFFECTS,
    MAX_EFFECT_LEVEL_DB,
    MAX_EFFECT_TIME_S,
    MAX_EQ_BANDS,
    MAX_IMPULSE_RESPONSE_S,
    MAX_LOOKAHEAD_S,
    MAX_PARAMETER_CHARS,
    MAX_TOTAL_IMPULSE_RESPONSE_S,
    SPEC_MODELS,
    CompressorBandSpec,
    EqBandSpec,
)
from .model import (
    DEFAULT_MAX_DURATION_S,
    LOUDNESS_PRESETS,
    MAX_ALIAS_VALUES,
    MAX_AUTOMATION_LANES,
    MAX_AUTOMATION_POINTS,
    MAX_BUSES,
    MAX_CLIPS_PER_TRACK,
    MAX_ECHO_CHARS,
    MAX_FX_PER_STRIP,
    MAX_NAME_CHARS,
    MAX_NESTING,
    MAX_OUTPUTS,
    MAX_PROBLEM_CHARS,
    MAX_PROBLEMS,
    MAX_SENDS_PER_STRIP,
    MAX_SESSION_FILE_BYTES,
    MAX_STEM_FILES,
    MAX_TRACKS,
    Session,
)
from .paths import MAX_PATH_CHARS
from .samplescan import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "session-format.md"
REGENERATE = "python -m farm.session.reference"

_REGION = re.compile(r"<!-- (fields|table): ([^>]*?) -->\n(.*?)<!-- end \1 -->", re.DOTALL)
_REGION_START = re.compile(r"<!-- (?:fields|table): ")
_HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)

_DSP_CLASSES: dict[type[BaseModel], type] = {SPEC_MODELS[name]: cls for name, cls in EFFECTS.items()} | {EqBandSpec: EqBand, CompressorBandSpec: CompressorBand}
"""An effect's session model -> the :mod:`dsp` class whose parameters it takes."""

_UNIT_SUFFIXES = (("_db_oct", "dB/octave"), ("_dbtp", "dBTP"), ("_lufs", "LUFS"), ("_db", "dB"), ("_hz", "Hz"), ("_bpm", "BPM"), ("_s", "s"))
"""Field-name suffix -> unit: the format's convention, longest suffix first."""
_UNIT_NAMES = {"sample_rate": "Hz"}
"""The fields named without their unit's suffix."""
_SCALAR_TYPES = {"number": "number", "integer": "integer", "string": "text", "boolean": "true/false", "null": "null"}


def documented_models() -> dict[str, type[BaseModel]]:
    """Every model a session file or an album file may hold, from :class:`Session` and :class:`farm.album.Album` down, by its name in the document.

    An effect's model is named by its ``type`` (``compressor``); any other model by its class name.
    """
    # The album builds on the session, so it is imported here, not when the session package loads.
    from farm.album import Album

    effect_names = {model: name for name, model in SPEC_MODELS.items()}
    found: dict[type[BaseModel], None] = {}
    pending: list[type[BaseModel]] = [Session, Album]
    while pending:
        model = pending.pop(0)
        if model in found:
            continue
        found[model] = None
        for info in model.model_fields.values():
            pending += _models_in(info.annotation)
    return {effect_names.get(model, model.__name__): model for model in found}


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The models an annotation names, at any depth (lists, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in typing.get_args(annotation) for model in _models_in(argument)]


def field_table(model: type[BaseModel]) -> str:
    """The markdown table of ``model``'s fields: name, type, unit, default, allowed values, description."""
    properties = model.model_json_schema()["properties"]
    rows = ["| Field | Type | Unit | Default | Allowed | Description |", "|---|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        written = info.alias or name
        node = properties[written]
        default = "required" if info.is_required() else f"`{json.dumps(_plain(info.default), ensure_ascii=False)}`"
        cells = [f"`{written}`", _type(node), _unit(name), default, _allowed(node), field_description(model, name)]
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def field_description(model: type[BaseModel], name: str) -> str:
    """What field ``name`` of ``model`` does, as plain markdown; "" when nothing describes it."""
    described = model.model_fields[name].description
    if described:
        return described
    cls = _DSP_CLASSES.get(model)
    if cls is None:
        return ""
    return _dsp_parameters(cls, [field for field in model.model_fields if field not in ("type", "id")]).get(name, "")


def _dsp_parameters(cls: type, names: list[str]) -> dict[str, str]:
    """Parameter -> description, from the numpy-style "Parameters" section of ``cls``'s docstring."""
    doc = inspect.getdoc(cls) or ""
    section = re.search(r"^Parameters\n-+\n(.*?)(?=^\w[^\n]*\n-+\n|\Z)", doc, re.DOTALL | re.MULTILINE)
    if section is None:
        return {names[0]: _plain_text(doc.split("\n\n")[0], cls)} if len(names) == 1 else {}
    entries = re.findall(r"^(\w+) :[^\n]*\n((?:[ \t]+[^\n]*\n?)*)", section.group(1), re.MULTILINE)
    return {name: _plain_text(text, cls) for name, text in entries if name in names}


def _plain_text(docstring: str, cls: type) -> str:
    """A docstring's reStructuredText as one line of markdown, in the file's terms (``None`` is ``null``).

    ``:data:`NAME``` becomes the values of that constant of the class's module.
    """
    module = sys.modules[cls.__module__]
    text = " ".join(docstring.split())
    text = re.sub(r":data:`~?(\w+)`", lambda match: _values(getattr(module, match.group(1))), text)
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text).replace("``", "`")
    return re.sub(r"\bNone\b", "null", text)


def _values(value: object) -> str:
    items = value if isinstance(value, (tuple, list)) else (value,)
    return ", ".join(f"`{item}`" for item in items)


def _plain(value: object) -> object:
    """A default as the file would spell it: a model as its fields that differ from their defaults."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _unit(name: str) -> str:
    unit = _UNIT_NAMES.get(name) or next((unit for suffix, unit in _UNIT_SUFFIXES if name.endswith(suffix)), "")
    return unit or "-"


def _type(node: dict) -> str:
    """The type of a JSON-schema node in words, models linked to their sections."""
    if "$ref" in node:
        return _link(node["$ref"].rsplit("/", 1)[-1])
    if "anyOf" in node:
        return " or ".join(_type(option) for option in node["anyOf"])
    if "oneOf" in node:
        return "[effect](#effects)"
    if "type" not in node:
        return " or ".join(dict.fromkeys(_SCALAR_TYPES[_json_type(value)] for value in node["enum"]))
    if node["type"] == "array":
        items = node["items"]
        if _fixed_length(node) and "type" in items:
            return "[" + ", ".join([_type(items)] * node["minItems"]) + "]"
        return f"list of {_type(items)}"
    if node["type"] == "object":
        return f"mapping of text to {_type(node['additionalProperties'])}"
    return _SCALAR_TYPES[node["type"]]


def _fixed_length(array: dict) -> bool:
    """Whether a JSON-schema array holds an exact number of items (a ``[time_s, value]`` point)."""
    return array.get("minItems") is not None and array.get("minItems") == array.get("maxItems")


def _json_type(value: object) -> str:
    """The JSON-schema type of a plain value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "number" if isinstance(value, float) else "string"


def _link(class_name: str) -> str:
    """A link to the section of the model whose class is ``class_name``, under its name in the document."""
    name = _names_by_class().get(class_name, class_name)
    return f"[{name}](#{anchor(name)})"


@functools.cache
def _names_by_class() -> dict[str, str]:
    return {model.__name__: name for name, model in documented_models().items()}


def _allowed(node: dict) -> str:
    """The values a JSON-schema node allows, in words; "-" for anything of its type."""
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option.get("type") != "null"]
        allowed = [_allowed(option) for option in options]
        if "-" in allowed and len(set(allowed)) > 1:
            return " or ".join(f"any {_type(option)}" if words == "-" else words for words, option in zip(allowed, options))
        return "; ".join(words for words in allowed if words != "-") or "-"
    if "const" in node or "enum" in node:
        return ", ".join(f"`{value}`" for value in node.get("enum", [node.get("const")]))
    rules = [_range(node)]
    if node.get("type") == "string":
        rules.append(_count(node.get("minLength"), node.get("maxLength"), "characters"))
    elif node.get("type") == "array" and not _fixed_length(node):
        rules.append(_count(node.get("minItems"), node.get("maxItems"), "items"))
        if _allowed(node["items"]) != "-":
            rules.append(f"each {_allowed(node['items'])}")
    elif node.get("type") == "object":
        rules.append(_count(None, node.get("maxProperties"), "keys"))
        rules.append(_count(None, node.get("propertyNames", {}).get("maxLength"), "characters a key"))
        rules.append(f"each {_allowed(node['additionalProperties'])}")
    return "; ".join(rule for rule in rules if rule and rule != "each -") or "-"


def _range(node: dict) -> str:
    """A number's bounds: ``-1 to 1``, ``>= 0``, ``> 0, <= 60``."""
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f"{_number(low)} to {_number(high)}"
    bounds = [(">=", low), (">", node.get("exclusiveMinimum")), ("<=", high), ("<", node.get("exclusiveMaximum"))]
    return ", ".join(f"{sign} {_number(bound)}" for sign, bound in bounds if bound is not None)


def _count(least: int | None, most: int | None, what: str) -> str:
    if least is not None and most is not None:
        return f"{least} to {most} {what}"
    if most is not None:
        return f"at most {most} {what}"
    return f"at least {least} {what}" if least is not None else ""


def _number(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else repr(value)


def _cell(text: str) -> str:
    """``text`` fit for a table cell: pipes escaped, and outside code spans a ``<`` that would open an HTML tag (``<bus>``)."""
    parts = re.split(r"(`[^`]*`)", text.replace("|", "\\|").replace("\n", " "))
    return "".join(part if part.startswith("`") else re.sub(r"<(?=[A-Za-z/!?])", "&lt;", part) for part in parts)


def presets_table() -> str:
    """The loudness presets: name, target in LUFS, true-peak ceiling in dBTP."""
    rows = ["| Preset | Target (LUFS) | True-peak ceiling (dBTP) |", "|---|---|---|"]
    rows += [f"| `{name}` | {_number(lufs)} | {_number(dbtp)} |" for name, (lufs, dbtp) in LOUDNESS_PRESETS.items()]
    return "\n".join(rows) + "\n"


def limits_table() -> str:
    """The limits a session is read and validated with, at a glance."""
    limits = [
        ("A session file's size", f"{MAX_SESSION_FILE_BYTES // 2**20} MiB ({MAX_SESSION_FILE_BYTES} bytes)"),
        ("Nesting of lists and mappings", f"{MAX_NESTING} levels"),
        ("Values that all of a file's YAML aliases stand for, together", f"{MAX_ALIAS_VALUES}"),
        ("A session's duration, last clip end plus `master.tail_s` (by default)", f"{DEFAULT_MAX_DURATION_S:g} s ({DEFAULT_MAX_DURATION_S / 3600:g} h)"),
        ("A name (session, track, bus, send target)", f"{MAX_NAME_CHARS} characters"),
        ("A file path", f"{MAX_PATH_CHARS} characters"),
        ("Tracks; buses; outputs", f"{MAX_TRACKS}; {MAX_BUSES}; {MAX_OUTPUTS}"),
        ("Files that stem outputs write, together", f"{MAX_STEM_FILES}"),
        ("Per strip: effects; sends; automation lanes", f"{MAX_FX_PER_STRIP}; {MAX_SENDS_PER_STRIP}; {MAX_AUTOMATION_LANES}"),
        ("Clips per track", f"{MAX_CLIPS_PER_TRACK}"),
        ("Points per automation lane", f"{MAX_AUTOMATION_POINTS}"),
        ("Bands per `eq`", f"{MAX_EQ_BANDS}"),
        ("An effect's time parameter (`*_s`)", f"{MAX_EFFECT_TIME_S:g} s (a limiter's `lookahead_s`: {MAX_LOOKAHEAD_S:g} s)"),
        ("An effect's level parameter (`*_db`, `*_dbtp`), either sign", f"{MAX_EFFECT_LEVEL_DB:g} dB"),
        ("An effect's text parameter", f"{MAX_PARAMETER_CHARS} characters"),
        ("Sample rate of stems, impulse responses and outputs", f"{MIN_SAMPLE_RATE_HZ} to {MAX_SAMPLE_RATE_HZ} Hz"),
        ("One impulse response; all of a session's together", f"{MAX_IMPULSE_RESPONSE_S:g} s; {MAX_TOTAL_IMPULSE_RESPONSE_S:g} s"),
        ("Problems listed; characters per problem; characters of a value echoed", f"{MAX_PROBLEMS}; {MAX_PROBLEM_CHARS}; {MAX_ECHO_CHARS}"),
    ]
    rows = ["| Limit | Value |", "|---|---|"] + [f"| {what} | {value} |" for what, value in limits]
    return "\n".join(rows) + "\n"


def automation_table() -> str:
    """The effects whose parameters automation can move, and those parameters."""
    rows = ["| Effect | Parameters (`fx.<id or position>.<parameter>`) |", "|---|---|"]
    rows += [
        f"| `{name}` | " + ", ".join(f"`{parameter.replace('*', '<n>')}`" for parameter in cls.automatable) + " |"
        for name, cls in EFFECTS.items()
        if cls.automatable
    ]
    return "\n".join(rows) + "\n"


_TABLES = {"presets": presets_table, "limits": limits_table, "automation": automation_table}


def render_region(kind: str, key: str, models: dict[str, type[BaseModel]] | None = None) -> str | None:
    """The generated text of region ``<!-- kind: key -->``, or None when no model (of ``models``, default:
    every model of a session) or table has that name."""
    if kind == "fields":
        model = (documented_models() if models is None else models).get(key)
        return field_table(model) if model else None
    table = _TABLES.get(key)
    return table() if table else None


def regenerate(text: str, models: dict[str, type[BaseModel]] | None = None) -> str:
    """``text`` with every known region filled afresh from ``models`` (default: every model of a session);
    the prose, and regions naming nothing, unchanged."""

    def fill(match: re.Match) -> str:
        kind, key, _ = match.groups()
        content = render_region(kind, key, models)
        return match.group(0) if content is None else f"<!-- {kind}: {key} -->\n{content}<!-- end {kind} -->"

    return _REGION.sub(fill, text)


def anchor(heading: str) -> str:
    """The link anchor of a markdown heading, as GitHub makes it: ``### `eq` bands`` -> ``eq-bands``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def problems(text: str, models: dict[str, type[BaseModel]] | None = None) -> list[str]:
    """What keeps ``text`` from documenting ``models`` (default: every model of a session) exactly.

    Regions out of date, unterminated or naming nothing; models without a
    field table; fields without a description; links to no heading.
    """
    models = documented_models() if models is None else models
    regions = _REGION.findall(text)
    found = []
    for kind, key, content in regions:
        expected = render_region(kind, key, models)
        if expected is None:
            found.append(f"region '{kind}: {key}' names no model or table")
        elif expected != content:
            found.append(f"region '{kind}: {key}' is out of date")
    if len(_REGION_START.findall(text)) != len(regions):
        found.append("a region has no end marker (<!-- end fields --> or <!-- end table -->)")
    tables = {key for kind, key, _ in regions if kind == "fields"}
    found += [f"{name} has no field table (<!-- fields: {name} --> ... <!-- end fields -->)" for name in models if name not in tables]
    found += [
        f"{name}.{field} has no description (give its Field a description, or its dsp class's docstring a Parameters entry)"
        for name, model in models.items()
        for field in model.model_fields
        if not field_description(model, field)
    ]
    anchors = {anchor(heading) for heading in _HEADING.findall(text)}
    links = {target for _, _, content in regions for target in re.findall(r"\]\(#([^)]+)\)", content)}
    found += [f"link to #{target}, which no heading makes" for target in sorted(links - anchors)]
    return found


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated regions of the reference (or with ``--check`` only compare); exit status 1 on any problem."""
    parser = argparse.ArgumentParser(prog=REGENERATE, description="Regenerate the field tables of the session format reference.")
    parser.add_argument("doc", nargs="?", type=Path, default=DOC_PATH, help=f"the reference (default: {DOC_PATH})")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the reference is out of date")
    args = parser.parse_args(argv)
    text = args.doc.read_text(encoding="utf-8")
    if not args.check:
        fresh = regenerate(text)
        if fresh != text:
            args.doc.write_text(fresh, encoding="utf-8")
            print(f"{args.doc}: regenerated")
        text = fresh
    found = problems(text)
    for problem in found:
        print(f"{args.doc}: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
