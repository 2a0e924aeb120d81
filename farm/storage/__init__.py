"""Where files live: a local path, or a URI that fsspec opens; and reading stems from either."""

from .location import (
    is_file,
    is_remote,
    join,
    open_binary,
    parent,
    read_chunks,
    read_text,
    remove,
    resolve,
    size,
    upload,
    upload_folder,
    write_bytes,
)

__all__ = [
    "is_file",
    "is_remote",
    "join",
    "open_binary",
    "parent",
    "read_chunks",
    "read_text",
    "remove",
    "resolve",
    "size",
    "upload",
    "upload_folder",
    "write_bytes",
]
