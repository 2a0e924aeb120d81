"""The clients of a running service: ``mixfarm submit``, ``jobs``, ``show``, ``wait``, ``download``, ``logs``,
``priority``, ``cancel``, ``retry`` and ``usage``. Each reaches ``--server`` (default ``$MIXFARM_SERVER``, else
http://127.0.0.1:8000) with the token in ``$MIXFARM_TOKEN``; an error of the service exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .client import Client

if TYPE_CHECKING:
    from farm.cli import Commands

CANCEL_POLL_S = 0.2
WAIT_POLL_S = 0.5
FINAL_STATES = ("succeeded", "failed", "cancelled")
WAIT_EXIT = {"succeeded": 0, "failed": 1, "cancelled": 3}
"""``mixfarm wait``'s exit status by how the job ended (2 is an error of the command itself)."""
STATES = ("queued", "running", "succeeded", "failed", "cancelled")


def _submit(args: argparse.Namespace) -> int:
    after = [part.strip() for part in (args.after or "").split(",") if part.strip()]
    job = Client(args.server).submit(args.path, args.priority, args.name, after, progress=_SubmitProgress(sys.stderr))
    print(f"{job['id']}  {job['state']}  {job['name']}" + (f"  (after {', '.join(after)})" if after else ""))
    return 0


