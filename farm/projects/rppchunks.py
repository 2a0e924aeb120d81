"""REAPER's chunk text (``.rpp``), parsed in one pass: blocks of lines of tokens.

Each line is a list of tokens split at spaces and tabs, where a token may be
quoted with ``"``, ``'`` or a backquote to hold spaces (REAPER picks a quote
the text does not contain). A line starting with ``<`` opens a block whose
first token is its tag and the rest its attributes; a line holding ``>``
closes it. Other lines (settings, base64 data) are children of the block.
The time taken grows with the file's length, not its square.
"""

from __future__ import annotations

import dataclasses

QUOTES = "\"'`"
MAX_DEPTH = 64
"""The deepest that blocks may nest."""


class ChunkError(ValueError):
    """The text is not REAPER chunk text; the message names the line."""


@dataclasses.dataclass
class Block:
    """A ``<TAG attributes...>`` block: its tag, attributes and children (token lists and blocks), in order."""

    tag: str
    attrib: list[str]
    children: list = dataclasses.field(default_factory=list)
    line: int = 0


def tokens(line: str, number: int) -> list[str]:
    """The tokens of one line (see the module's description); an unterminated quote is an error naming ``number``."""
    found: list[str] = []
    position, length = 0, len(line)
    while position < length:
        character = line[position]
        if character in " \t":
            position += 1
            continue
        if character in QUOTES:
            end = line.find(character, position + 1)
            if end < 0:
                raise ChunkError(f"line {number}: a quote ({character}) that is never closed")
            found.append(line[position + 1 : end])
            position = end + 1
            continue
        end = position
        while end < length and line[end] not in " \t":
            end += 1
        found.append(line[position:end])
        position = end
    return found


def parse(text: str) -> Block:
    """The root block of ``text``; raises :class:`ChunkError` for text that is not balanced chunks."""
    root: Block | None = None
    stack: list[Block] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("<"):
            parts = tokens(line[1:], number)
            if not parts:
                raise ChunkError(f"line {number}: a block without a tag")
            block = Block(parts[0], parts[1:], line=number)
            if stack:
                stack[-1].children.append(block)
            elif root is not None:
                raise ChunkError(f"line {number}: a second block after the project's end")
            else:
                root = block
            stack.append(block)
            if len(stack) > MAX_DEPTH:
                raise ChunkError(f"line {number}: blocks nest more than {MAX_DEPTH} deep")
        elif line == ">":
            if not stack:
                raise ChunkError(f"line {number}: '>' closes no block")
            stack.pop()
        elif not stack:
            raise ChunkError(f"line {number}: text outside any block")
        else:
            stack[-1].children.append(tokens(line, number))
    if root is None:
        raise ChunkError("no block at all")
    if stack:
        raise ChunkError(f"the block <{stack[-1].tag}> opened at line {stack[-1].line} is never closed")
    return root
