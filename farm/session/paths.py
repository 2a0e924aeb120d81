"""The bounds on the paths a session names; where they may point is :meth:`farm.storage.Location.resolve_inside`."""

MAX_PATH_CHARS = 1024
"""The longest file path (as written in a session) accepted, in characters."""
