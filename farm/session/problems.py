"""How a session's problems are worded: ``field.path: what is wrong``, values echoed short."""

from __future__ import annotations

import re
import reprlib
from pathlib import Path

from farm.errors import SessionError

from .effects import SPEC_MODELS
from .model import MAX_ECHO_CHARS, MAX_PROBLEM_CHARS, MAX_PROBLEMS


def session_error(source: Path | str, problems: list[str], count: int) -> SessionError:
    """The error listing the first :data:`MAX_PROBLEMS` of ``count`` problems, each cut to :data:`MAX_PROBLEM_CHARS`, and how many more there are."""
    listed = [shorten(problem) for problem in problems[:MAX_PROBLEMS]]
    if count > len(listed):
        listed.append(f"... and {count - len(listed)} more problem(s)")
    return SessionError(str(source), listed)


def shorten(problem: str) -> str:
    return problem if len(problem) <= MAX_PROBLEM_CHARS else f"{problem[:MAX_PROBLEM_CHARS]}... (cut)"


def relative_to_folder(problem: str, folder: Path) -> str:
    """``problem`` with the session folder's resolved path cut from the files it names (the folder alone becomes ``.``)."""
    return re.sub(re.escape(str(folder.resolve())) + r"(/|(?![\w.-]))", lambda match: "" if match.group(1) else ".", problem)


_ECHO = reprlib.Repr()
_ECHO.maxlevel, _ECHO.maxtuple, _ECHO.maxlist, _ECHO.maxdict = 2, 4, 4, 4
_ECHO.maxstring = _ECHO.maxlong = _ECHO.maxother = MAX_ECHO_CHARS


def echo(value: object) -> str:
    """``repr(value)``, or for a long value about :data:`MAX_ECHO_CHARS` characters of it and how long the whole is.

    A large list or mapping is never turned into text whole.
    """
    if isinstance(value, str):
        return repr(value) if len(value) <= MAX_ECHO_CHARS else f"{value[:MAX_ECHO_CHARS]!r}... ({len(value)} characters)"
    text = _ECHO.repr(value)
    cut = len(text) > MAX_ECHO_CHARS
    text = f"{text[:MAX_ECHO_CHARS]}..." if cut else text
    if isinstance(value, (list, tuple, dict)) and (cut or len(value) > _ECHO.maxlist):
        text += f" ({len(value)} item(s))"
    return text


KEYED_EFFECTS = tuple(name for name, model in SPEC_MODELS.items() if "sidechain" in model.model_fields)
"""The effect types that take a ``sidechain``."""


def _unknown_field(error: dict) -> str:
    """What pydantic calls an extra field, with the effects that do take it where that helps."""
    if error["loc"] and error["loc"][-1] == "sidechain":
        return f"unknown field; only {' and '.join(KEYED_EFFECTS)} take a sidechain"
    return "unknown field"


_MESSAGES = {
    "extra_forbidden": _unknown_field,
    "missing": lambda error: "required field missing",
    "greater_than_equal": lambda error: f"must be >= {error['ctx']['ge']}, got {echo(error['input'])}",
    "greater_than": lambda error: f"must be > {error['ctx']['gt']}, got {echo(error['input'])}",
    "less_than_equal": lambda error: f"must be <= {error['ctx']['le']}, got {echo(error['input'])}",
    "less_than": lambda error: f"must be < {error['ctx']['lt']}, got {echo(error['input'])}",
    "finite_number": lambda error: f"must be a finite number, got {echo(error['input'])}",
    "literal_error": lambda error: f"must be one of {error['ctx']['expected']}, got {echo(error['input'])}",
    "union_tag_invalid": lambda error: f"type: unknown effect {echo(error['ctx']['tag'])}; known effects: {error['ctx']['expected_tags']}",
    "union_tag_not_found": lambda error: "type: required field missing (the effect's name)",
    "too_short": lambda error: f"must have at least {error['ctx']['min_length']} item(s), got {error['ctx']['actual_length']}",
    "too_long": lambda error: f"must have at most {error['ctx']['max_length']} item(s), got {error['ctx']['actual_length']}",
    "string_too_short": lambda error: f"must be at least {error['ctx']['min_length']} character(s) long, got {echo(error['input'])}",
    "string_too_long": lambda error: f"must be at most {error['ctx']['max_length']} characters long, got {len(error['input'])}",
    "string_unicode": lambda error: f"must be valid Unicode text (no lone surrogates), got {echo(error['input'])}",
}


def format_pydantic_error(error: dict) -> str:
    """``field.path: message`` for one pydantic error, in the session's own terms."""
    location = [part for index, part in enumerate(error["loc"]) if not _is_union_tag(error["loc"], index)]
    path = format_path(location)
    describe = _MESSAGES.get(error["type"])
    message = describe(error) if describe else _plain(error["msg"], error.get("input"))
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    if message.startswith("type: ") and path:
        return f"{path}.{message}"
    return f"{path}: {message}" if path else message


def format_path(location: list[str | int]) -> str:
    """``tracks[3].fx[1].ratio`` from ``["tracks", 3, "fx", 1, "ratio"]``; a long or unprintable key is echoed."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = part if part.isprintable() and len(part) <= MAX_ECHO_CHARS else echo(part)
        text += name if not text or name.startswith("[") else f".{name}"
    return text


_POINT_ITEM_TAGS = ("float", "constrained-str")
"""pydantic's names for the two kinds an automation point's item may be (a number, or the word hold)."""


def _is_union_tag(location: tuple, index: int) -> bool:
    """Whether ``location[index]`` names a branch of a union: an effect's type, or an automation point item's kind."""
    part = location[index]
    if not isinstance(part, str) or index < 2 or not isinstance(location[index - 1], int):
        return False
    return location[index - 2] == "fx" or (part in _POINT_ITEM_TAGS and "automation" in location[:index])


def pydantic_problems(errors: list[dict]) -> list[dict]:
    """The errors worth reporting: an automation point item that is neither a number nor text fails as both,
    and only the number's complaint is kept."""
    return [error for error in errors if not (error["loc"][-1] == "constrained-str" and "automation" in error["loc"])]


def _plain(message: str, value: object) -> str:
    text = message[0].lower() + message[1:] if message else "invalid"
    return f"{text.replace('input should be', 'must be')}, got {echo(value)}"
