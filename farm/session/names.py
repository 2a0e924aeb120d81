"""The names a session gives its session, strips and send targets, and how long they may be."""

from typing import Annotated

from pydantic import Field

MAX_NAME_CHARS = 256
"""The longest session, track, bus or send target name, in characters."""

Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
StripName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
