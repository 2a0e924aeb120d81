"""``python -m farm.cli``: the ``mixfarm`` command line."""

import sys

from . import main

sys.exit(main())
