"""``python -m farm.cli``: the ``mixfarm`` command line."""

from . import run

run()