class _SubmitProgress:
    """Says on ``stream`` that the bundle is being packed, then how much of it is uploaded: redrawn on one line on a
    terminal, at every tenth otherwise."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.redraw = stream.isatty()
        self.shown = -1

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "packing":
            self.stream.write("packing the bundle...\n")
        else:
            tenth = done * 10 // max(total, 1)
            if self.redraw:
                self.stream.write(f"\ruploading {done / 1024**2:.1f} of {total / 1024**2:.1f} MiB ({done * 100 // max(total, 1)}%)")
                if done >= total:
                    self.stream.write("\n")
            elif tenth != self.shown:
                self.shown = tenth
                self.stream.write(f"uploading {done / 1024**2:.1f} of {total / 1024**2:.1f} MiB ({tenth * 10}%)\n")
        self.stream.flush()


def _priority(args: argparse.Namespace) -> int:
    job = Client(args.server).change(args.id, priority=args.priority)
    print(f"{job['id']}  {job['state']}  priority {job['priority']}")
    return 0


def _usage(args: argparse.Namespace) -> int:
    report = Client(args.server).usage(args.since, args.until)
    print(f"{'day':10s}  {'jobs':>5s}  {'attempts':>8s}  {'cpu_s':>10s}  {'audio_s':>10s}")
    for day in report["days"]:
        print(f"{day['day']:10s}  {day['jobs']:5d}  {day['attempts']:8d}  {day['cpu_s']:10.1f}  {day['audio_s']:10.1f}")
    total = report["total"]
    print(f"{'total':10s}  {total['jobs']:5d}  {total['attempts']:8d}  {total['cpu_s']:10.1f}  {total['audio_s']:10.1f}")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    listing = Client(args.server).jobs(args.state, args.limit)
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    print(f"{'id':16s}  {'state':9s}  {'progress':>8s}  {'priority':>8s}  name")
    for job in listing["jobs"]:
        print(f"{job['id']:16s}  {job['state']:9s}  {job['progress'] * 100:7.1f}%  {job['priority']:8d}  {job['name']}")
    print(f"{len(listing['jobs'])} of {listing['total']} job(s)")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    client = Client(args.server)
    job = client.cancel(args.id)
    deadline = time.monotonic() + args.wait_s
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(CANCEL_POLL_S)
        job = client.job(args.id)
    if job["state"] == "running":
        print(f"{job['id']}  running  (stopping: not stopped after {args.wait_s:g} s)")
        return 0
    if job["state"] != "cancelled":
        print(f"{job['id']}  {job['state']}  (it ended before the cancel reached it)")
        return 1
    print(f"{job['id']}  cancelled")
    return 0


def _retry(args: argparse.Namespace) -> int:
    job = Client(args.server).retry(args.id)
    print(f"{job['id']}  {job['state']}")
    return 0


def _show(args: argparse.Namespace) -> int:
    job = Client(args.server).job(args.id)
    if args.json:
        print(json.dumps(job, indent=2))
        return 0
    print(f"{job['id']}  {job['name']}  ({job['studio']})")
    print(f"  state: {job['state']}" + (f", {job['progress'] * 100:.1f}% ({job['stage'] or 'starting'})" if job["state"] == "running" else "") + f", attempt(s) {job['attempts']}, priority {job['priority']}")
    if job["after"]:
        print(f"  waits for: {', '.join(job['after'])}")
    print(f"  audio: {job['duration_s']:.1f} s; CPU used: {job['cpu_s']:.1f} s")
    if job["error"]:
        print(f"  error: {job['error']}")
    report = job.get("report") or {}
    output = report.get("output") or {}
    if output.get("integrated_lufs") is not None:
        print(f"  master: {output['integrated_lufs']:.2f} LUFS, true peak {output['true_peak_dbtp']:.2f} dBTP")
    for item in job["outputs"]:
        print(f"  {item['name']}  ({item['format']}, {item['bytes']} bytes)")
    if job["purged_at"]:
        print("  files removed by the retention policy")
    return 0


def _wait(args: argparse.Namespace) -> int:
    client = Client(args.server)
    deadline = None if args.timeout_s is None else time.monotonic() + args.timeout_s
    terminal = sys.stderr.isatty()
    shown, drawn = None, 0
    while True:
        job = client.job(args.id)
        if job["state"] in FINAL_STATES:
            break
        line = f"{job['id']}  {job['state']}  {job['progress'] * 100:5.1f}%" + (f"  {job['stage']}" if job["stage"] else "")
        if terminal:
            sys.stderr.write("\r" + line + " " * max(drawn - len(line), 0))
            sys.stderr.flush()
            drawn = len(line)
        elif job["state"] != shown:
            print(line, file=sys.stderr)
        shown = job["state"]
        if deadline is not None and time.monotonic() >= deadline:
            if terminal:
                sys.stderr.write("\n")
            print(f"{job['id']}  {job['state']}  (still not finished after {args.timeout_s:g} s)")
            return 4
        time.sleep(WAIT_POLL_S)
    if terminal and shown is not None:
        sys.stderr.write("\n")
    print(f"{job['id']}  {job['state']}" + (f"  {job['error']}" if job["error"] and job["state"] != "succeeded" else ""))
    return WAIT_EXIT[job["state"]]


def _download(args: argparse.Namespace) -> int:
    client = Client(args.server)
    job = client.job(args.id)
    if job["state"] != "succeeded":
        print(f"mixfarm download: job {job['id']} is {job['state']}; only a succeeded job has outputs", file=sys.stderr)
        return 2
    folder = Path(args.output or job["id"])
    names = [item["name"] for item in job["outputs"] if not args.name or item["name"] in args.name]
    missing = sorted(set(args.name or ()) - set(names))
    if missing:
        print(f"mixfarm download: job {job['id']} has no output {', '.join(missing)} (its outputs: {', '.join(item['name'] for item in job['outputs'])})", file=sys.stderr)
        return 2
    for name in names:
        size = client.download(job["id"], name, folder / name)
        print(f"{folder / name}  ({size} bytes)")
    return 0


def _logs(args: argparse.Namespace) -> int:
    job = Client(args.server).job(args.id)
    if args.json:
        print(json.dumps({"attempts": job["attempt_history"], "webhooks": job["webhooks"]}, indent=2))
        return 0
    if not job["attempt_history"]:
        print(f"{job['id']}: no attempt has ended yet ({job['state']})")
    for attempt in job["attempt_history"]:
        started = _clock(attempt["started_at"]) if attempt["started_at"] else "?"
        print(f"attempt {attempt['number']}: {attempt['outcome']}, {started} to {_clock(attempt['ended_at'])}, {attempt['cpu_s']:.1f} CPU s, {attempt['audio_s']:.1f} s of audio")
        if attempt["error"]:
            print(f"  error: {attempt['error']}")
        failure = attempt["failure"]
        if failure:
            chunk = failure["chunk"]
            where = f"{failure['task']} task" + (f" of {failure['strip']}" if failure["strip"] else "")
            if chunk and "start_s" in chunk:
                where += f", chunk {chunk['start_s']:.2f}-{chunk['stop_s']:.2f} s"
            print(f"  failed in the {where}, on {failure['host']} (node {failure['node'][:12]})")
            for line in failure["traceback"].splitlines():
                print(f"    {line}")
    for delivery in job["webhooks"]:
        state = "delivered" if delivery["delivered_at"] else "given up" if delivery["gave_up_at"] else "pending"
        print(f"webhook {delivery['event']} #{delivery['id']}: {state} after {delivery['attempts']} call(s)" + (f"; last error: {delivery['last_error']}" if delivery["last_error"] else ""))
    return 0


def _clock(unix_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix_s))


def register_clients(commands: Commands) -> None:
    """Add the service's clients to ``mixfarm``."""
    clients = (
        ("submit", "zip a session file or folder and queue it", _submit),
        ("jobs", "list your jobs, newest first", _jobs),
        ("show", "a job's state, loudness and outputs", _show),
        ("wait", "follow a job to its end; exit status 0 succeeded, 1 failed, 3 cancelled, 4 still running at --timeout-s", _wait),
        ("download", "download a succeeded job's outputs", _download),
        ("logs", "a job's attempts, with the failing task and traceback of each failed one, and its webhook calls", _logs),
        ("priority", "change a job's priority", _priority),
        ("cancel", "cancel a job", _cancel),
        ("retry", "queue a failed or cancelled job again", _retry),
        ("usage", "your studio's CPU and audio seconds per day", _usage),
    )
    for name, help_text, handler in clients:
        command = commands.add(name, handler, help=help_text)
        command.add_argument("--server", default=None, help="service URL (default: $MIXFARM_SERVER, else http://127.0.0.1:8000); token from $MIXFARM_TOKEN")
        if name == "submit":
            command.add_argument("path", help="a session file, or a folder with session.yaml at its root")
            command.add_argument("--priority", type=int, default=0, help="higher runs first among your jobs (default 0)")
            command.add_argument("--name", default=None, help="job name (default: the session's)")
            command.add_argument("--after", default=None, help="comma-separated ids of your jobs this one waits for")
        elif name == "jobs":
            command.add_argument("--state", choices=STATES, default=None, help="only jobs in this state")
            command.add_argument("--limit", type=int, default=50, help="at most this many jobs, 1 to 500 (default 50)")
            command.add_argument("--json", action="store_true", help="print the listing as the API gives it")
        elif name == "usage":
            command.add_argument("--from", dest="since", default=None, help="a UTC date YYYY-MM-DD or ISO time (default: 30 days before --to)")
            command.add_argument("--to", dest="until", default=None, help="a UTC date (included) or ISO time (default: now)")
        else:
            command.add_argument("id", help="the job's id")
            if name in ("show", "logs"):
                command.add_argument("--json", action="store_true", help="print it as the API gives it")
            if name == "wait":
                command.add_argument("--timeout-s", type=float, default=None, help="give up after this many seconds (default: wait for the end)")
            if name == "download":
                command.add_argument("-o", "--output", default=None, help="folder to write into (default: a folder named after the job's id)")
                command.add_argument("name", nargs="*", help="only these outputs (default: all of them)")
            if name == "cancel":
                command.add_argument(
                    "--wait-s", type=float, default=30.0, help="how long to wait for a running job to stop, printing how it ended (default 30; 0: do not wait)"
                )
            if name == "priority":
                command.add_argument("priority", type=int, help="the new priority: higher runs first among your jobs")
