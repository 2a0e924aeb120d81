"""The service's settings, from the command line and the environment."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from pathlib import Path

TOKENS_VARIABLE = "MIXFARM_API_TOKENS"
STORAGE_VARIABLE = "MIXFARM_STORAGE"
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3


class ConfigError(ValueError):
    """A setting is invalid; the message names it."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """What ``mixfarm serve`` runs with.

    ``data_dir`` holds the job store (always local); ``storage`` is where
    bundles and outputs live: a folder or an fsspec URI (``s3://bucket/prefix``),
    by default ``data_dir``. ``tokens`` maps an API token to its studio; empty
    means no authentication (then the service only binds to loopback).
    """

    data_dir: Path = Path("mixfarm-data")
    storage: str | None = None
    address: str | None = None
    max_running: int | None = None
    max_attempts: int = 3
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    tokens: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def storage_root(self) -> str | Path:
        """Where bundles and outputs live: ``storage``, or else ``data_dir``."""
        return self.storage or self.data_dir

    @property
    def auth_required(self) -> bool:
        """True when API tokens are configured."""
        return bool(self.tokens)


def parse_tokens(text: str | None) -> dict[str, str]:
    """``studio:token,studio:token`` -> {token: studio}."""
    tokens: dict[str, str] = {}
    for index, pair in enumerate(part.strip() for part in (text or "").split(",")):
        if not pair:
            continue
        studio, separator, token = pair.partition(":")
        if not separator or not studio.strip() or not token.strip():
            raise ConfigError(f"{TOKENS_VARIABLE}: entry {index + 1} must be studio:token, got {pair!r}")
        tokens[token.strip()] = studio.strip()
    return tokens


def tokens_from_environment() -> dict[str, str]:
    """The API tokens from ``MIXFARM_API_TOKENS``."""
    return parse_tokens(os.environ.get(TOKENS_VARIABLE))


def storage_from_environment() -> str | None:
    """The storage location from ``MIXFARM_STORAGE``, if set."""
    return os.environ.get(STORAGE_VARIABLE) or None


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """Refuse to listen beyond loopback without API tokens."""
    if not settings.auth_required and not is_loopback(host):
        raise ConfigError(f"--host {host}: without {TOKENS_VARIABLE} the service only binds to loopback (127.0.0.1, ::1, localhost)")
