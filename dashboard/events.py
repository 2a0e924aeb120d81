"""Fan-out of job changes to server-sent-event clients.

The store calls :meth:`EventBroker.publish` from whatever thread changed a
job; each connected client has an asyncio queue on the server's loop that
receives the event through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import json
import threading

MAX_QUEUED_EVENTS = 1000


class EventBroker:
    """Delivers events to every subscribed client; a client too slow to keep up loses its oldest events."""

    def __init__(self) -> None:
        self._clients: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue, str | None]] = set()
        self._lock = threading.Lock()

    def subscribe(self, studio: str | None) -> asyncio.Queue:
        """A queue of events for a client on the running loop; ``studio`` None sees every job."""
        queue: asyncio.Queue = asyncio.Queue(MAX_QUEUED_EVENTS)
        with self._lock:
            self._clients.add((asyncio.get_running_loop(), queue, studio))
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        """Forget a client's queue."""
        with self._lock:
            self._clients = {client for client in self._clients if client[1] is not queue}

    def publish(self, kind: str, data: dict, studio: str | None = None) -> None:
        """Send an event to every client allowed to see ``studio``'s jobs."""
        message = f"event: {kind}\ndata: {json.dumps(data)}\n\n"
        with self._lock:
            clients = list(self._clients)
        for loop, queue, allowed in clients:
            if allowed is None or allowed == studio:
                try:
                    loop.call_soon_threadsafe(_put, queue, message)
                except RuntimeError:
                    self.unsubscribe(queue)


def _put(queue: asyncio.Queue, message: str) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(message)
