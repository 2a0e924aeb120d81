"""A small HTTP client of the mixfarm service, for the command line."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

from farm.queue.bundle import pack_bundle

from .errors import ServiceError

DEFAULT_SERVER = "http://127.0.0.1:8000"
TOKEN_VARIABLE = "MIXFARM_TOKEN"
SERVER_VARIABLE = "MIXFARM_SERVER"



class Client:
    """Calls the service at ``server`` with the token from ``$MIXFARM_TOKEN`` if set."""

    def __init__(self, server: str | None = None, token: str | None = None, timeout_s: float = 60.0) -> None:
        self.server = (server or os.environ.get(SERVER_VARIABLE) or DEFAULT_SERVER).rstrip("/")
        self.token = token or os.environ.get(TOKEN_VARIABLE)
        self.timeout_s = timeout_s

    def submit(self, path: str | os.PathLike, priority: int = 0, name: str | None = None, after: list[str] = ()) -> dict:
        """Zip a session file or folder and queue it, to wait for the jobs ``after``; returns the job."""
        fields = {"priority": str(priority)}
        if name:
            fields["name"] = name
        if after:
            fields["after"] = ",".join(after)
        body, content_type = _multipart(fields, "bundle", f"{Path(path).stem}.zip", pack_bundle(path))
        return self._call("POST", "/api/jobs", body, content_type)

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

    def cancel(self, job_id: str) -> dict:
        """Cancel a job."""
        return self._call("POST", f"/api/jobs/{job_id}/cancel", b"")

    def _call(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> dict:
        request = urllib.request.Request(self.server + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ServiceError(f"{self.server}: {exc.code} {_detail(exc)}") from None
        except urllib.error.URLError as exc:
            raise ServiceError(f"{self.server}: cannot connect ({exc.reason})") from None


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(error.read())
    except ValueError:
        return error.reason
    problems = payload.get("problems")
    detail = payload.get("detail", error.reason)
    return f"{detail}:\n" + "\n".join(f"  {problem}" for problem in problems) if problems else str(detail)


def _multipart(fields: dict[str, str], file_field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode() for key, value in fields.items()]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        "Content-Type: application/zip\r\n\r\n".encode() + content + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
