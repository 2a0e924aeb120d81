"""What each studio sharing the farm may use: its weight in the fair share, its quotas, its webhook, its retention.

The service reads them from a TOML file (``mixfarm serve --studios``, or
``$MIXFARM_STUDIOS``)::

    [defaults]            # every studio not named below, and every field a studio leaves out
    weight = 1
    max_running = 0       # jobs rendering at once; 0: no limit
    max_queued = 1000     # jobs waiting; 0: no limit
    quota_mb = 102400     # unpacked bundles kept, all jobs together, in MiB; 0: no quota
    retention_days = 30   # finished jobs keep their files this long; 0: for ever

    [studios.abbey]
    weight = 2
    max_running = 4
    webhook_url = "https://hooks.abbey.example/mixfarm"
    webhook_secret = "a long random string"

A studio's share of the running slots is proportional to its ``weight``:
the next free slot goes to the studio with the fewest running jobs per unit
of weight that has a job ready (see :meth:`farm.queue.jobstore.JobStore.claim_next`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path

import tomllib

from farm.errors import FarmError

DEFAULT_MAX_QUEUED = 1000
DEFAULT_QUOTA_BYTES = 100 * 1024**3
DEFAULT_RETENTION_S = 30 * 86400.0
MAX_WEIGHT = 1e6
MAX_STUDIOS = 10_000
MAX_CONFIG_BYTES = 1024**2
MIN_SECRET_CHARS = 16
MAX_URL_CHARS = 2048


class StudioConfigError(FarmError, ValueError):
    """The studios file is invalid; the message names the file, the field and what is allowed."""


@dataclasses.dataclass(frozen=True)
class StudioPolicy:
    """One studio's share and limits. ``None`` in a limit means no limit."""

    weight: float = 1.0
    max_running: int | None = None
    max_queued: int | None = DEFAULT_MAX_QUEUED
    quota_bytes: int | None = DEFAULT_QUOTA_BYTES
    retention_s: float | None = DEFAULT_RETENTION_S
    webhook_url: str | None = None
    webhook_secret: str | None = None


@dataclasses.dataclass(frozen=True)
class StudioPolicies:
    """The policy of every studio: the named ones, and ``defaults`` for the rest."""

    defaults: StudioPolicy = StudioPolicy()
    studios: Mapping[str, StudioPolicy] = dataclasses.field(default_factory=dict)

    def __call__(self, studio: str) -> StudioPolicy:
        """The policy of ``studio``."""
        return self.studios.get(studio, self.defaults)

    @property
    def webhook_studios(self) -> frozenset[str]:
        """The studios that have a webhook."""
        return frozenset(name for name, policy in self.studios.items() if policy.webhook_url)


_FIELDS = {
    "weight": "a number > 0 and <= 1e6",
    "max_running": "a whole number >= 0 (0: no limit)",
    "max_queued": "a whole number >= 0 (0: no limit)",
    "quota_mb": "a number >= 0, in MiB (0: no quota)",
    "retention_days": "a number >= 0 (0: keep for ever)",
    "webhook_url": "an http:// or https:// URL",
    "webhook_secret": f"a string of at least {MIN_SECRET_CHARS} characters",
}


def load_policies(path: str | Path, defaults: StudioPolicy = StudioPolicy()) -> StudioPolicies:
    """Read a studios file (see the module docstring); ``defaults`` are what its ``[defaults]`` table leaves out.

    Raises StudioConfigError naming the file and the field.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise StudioConfigError(f"{path}: over {MAX_CONFIG_BYTES} bytes")
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise StudioConfigError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise StudioConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_policies(document, str(path), defaults)


def parse_policies(document: Mapping, source: str, defaults: StudioPolicy = StudioPolicy()) -> StudioPolicies:
    """Policies from a parsed studios document; ``source`` names it in errors."""
    unknown = set(document) - {"defaults", "studios"}
    if unknown:
        raise StudioConfigError(f"{source}: unknown table(s) {', '.join(sorted(unknown))} (allowed: defaults, studios)")
    base = _policy(document.get("defaults", {}), defaults, f"{source}: defaults")
    if base.webhook_url:
        raise StudioConfigError(f"{source}: defaults.webhook_url: a webhook belongs to one studio; set it under [studios.<name>]")
    studios = document.get("studios", {})
    if not isinstance(studios, Mapping):
        raise StudioConfigError(f"{source}: studios must be a table of [studios.<name>] tables")
    if len(studios) > MAX_STUDIOS:
        raise StudioConfigError(f"{source}: {len(studios)} studios, more than the {MAX_STUDIOS} allowed")
    return StudioPolicies(base, {str(name): _policy(table, base, f"{source}: studios.{name}") for name, table in studios.items()})


def _policy(table: object, base: StudioPolicy, where: str) -> StudioPolicy:
    if not isinstance(table, Mapping):
        raise StudioConfigError(f"{where}: must be a table")
    unknown = set(table) - set(_FIELDS)
    if unknown:
        raise StudioConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (allowed: {', '.join(_FIELDS)})")
    fields = {}
    for key, value in table.items():
        allowed = _FIELDS[key]
        problem = f"{where}.{key}: must be {allowed}, got {value!r}"
        if key in ("webhook_url", "webhook_secret"):
            if not isinstance(value, str):
                raise StudioConfigError(problem)
            if key == "webhook_url" and (not value.startswith(("http://", "https://")) or len(value) > MAX_URL_CHARS):
                raise StudioConfigError(problem)
            if key == "webhook_secret" and len(value) < MIN_SECRET_CHARS:
                raise StudioConfigError(f"{where}.{key}: must be {allowed}, got {len(value)} characters")
            fields[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise StudioConfigError(problem)
        if key == "weight":
            if not 0 < value <= MAX_WEIGHT:
                raise StudioConfigError(problem)
            fields["weight"] = float(value)
        elif key in ("max_running", "max_queued"):
            if not isinstance(value, int):
                raise StudioConfigError(problem)
            fields[key] = value or None
        elif key == "quota_mb":
            fields["quota_bytes"] = int(value * 1024**2) or None
        else:
            fields["retention_s"] = value * 86400.0 or None
    policy = dataclasses.replace(base, **fields)
    if policy.webhook_url and not policy.webhook_secret:
        raise StudioConfigError(f"{where}: webhook_url needs a webhook_secret to sign its calls with")
    return policy
