"""Writing a session document as YAML: libyaml's emitter where it is installed, short lists (automation points) on one line."""

from __future__ import annotations

import yaml

_Dumper = yaml.CSafeDumper if yaml.__with_libyaml__ else yaml.SafeDumper


class _SessionDumper(_Dumper):
    """Keeps key order and writes a list of plain values (``[1.5, -6.0, hold]``) in flow style."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(isinstance(item, (int, float, str, bool)) or item is None for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_SessionDumper.add_representer(list, _represent_list)


def dump_session(document: dict) -> str:
    """``document`` as the text of a session file."""
    return yaml.dump(document, Dumper=_SessionDumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
