"""Checking DAWproject XML against the format's own schemas, ``Project.xsd`` and ``MetaData.xsd`` (in ``schema/``)."""

from __future__ import annotations

import functools
from pathlib import Path

from farm.errors import ProjectError

SCHEMA_FOLDER = Path(__file__).with_name("schema")


@functools.cache
def _schema(name: str):
    import xmlschema

    return xmlschema.XMLSchema(SCHEMA_FOLDER / name)


def problems(xml: bytes, schema: str) -> list[str]:
    """What makes the XML document ``xml`` invalid against ``schema`` (``Project.xsd`` or ``MetaData.xsd``): one line each, empty when valid."""
    import xmlschema

    try:
        return [f"{error.path}: {error.reason}" for error in _schema(schema).iter_errors(xmlschema.XMLResource(xml))]
    except xmlschema.XMLResourceError as exc:
        return [f"not readable XML ({exc})"]


def check(xml: bytes, schema: str, where: str) -> None:
    """Raise :class:`farm.errors.ProjectError` naming ``where`` if ``xml`` is not valid against ``schema``."""
    found = problems(xml, schema)
    if found:
        raise ProjectError(f"{where}: not valid against {schema}: " + "; ".join(found[:5]))
