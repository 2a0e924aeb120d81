"""The service's commands, ``mixfarm serve`` and ``gc``, and its clients (:mod:`dashboard.jobcommands`), added to
``mixfarm`` through the ``mixfarm.commands`` entry point."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from farm.cli import Commands
from farm.queue.studios import (
    DEFAULT_MAX_QUEUED,
    DEFAULT_QUOTA_BYTES,
    DEFAULT_RETENTION_S,
    StudioPolicy,
)
from farm.queue.usage import DAY_S

from .config import (
    DEFAULT_MAX_DURATION_S,
    mebibytes,
    seconds,
    storage_from_environment,
    studio_policies,
)
from .jobcommands import register_clients


def _default_policy(args: argparse.Namespace) -> StudioPolicy:
    """What every studio gets that the studios file does not say otherwise, from the command line."""
    serving = args.command == "serve"
    return StudioPolicy(
        max_queued=(args.max_queued or None) if serving else None,
        quota_bytes=mebibytes(args.studio_quota_mb, "--studio-quota-mb", zero_means_none=True) if serving else None,
        retention_s=(seconds(args.retention_days, "--retention-days") or 0) * DAY_S or None,
    )


def _cache_gigabytes(text: str) -> float:
    """An argparse type: a studio's render cache size in GB, a finite number >= 0 (0: no cache)."""
    value = float(text)
    if not (0 <= value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number of GB >= 0 (0: no cache), got {text!r}")
    return value


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .config import (
        Settings,
        check_bind,
        metrics_token_from_environment,
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
        studios=studio_policies(args.studios, _default_policy(args)),
        max_duration_s=seconds(args.max_duration_s, "--max-duration-s"),
        tokens=tokens_from_environment(),
        metrics_token=metrics_token_from_environment(),
        cache_limit_bytes=round(args.cache_limit_gb * 1000**3) if args.cache_limit_gb else None,
        trusted_proxies=args.trusted_proxies,
    )
    check_bind(args.host, settings)
    app = create_app(settings)
    print(f"mixfarm serving on http://{args.host}:{args.port} (job store in {settings.data_dir}, bundles and outputs in {settings.storage_root})", file=sys.stderr)
    proxies = {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies} if settings.trusted_proxies else {"proxy_headers": False}
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", **proxies)
    return 0


def _gc(args: argparse.Namespace) -> int:
    from farm.queue.jobfiles import JobFiles
    from farm.queue.jobstore import JobStore
    from farm.queue.retention import collect

    policies = studio_policies(args.studios, _default_policy(args))
    data = Path(args.data)
    if not (data / "jobs.sqlite3").is_file():
        print(f"mixfarm gc: {data}: no job store here (jobs.sqlite3)", file=sys.stderr)
        return 2
    store = JobStore(data / "jobs.sqlite3", policies=policies)
    try:
        done = collect(store, JobFiles(args.storage or storage_from_environment() or data), policies, uploads=data / "uploads", dry_run=args.dry_run)
    finally:
        store.close()
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} the files of {len(done.purged)} job(s) ({done.bundle_bytes / 1024**2:.1f} MiB of bundles) and {done.uploads_removed} stale upload folder(s)")
    for job_id, error in done.errors.items():
        print(f"  {job_id}: {error}", file=sys.stderr)
    return 1 if done.errors else 0


def register(commands: Commands) -> None:
    """Add ``serve`` and ``gc``, and the clients of :mod:`dashboard.jobcommands`, to ``mixfarm``."""
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
    _add_policy_arguments(serve)
    serve.add_argument(
        "--studio-quota-mb",
        type=float,
        default=DEFAULT_QUOTA_BYTES / 1024**2,
        help=f"most a studio's stored bundles may take unpacked, all its jobs together, in MiB, unless the studios file says otherwise (default {DEFAULT_QUOTA_BYTES // 1024**2}; 0: no quota)",
    )
    serve.add_argument(
        "--max-queued",
        type=int,
        default=DEFAULT_MAX_QUEUED,
        help=f"most jobs a studio may have queued, unless the studios file says otherwise (default {DEFAULT_MAX_QUEUED}; 0: no limit)",
    )
    serve.add_argument(
        "--max-duration-s",
        type=float,
        default=DEFAULT_MAX_DURATION_S,
        help=f"longest a submitted session may last (last clip end plus the master's tail), in seconds (default {DEFAULT_MAX_DURATION_S:g}; 0: no limit)",
    )
    serve.add_argument(
        "--cache-limit-gb",
        type=_cache_gigabytes,
        default=0,
        help="give each studio a render cache of this size under cache/ in --storage (else --data), so a revision renders only what it changed; "
        "no studio reads another's (default 0: no cache)",
    )
    serve.add_argument(
        "--trusted-proxies",
        default=None,
        help="comma-separated addresses of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For are believed (default: none)",
    )

    gc = commands.add(
        "gc",
        _gc,
        help="remove the files of finished jobs past their studio's retention",
        description="Remove the bundles, outputs and work folders of finished jobs older than their studio's retention_days, "
        "keeping each job's record and report; also upload folders an interrupted upload left. It may run while the service does.",
    )
    gc.add_argument("--data", default="mixfarm-data", help="the service's data folder (default ./mixfarm-data)")
    gc.add_argument("--storage", default=None, help="where bundles and outputs live, as given to mixfarm serve (default: $MIXFARM_STORAGE, else --data)")
    _add_policy_arguments(gc)
    gc.add_argument("--dry-run", action="store_true", help="only say what would be removed")

    register_clients(commands)


def _add_policy_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--studios",
        default=None,
        help="a TOML file of each studio's weight, max_running, max_queued, quota_mb, retention_days and webhook (default: $MIXFARM_STUDIOS)",
    )
    command.add_argument(
        "--retention-days",
        type=float,
        default=DEFAULT_RETENTION_S / DAY_S,
        help=f"days a finished job keeps its files, unless the studios file says otherwise (default {DEFAULT_RETENTION_S / DAY_S:g}; 0: for ever)",
    )
