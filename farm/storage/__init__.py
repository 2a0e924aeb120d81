"""Where files live (:class:`Location`: a local path, or a URI that fsspec opens); and reading stems from either (:mod:`.stems`)."""

from .location import Location

__all__ = ["Location"]
