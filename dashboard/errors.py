"""The service's exceptions, in one place.

They derive from :class:`farm.errors.FarmError`, so the ``mixfarm`` command
line reports them as it reports farm's: the message, and exit status 2.
"""

from __future__ import annotations

from farm.errors import FarmError


class DashboardError(FarmError):
    """Base class of the service's errors."""


class ConfigError(DashboardError, ValueError):
    """A setting is invalid; the message names it."""


class QuotaExceeded(DashboardError):
    """Storing a bundle would take its studio past its storage quota; the message gives the numbers."""


class ServiceError(DashboardError):
    """The service answered a client with an error; the message gives its status and detail."""
