"""A small HTTP client of the mixfarm service, for the command line."""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

from farm.errors import SessionError
from farm.queue.bundle import pack_bundle

from .errors import ServiceError

DEFAULT_SERVER = "http://127.0.0.1:8000"
TOKEN_VARIABLE = "MIXFARM_TOKEN"
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
SERVER_VARIABLE = "MIXFARM_SERVER"



class Client:
    """Calls the service at ``server`` with the token from ``$MIXFARM_TOKEN`` if set."""

    def __init__(self, server: str | None = None, token: str | None = None, timeout_s: float = 60.0) -> None:
        self.server = (server or os.environ.get(SERVER_VARIABLE) or DEFAULT_SERVER).rstrip("/")
        self.token = token or os.environ.get(TOKEN_VARIABLE)
        self.timeout_s = timeout_s

    def submit(
        self, path: str | os.PathLike, priority: int = 0, name: str | None = None, after: list[str] = (), progress: Progress | None = None
    ) -> dict:
        """Zip a session file or folder and queue it, to wait for the jobs ``after``; returns the job.

        ``progress`` is told ``("packing", 0, 0)`` before the zip is made and ``("uploading", bytes sent, bytes in
        all)`` as the upload goes. The token is checked first with a request of no body: the service refuses an
        upload with a bad token before reading it, so a client still sending would see only a closed connection.
        """
        self.jobs(limit=1)
        fields = {"priority": str(priority)}
        if name:
            fields["name"] = name
        if after:
            fields["after"] = ",".join(after)
        if progress:
            progress("packing", 0, 0)
        body, content_type = _multipart(fields, "bundle", f"{Path(path).stem}.zip", pack_bundle(path))
        return self._call("POST", "/api/jobs", _Upload(body, progress) if progress else body, content_type)

    def jobs(self, state: str | None = None, limit: int = 50) -> dict:
        """The caller's jobs, newest first."""
        query = f"?limit={limit}" + (f"&state={state}" if state else "")
        return self._call("GET", f"/api/jobs{query}")

    def job(self, job_id: str) -> dict:
        """One job."""
        return self._call("GET", f"/api/jobs/{job_id}")

    def change(self, job_id: str, priority: int) -> dict:
        """Change a job's priority; returns the job."""
        return self._call("PATCH", f"/api/jobs/{quote(job_id, safe='')}", json.dumps({"priority": priority}).encode(), "application/json")

    def usage(self, since: str | None = None, until: str | None = None) -> dict:
        """The studio's usage per day between ``since`` and ``until`` (dates or ISO times)."""
        query = urlencode({key: value for key, value in (("from", since), ("to", until)) if value})
        return self._call("GET", "/api/usage" + (f"?{query}" if query else ""))

    def retry(self, job_id: str) -> dict:
        """Queue a failed or cancelled job again."""
        return self._call("POST", f"/api/jobs/{quote(job_id, safe='')}/retry", b"")

    def download(self, job_id: str, name: str, target: Path) -> int:
        """Write the job's output ``name`` to ``target`` (its folders made), streamed; returns its size in bytes."""
        segments = "/".join(quote(segment, safe="") for segment in name.split("/"))
        request = self._request("GET", f"/api/jobs/{quote(job_id, safe='')}/outputs/{segments}")
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with self._open(request) as response, open(target, "wb") as handle:
            while chunk := response.read(DOWNLOAD_CHUNK_BYTES):
                handle.write(chunk)
                size += len(chunk)
        return size

    def cancel(self, job_id: str) -> dict:
        """Cancel a job."""
        return self._call("POST", f"/api/jobs/{job_id}/cancel", b"")

    def _call(self, method: str, path: str, body: "bytes | _Upload | None" = None, content_type: str | None = None) -> dict:
        request = self._request(method, path, body, content_type)
        with self._open(request) as response:
            return json.loads(response.read())

    def _request(self, method: str, path: str, body: "bytes | _Upload | None" = None, content_type: str | None = None) -> urllib.request.Request:
        request = urllib.request.Request(self.server + path, data=body, method=method)
        if isinstance(body, _Upload):
            request.add_header("Content-Length", str(body.total))
        if content_type:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        return request

    def _open(self, request: urllib.request.Request):
        """The response to ``request``; ServiceError naming the server with the status and detail, or why it cannot connect."""
        try:
            return urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            payload = _payload(exc)
            problems = payload.get("problems")
            if isinstance(problems, list) and problems:
                raise SessionError(f"{self.server}: {exc.code} {payload.get('detail', exc.reason)}", [str(problem) for problem in problems]) from None
            raise ServiceError(f"{self.server}: {exc.code} {payload.get('detail', exc.reason)}") from None
        except urllib.error.URLError as exc:
            raise ServiceError(f"{self.server}: cannot connect ({exc.reason})") from None
        except OSError as exc:
            raise ServiceError(f"{self.server}: the connection failed while sending ({exc})") from None


Progress = Callable[[str, int, int], None]
"""Told (stage, bytes done, bytes in all) as a submit packs and uploads its bundle."""


class _Upload(io.BytesIO):
    """A request body that reports how much of it has been read (sent)."""

    def __init__(self, data: bytes, progress: Progress) -> None:
        super().__init__(data)
        self.total = len(data)
        self.progress = progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.progress("uploading", self.tell(), self.total)
        return chunk


def _payload(error: urllib.error.HTTPError) -> dict:
    """The JSON object an error answer carries; empty when it carries none."""
    try:
        payload = json.loads(error.read())
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _multipart(fields: dict[str, str], file_field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode() for key, value in fields.items()]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        "Content-Type: application/zip\r\n\r\n".encode() + content + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
