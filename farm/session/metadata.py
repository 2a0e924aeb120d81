"""What a release says about itself: titles, names, dates and its identifiers (ISRC, UPC/EAN), as written into every deliverable."""

from __future__ import annotations

import datetime
import re
from typing import Annotated

import pydantic
from pydantic import BaseModel, ConfigDict, Field

MAX_TAG_CHARS = 256
"""The longest a text field may be, in characters (a BWF description's size)."""
MAX_COMMENT_CHARS = 1024

ISRC_PATTERN = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")
"""ISO 3901: country (2 letters), registrant (3 letters or digits), year (2 digits), designation (5 digits)."""

Text = Annotated[str, Field(min_length=1, max_length=MAX_TAG_CHARS)]


def normalise_isrc(value: str) -> str:
    """``value`` as the 12 characters of an ISRC (hyphens and spaces dropped, letters upper-cased); ValueError if it is not one."""
    code = re.sub(r"[-\s]", "", value).upper()
    if not ISRC_PATTERN.fullmatch(code):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ValueError(
            f"an ISRC is 12 characters, CC-XXX-YY-NNNNN: a 2-letter country code, a 3-character registrant code, "
            f"a 2-digit year and a 5-digit designation (e.g. GBAYE2600001); got {shown!r}"
        )
    return code


def gtin_check_digit(digits: str) -> int:
    """The GS1 check digit of the GTIN ``digits`` (without the check digit): weights 3 and 1 alternating from the right."""
    total = sum(int(digit) * (3 if position % 2 == 0 else 1) for position, digit in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def normalise_upc(value: str) -> str:
    """``value`` as a UPC-A (12 digits) or EAN-13 (13 digits) barcode whose check digit is right; ValueError otherwise."""
    code = re.sub(r"[-\s]", "", value)
    if not code.isdigit() or len(code) not in (12, 13):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ValueError(f"a UPC has 12 digits (UPC-A) or 13 (EAN-13); got {shown!r}")
    expected = gtin_check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise ValueError(f"the check digit of {code} is wrong: its last digit should be {expected}, got {code[-1]}")
    return code


class Metadata(BaseModel):
    """A song's or release's metadata; every field is optional, and each is written where the file's format has a place for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Text | None = Field(None, description="The song's title.")
    artist: Text | None = Field(None, description="The performing artist.")
    album: Text | None = Field(None, description="The album or release the song is on.")
    album_artist: Text | None = Field(None, description="The album's artist, when it differs from a song's.")
    composer: Text | None = Field(None, description="The composer or songwriters.")
    genre: Text | None = Field(None, description="The genre.")
    year: int | None = Field(None, ge=1000, le=9999, description="The release year.")
    date: datetime.date | None = Field(None, description="The release date, YYYY-MM-DD; its year must agree with year.")
    isrc: str | None = Field(None, max_length=40, description="The recording's ISRC (ISO 3901), 12 characters; hyphens are dropped.")
    upc: str | None = Field(None, max_length=40, description="The release's barcode: UPC-A (12 digits) or EAN-13 (13), with its check digit.")
    copyright: Text | None = Field(None, description="The copyright line, e.g. 2026 The Synths.")
    publisher: Text | None = Field(None, description="The label or publisher.")
    comment: Annotated[str, Field(min_length=1, max_length=MAX_COMMENT_CHARS)] | None = Field(None, description="A free comment.")

    @pydantic.field_validator("isrc")
    @classmethod
    def _isrc(cls, value: str | None) -> str | None:
        return None if value is None else normalise_isrc(value)

    @pydantic.field_validator("upc")
    @classmethod
    def _upc(cls, value: str | None) -> str | None:
        return None if value is None else normalise_upc(value)

    @pydantic.model_validator(mode="after")
    def _year_matches_date(self) -> Metadata:
        if self.year is not None and self.date is not None and self.date.year != self.year:
            raise ValueError(f"year {self.year} and date {self.date.isoformat()} disagree")
        return self

    @property
    def release_year(self) -> int | None:
        """The year, from ``year`` or ``date``."""
        return self.year if self.year is not None else (self.date.year if self.date else None)

    def merged(self, override: Metadata | None) -> Metadata:
        """These fields, with those that ``override`` sets taking their place (a song's over its album's)."""
        if override is None:
            return self
        return self.model_copy(update={name: getattr(override, name) for name in override.model_fields_set})
