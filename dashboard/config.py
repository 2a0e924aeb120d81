"""The service's settings, from the command line and the environment."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from pathlib import Path

from farm.queue.studios import (
    StudioConfigError,
    StudioPolicies,
    StudioPolicy,
    load_policies,
)
from farm.session import DEFAULT_MAX_DURATION_S

from .errors import ConfigError

TOKENS_VARIABLE = "MIXFARM_API_TOKENS"
METRICS_TOKEN_VARIABLE = "MIXFARM_METRICS_TOKEN"
STORAGE_VARIABLE = "MIXFARM_STORAGE"
STUDIOS_VARIABLE = "MIXFARM_STUDIOS"
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3


@dataclasses.dataclass(frozen=True)
class Settings:
    """What ``mixfarm serve`` runs with.

    ``data_dir`` holds the job store (always local); ``storage`` is where
    bundles and outputs live: a folder or an fsspec URI (``s3://bucket/prefix``),
    by default ``data_dir``. ``tokens`` maps an API token to its studio; empty
    means no authentication (then the service only binds to loopback).

    ``max_upload_bytes`` bounds the uploaded bundle as sent;
    ``max_bundle_bytes`` bounds what one bundle unpacks to (None: the same
    number as the upload limit). ``studios`` holds each studio's weight in
    the fair share and its limits: running and queued jobs, the unpacked
    bundles it keeps stored (all its jobs together), how long finished jobs
    keep their files, and its webhook (:mod:`farm.queue.studios`).
    ``max_duration_s`` bounds how long a submitted session may last (None: no limit).
    ``metrics_token``, when set, is the bearer token ``/metrics`` asks for.
    ``trusted_proxies`` are the addresses whose ``X-Forwarded-Proto`` and
    ``X-Forwarded-For`` headers are believed (None: nobody's).
    ``cache_limit_bytes``, when set, gives each studio a render cache of
    that size under ``cache`` in the storage root, so every node of a cluster
    reaches it when that is object storage (:mod:`farm.engine.chunkcache`).
    """

    data_dir: Path = Path("mixfarm-data")
    storage: str | None = None
    address: str | None = None
    max_running: int | None = None
    max_attempts: int = 3
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_bundle_bytes: int | None = None
    studios: StudioPolicies = StudioPolicies()
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S
    tokens: dict[str, str] = dataclasses.field(default_factory=dict)
    metrics_token: str | None = None
    trusted_proxies: str | None = None
    cache_limit_bytes: int | None = None

    @property
    def storage_root(self) -> str | Path:
        """Where bundles and outputs live: ``storage``, or else ``data_dir``."""
        return self.storage or self.data_dir

    @property
    def auth_required(self) -> bool:
        """True when API tokens are configured."""
        return bool(self.tokens)

    @property
    def bundle_limit_bytes(self) -> int:
        """The most one bundle may unpack to: ``max_bundle_bytes``, or else the upload limit."""
        return self.max_bundle_bytes if self.max_bundle_bytes is not None else self.max_upload_bytes


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


def studio_policies(path: str | None, defaults: StudioPolicy) -> StudioPolicies:
    """The studios file at ``path`` (else ``$MIXFARM_STUDIOS``), its defaults falling back on ``defaults``; without
    one, ``defaults`` for every studio. Raises ConfigError naming the file and field."""
    path = path or os.environ.get(STUDIOS_VARIABLE) or None
    if path is None:
        return StudioPolicies(defaults)
    try:
        return load_policies(path, defaults)
    except StudioConfigError as exc:
        raise ConfigError(str(exc)) from None


def metrics_token_from_environment() -> str | None:
    """The token ``/metrics`` asks for, from ``MIXFARM_METRICS_TOKEN``; None if unset or blank."""
    return (os.environ.get(METRICS_TOKEN_VARIABLE) or "").strip() or None


def storage_from_environment() -> str | None:
    """The storage location from ``MIXFARM_STORAGE``, if set."""
    return os.environ.get(STORAGE_VARIABLE) or None


def mebibytes(value: float | None, flag: str, zero_means_none: bool = False) -> int | None:
    """``value`` MiB in bytes (None stays None); ``flag`` names the setting when the value is not allowed.

    With ``zero_means_none`` a 0 turns the limit off (None).
    """
    if value is None:
        return None
    if value < 0 or (value == 0 and not zero_means_none):
        allowed = ">= 0 (0: no limit)" if zero_means_none else "> 0"
        raise ConfigError(f"{flag}: must be {allowed}, got {value:g}")
    return None if value == 0 else int(value * 1024**2)


def seconds(value: float, flag: str) -> float | None:
    """``value`` seconds as a limit, 0 turning it off (None); ``flag`` names the setting when the value is negative."""
    if value < 0:
        raise ConfigError(f"{flag}: must be >= 0 (0: no limit), got {value:g}")
    return value or None


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
