"""Reading DAWproject XML safely, with every element named by its path for messages.

The XML is parsed by ``defusedxml``, which refuses entity expansion and
external references (a "billion laughs" file cannot blow up memory). Each
:class:`Node` carries its path from the root, ``/Project/Structure/Track[3]``
(counted from 1 among siblings of the same tag, as XPath counts), so an
error or a loss names the very element it is about.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ElementTree

import defusedxml
import defusedxml.ElementTree as SafeElementTree

from farm.errors import ProjectError

MAX_ELEMENTS = 1_000_000
"""The most elements one XML document may hold: a 200-track project with 2,000 clips holds about 60,000."""


def parse(data: bytes, source: str) -> "Node":
    """The root of the XML document ``data``; ``source`` names it in errors (``song.dawproject: project.xml``).

    The document is refused as soon as it passes :data:`MAX_ELEMENTS`, before it is all built.
    """
    root = None
    try:
        for count, (_, element) in enumerate(SafeElementTree.iterparse(io.BytesIO(data), events=("start",)), 1):
            if root is None:
                root = element
            if count > MAX_ELEMENTS:
                raise ProjectError(f"{source}: holds more than {MAX_ELEMENTS} elements; a project may hold at most that many")
    except ElementTree.ParseError as exc:
        line, column = exc.position
        raise ProjectError(f"{source}: not well-formed XML at line {line}, column {column + 1}") from None
    except defusedxml.DefusedXmlException as exc:
        raise ProjectError(f"{source}: refused: {exc}") from None
    except LookupError as exc:
        raise ProjectError(f"{source}: unreadable text encoding ({exc})") from None
    if root is None:
        raise ProjectError(f"{source}: holds no XML element")
    return Node(root, f"/{root.tag}", source)


class Node:
    """An XML element, its path from the root, and the document it came from."""

    def __init__(self, element: ElementTree.Element, path: str, source: str) -> None:
        self.element = element
        self.path = path
        self.source = source

    @property
    def tag(self) -> str:
        return self.element.tag

    @property
    def where(self) -> str:
        """The document and the element, for messages: ``song.dawproject: project.xml /Project/Structure/Track[3]``."""
        return f"{self.source} {self.path}"

    def children(self, *tags: str) -> list["Node"]:
        """The child elements (those with one of ``tags``, or all), in document order."""
        seen: dict[str, int] = {}
        found = []
        for element in self.element:
            if not isinstance(element.tag, str):
                continue
            seen[element.tag] = seen.get(element.tag, 0) + 1
            if not tags or element.tag in tags:
                found.append(Node(element, f"{self.path}/{element.tag}[{seen[element.tag]}]", self.source))
        return found

    def child(self, tag: str) -> "Node | None":
        """The first child element with ``tag``, or None."""
        element = self.element.find(tag)
        return None if element is None else Node(element, f"{self.path}/{tag}", self.source)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The attribute ``name``, or ``default``."""
        return self.element.get(name, default)

    def required(self, name: str) -> str:
        """The attribute ``name``; missing is an error naming the element."""
        value = self.element.get(name)
        if value is None:
            raise self.error(f"the required attribute {name!r} is missing")
        return value

    def number(self, name: str, default: float | None = None) -> float | None:
        """The attribute ``name`` as a finite number, or ``default`` when absent."""
        text = self.element.get(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise self.error(f"the attribute {name!r} must be a number, got {text[:40]!r}") from None
        if not math.isfinite(value):
            raise self.error(f"the attribute {name!r} must be a finite number, got {text[:40]!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        """The boolean attribute ``name`` (``true``/``false``/``1``/``0``), or ``default``."""
        text = self.element.get(name)
        if text is None:
            return default
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise self.error(f"the attribute {name!r} must be true or false, got {text[:40]!r}")

    def error(self, message: str) -> ProjectError:
        """An error about this element."""
        return ProjectError(f"{self.where}: {message}")
