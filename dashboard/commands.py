"""The service's commands, ``mixfarm serve``, ``submit``, ``jobs`` and ``cancel``, added to ``mixfarm`` through the ``mixfarm.commands`` entry point."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from farm.cli import Commands

from .client import Client
from .config import DEFAULT_MAX_DURATION_S, DEFAULT_STUDIO_QUOTA_BYTES


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .config import (
        Settings,
        check_bind,
        mebibytes,
        metrics_token_from_environment,
        seconds,
        storage_from_environment,
        tokens_from_environment,
    )
    from .main import create_app

    settings = Settings(
        data_dir=Path(args.data),
        storage=args.storage or storage_from_environment(),
        address=args.address,
        max_running=args.max_running,
        max_upload_bytes=mebibytes(args.max_upload_mb, "--max-upload-mb"),
        max_bundle_bytes=mebibytes(args.max_bundle_mb, "--max-bundle-mb"),
        studio_quota_bytes=mebibytes(args.studio_quota_mb, "--studio-quota-mb", zero_means_none=True),
        max_duration_s=seconds(args.max_duration_s, "--max-duration-s"),
        tokens=tokens_from_environment(),
        metrics_token=metrics_token_from_environment(),
        trusted_proxies=args.trusted_proxies,
    )
    check_bind(args.host, settings)
    app = create_app(settings)
    print(f"mixfarm serving on http://{args.host}:{args.port} (job store in {settings.data_dir}, bundles and outputs in {settings.storage_root})", file=sys.stderr)
    proxies = {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies} if settings.trusted_proxies else {"proxy_headers": False}
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", **proxies)
    return 0


def _submit(args: argparse.Namespace) -> int:
    job = Client(args.server).submit(args.path, args.priority, args.name)
    print(f"{job['id']}  {job['state']}  {job['name']}")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    listing = Client(args.server).jobs(args.state, args.limit)
    print(f"{'id':16s}  {'state':9s}  {'progress':>8s}  {'priority':>8s}  name")
    for job in listing["jobs"]:
        print(f"{job['id']:16s}  {job['state']:9s}  {job['progress'] * 100:7.1f}%  {job['priority']:8d}  {job['name']}")
    print(f"{len(listing['jobs'])} of {listing['total']} job(s)")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    job = Client(args.server).cancel(args.id)
    print(f"{job['id']}  {job['state']}" + ("  (stopping)" if job.get("cancel_requested") and job["state"] == "running" else ""))
    return 0


def register(commands: Commands) -> None:
    """Add ``serve``, ``submit``, ``jobs`` and ``cancel`` to ``mixfarm``."""
    serve = commands.add(
        "serve",
        _serve,
        help="run the service: REST API, dashboard, metrics and the scheduler",
        description="Run the service. Environment: MIXFARM_API_TOKENS (studio:token,...), MIXFARM_METRICS_TOKEN (the bearer token /metrics asks for), MIXFARM_STORAGE.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; beyond loopback needs MIXFARM_API_TOKENS)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--data", default="mixfarm-data", help="folder for the job store, bundles and outputs (default ./mixfarm-data)")
    serve.add_argument(
        "--storage",
        default=None,
        help="where bundles and outputs live instead: a folder or an fsspec URI such as s3://bucket/prefix (default: $MIXFARM_STORAGE, else --data)",
    )
    serve.add_argument("--address", default=None, help="Ray cluster to join (default: $RAY_ADDRESS, else a local cluster)")
    serve.add_argument("--max-running", type=int, default=None, help="jobs rendering at once (default: the cluster's CPUs)")
    serve.add_argument("--max-upload-mb", type=float, default=2048, help="largest bundle upload accepted, as sent, in MiB (default 2048)")
    serve.add_argument("--max-bundle-mb", type=float, default=None, help="most one bundle may unpack to, in MiB (default: the upload limit)")
    serve.add_argument(
        "--studio-quota-mb",
        type=float,
        default=DEFAULT_STUDIO_QUOTA_BYTES / 1024**2,
        help=f"most a studio's stored bundles may take unpacked, all its jobs together, in MiB (default {DEFAULT_STUDIO_QUOTA_BYTES // 1024**2}; 0: no quota)",
    )
    serve.add_argument(
        "--max-duration-s",
        type=float,
        default=DEFAULT_MAX_DURATION_S,
        help=f"longest a submitted session may last (last clip end plus the master's tail), in seconds (default {DEFAULT_MAX_DURATION_S:g}; 0: no limit)",
    )
    serve.add_argument(
        "--trusted-proxies",
        default=None,
        help="comma-separated addresses of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For are believed (default: none)",
    )

    for name, help_text, handler in (("submit", "zip a session file or folder and queue it", _submit), ("jobs", "list your jobs", _jobs), ("cancel", "cancel a job", _cancel)):
        command = commands.add(name, handler, help=help_text)
        command.add_argument("--server", default=None, help="service URL (default: $MIXFARM_SERVER, else http://127.0.0.1:8000); token from $MIXFARM_TOKEN")
        if name == "submit":
            command.add_argument("path", help="a session file, or a folder with session.yaml at its root")
            command.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
            command.add_argument("--name", default=None, help="job name (default: the session's)")
        elif name == "jobs":
            command.add_argument("--state", choices=("queued", "running", "succeeded", "failed", "cancelled"), default=None)
            command.add_argument("--limit", type=int, default=50)
        else:
            command.add_argument("id", help="the job's id")
