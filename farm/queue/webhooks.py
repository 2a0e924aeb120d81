"""Webhooks: a studio's URL is called, signed, every time one of its jobs ends.

The call owed is written to the job store's ``webhooks`` table in the same
transaction that ends the job, so a crash between the two cannot lose it;
:class:`WebhookSender` delivers what is owed, from any process that opens
the store, and retries with exponential backoff until the receiver answers
2xx or :data:`MAX_ATTEMPTS` calls have failed. Delivery is therefore at
least once: a receiver tells repeats apart by the ``X-Mixfarm-Delivery`` id.

Each call is a ``POST`` of a JSON body (``{"event": "job.succeeded",
"job": {...}}``) with the headers

* ``X-Mixfarm-Event``: the event, ``job.succeeded``, ``job.failed`` or ``job.cancelled``;
* ``X-Mixfarm-Delivery``: the call's id, the same on every retry;
* ``X-Mixfarm-Signature-256``: ``sha256=`` and the hex HMAC-SHA256 (RFC 2104)
  of the raw body under the studio's ``webhook_secret``, as GitHub signs
  its webhooks. A receiver computes the same over the bytes it got and
  compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import urllib.error
import urllib.request

from .jobstore import JobStore
from .studios import StudioPolicies

SIGNATURE_HEADER = "X-Mixfarm-Signature-256"
EVENT_HEADER = "X-Mixfarm-Event"
DELIVERY_HEADER = "X-Mixfarm-Delivery"
FIRST_RETRY_S = 2.0
LONGEST_RETRY_S = 3600.0
MAX_ATTEMPTS = 20
"""Calls made before a delivery is given up: with the backoff above, about 14 hours of trying."""
TIMEOUT_S = 10.0
BATCH = 50
"""Deliveries taken from the store at a time."""
MAX_ERROR_CHARS = 500

log = logging.getLogger("mixfarm.webhooks")


def signature(secret: str, body: bytes) -> str:
    """The value of ``X-Mixfarm-Signature-256`` for ``body``: ``sha256=`` and the hex HMAC-SHA256 under ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay_s(failed_calls: int, first_s: float = FIRST_RETRY_S, longest_s: float = LONGEST_RETRY_S) -> float:
    """The pause after the ``failed_calls``-th failed call: ``first_s`` doubling each time, at most ``longest_s``."""
    return min(first_s * 2 ** (failed_calls - 1), longest_s)


class WebhookSender:
    """Delivers the webhook calls the store owes, in a thread of its own (see the module docstring)."""

    def __init__(
        self,
        store: JobStore,
        policies: StudioPolicies,
        *,
        poll_s: float = 1.0,
        first_retry_s: float = FIRST_RETRY_S,
        longest_retry_s: float = LONGEST_RETRY_S,
        max_attempts: int = MAX_ATTEMPTS,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.store = store
        self.policies = policies
        self.poll_s = poll_s
        self.first_retry_s = first_retry_s
        self.longest_retry_s = longest_retry_s
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start delivering (what a previous process left owed included)."""
        self._thread = threading.Thread(target=self._loop, name="mixfarm-webhooks", daemon=True)
        self._thread.start()
        self.store.subscribe(lambda job, previous: self._wake.set() if job.state.is_final and previous is not job.state else None)

    def stop(self, timeout_s: float = TIMEOUT_S + 1) -> None:
        """Stop delivering; what is still owed stays in the store for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.deliver_due() and not self._stop.is_set():
                    pass
            except Exception:  # noqa: BLE001 - one bad delivery or a busy store must not end deliveries
                log.exception("webhooks: delivering failed; trying again")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def deliver_due(self) -> int:
        """Make every call that is due now, once; returns how many were made."""
        now = time.time()
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT id, studio, event, body, attempts FROM webhooks WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_at <= ? "
                "ORDER BY next_at, id LIMIT ?",
                (now, BATCH),
            ).fetchall()
        for row in rows:
            if self._stop.is_set():
                break
            self._deliver(row["id"], row["studio"], row["event"], row["body"].encode(), row["attempts"])
        return len(rows)

    def _deliver(self, delivery_id: int, studio: str, event: str, body: bytes, attempts: int) -> None:
        policy = self.policies(studio)
        if not policy.webhook_url or not policy.webhook_secret:
            self._record(delivery_id, attempts, gave_up=True, error="the studio has no webhook any more")
            return
        request = urllib.request.Request(policy.webhook_url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("User-Agent", "mixfarm-webhooks")
        request.add_header(EVENT_HEADER, event)
        request.add_header(DELIVERY_HEADER, str(delivery_id))
        request.add_header(SIGNATURE_HEADER, signature(policy.webhook_secret, body))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read(64 * 1024)
            self._record(delivery_id, attempts + 1, delivered=True)
            return
        except urllib.error.HTTPError as exc:
            error = f"{policy.webhook_url} answered {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = f"{policy.webhook_url}: {getattr(exc, 'reason', exc)}"
        calls = attempts + 1
        gave_up = calls >= self.max_attempts
        log.warning("webhook %s of studio %s, call %d: %s%s", delivery_id, studio, calls, error, "; giving up" if gave_up else "")
        self._record(delivery_id, calls, gave_up=gave_up, error=error)

    def _record(self, delivery_id: int, calls: int, *, delivered: bool = False, gave_up: bool = False, error: str | None = None) -> None:
        now = time.time()
        next_at = now + retry_delay_s(calls, self.first_retry_s, self.longest_retry_s) if calls else now
        with self.store.writing() as db:
            db.execute(
                "UPDATE webhooks SET attempts = ?, next_at = ?, delivered_at = ?, gave_up_at = ?, last_error = ? WHERE id = ?",
                (calls, next_at, now if delivered else None, now if gave_up else None, None if error is None else error[:MAX_ERROR_CHARS], delivery_id),
            )


def deliveries(store: JobStore, job_id: str) -> list[dict]:
    """The webhook calls owed for a job: event, calls made, when delivered or given up, and the last error."""
    with store.reading() as db:
        rows = db.execute(
            "SELECT id, event, created_at, attempts, next_at, delivered_at, gave_up_at, last_error FROM webhooks WHERE job_id = ? ORDER BY id", (job_id,)
        ).fetchall()
    return [dict(row) for row in rows]
