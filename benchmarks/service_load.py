"""Latency of the mixfarm service under load, and how fast a submitted job starts.

1. Fills a fresh data folder with ``--jobs`` finished jobs (default 10,000,
   each with a realistic render report), starts ``mixfarm serve`` on
   loopback, and sends ``--rate`` requests per second (default 100) from at
   most ``--concurrency`` clients at once for ``--seconds`` to each of
   ``GET /api/jobs``, ``GET /api/jobs/{id}`` and ``GET /metrics``; prints
   p50, p99 and max latency and the rate achieved. Goal: p99 under 50 ms.
2. On the same (warm) service, submits ``--submits`` small jobs one after
   another and prints the median and worst time from the upload's answer to
   the job's first task running (``first_task_started_at`` in its report),
   and from sending the upload. Goal: under 200 ms.

    python benchmarks/service_load.py [--jobs 10000] [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import soundfile
import yaml

from dashboard.auth import ANONYMOUS
from farm.queue.jobstore import JobStore
from farm.queue.state import JobState


def seed_store(data_dir: Path, jobs: int) -> list[str]:
    """Write ``jobs`` finished jobs straight into the store (for the studio of an unauthenticated service); returns their ids."""
    store = JobStore(data_dir / "jobs.sqlite3")
    report = {
        "session": "seeded",
        "input": {"integrated_lufs": -17.2, "loudness_range_lu": 6.1, "true_peak_dbtp": -0.4},
        "output": {"integrated_lufs": -14.0, "loudness_range_lu": 5.9, "true_peak_dbtp": -1.1},
        "deliverables": [{"path": f"master{i}.wav", "format": "wav", "bit_depth": 24, "loudness": {"integrated_lufs": -14.0}} for i in range(3)],
        "nodes": {f"node{i}": 40 for i in range(4)},
    }
    ids = []
    rng = random.Random(0)
    for index in range(jobs):
        job = store.create(f"song {index}", ANONYMOUS, rng.randint(0, 9), 180.0)
        store.transition(job.id, JobState.RUNNING)
        final = JobState.SUCCEEDED if index % 10 else JobState.FAILED
        store.transition(job.id, final, report=report if final is JobState.SUCCEEDED else None, progress=1.0, error=None if final is JobState.SUCCEEDED else "seeded failure")
        ids.append(job.id)
    store.close()
    return ids


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "farm.cli", "serve", "--port", str(port), "--data", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError("the service did not start")


async def paced_load(url: str, paths: list[str], rate: float, seconds: float, concurrency: int) -> tuple[list[float], float]:
    """Send requests at ``rate`` per second with at most ``concurrency`` open; returns latencies (s) and the rate achieved."""
    latencies: list[float] = []
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(path: str) -> None:
            async with limit:
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

        started = time.perf_counter()
        pending = []
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            pending.append(asyncio.create_task(one(paths[index % len(paths)])))
        await asyncio.gather(*pending)
        return latencies, len(latencies) / (time.perf_counter() - started)


def tiny_bundle(index: int) -> bytes:
    rate = 48000
    t = np.arange(rate) / rate
    stem = io.BytesIO()
    soundfile.write(stem, (0.3 * np.sin(2 * np.pi * (200 + index) * t))[:, None], rate, format="WAV", subtype="PCM_24")
    session = {"format": "mixfarm/1", "name": f"probe {index}", "tracks": [{"name": "tone", "file": "stems/tone.wav"}], "master": {"tail_s": 0.0}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("session.yaml", yaml.safe_dump(session))
        archive.writestr("stems/tone.wav", stem.getvalue())
    return buffer.getvalue()


def submit_to_first_task(url: str, submits: int) -> tuple[list[float], list[float]]:
    """(from the upload's answer, from sending the upload) to the first task, in seconds, per job."""
    after_answer, after_send = [], []
    with httpx.Client(base_url=url, timeout=60) as client:
        for index in range(submits + 1):
            bundle = tiny_bundle(index)
            sent = time.time()
            job = client.post("/api/jobs", files={"bundle": ("b.zip", bundle)}).json()
            answered = time.time()
            while (job := client.get(f"/api/jobs/{job['id']}").json())["state"] not in ("succeeded", "failed"):
                time.sleep(0.05)
            if job["state"] != "succeeded":
                raise RuntimeError(f"probe job failed: {job['error']}")
            if index == 0:
                continue
            first = job["report"]["first_task_started_at"]
            after_answer.append(first - answered)
            after_send.append(first - sent)
    return after_answer, after_send


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="finished jobs in the store (default 10000)")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second per endpoint (default 100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each endpoint is loaded (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="most requests open at once (default 8)")
    parser.add_argument("--submits", type=int, default=10, help="jobs submitted to time the start of their first task (default 10)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mixfarm-load-") as folder:
        data_dir = Path(folder) / "data"
        started = time.perf_counter()
        ids = seed_store(data_dir, args.jobs)
        print(f"seeded {args.jobs} finished jobs in {time.perf_counter() - started:.1f} s")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = start_server(data_dir, port)
        url = f"http://127.0.0.1:{port}"
        try:
            sample = random.Random(1).sample(ids, 200)
            loads = [("GET /api/jobs", ["/api/jobs", "/api/jobs?state=succeeded&offset=500", "/api/jobs?limit=100"]), ("GET /api/jobs/{id}", [f"/api/jobs/{job_id}" for job_id in sample]), ("GET /metrics", ["/metrics"])]
            print(f"{args.rate:g} requests/s for {args.seconds:g} s each, at most {args.concurrency} open; latency in ms")
            print(f"{'endpoint':22s} {'p50':>7s} {'p99':>7s} {'max':>7s} {'req/s':>7s}")
            for name, paths in loads:
                asyncio.run(paced_load(url, paths, args.rate, 1.0, args.concurrency))
                latencies, achieved = asyncio.run(paced_load(url, paths, args.rate, args.seconds, args.concurrency))
                print(f"{name:22s} {percentile(latencies, 50) * 1e3:7.1f} {percentile(latencies, 99) * 1e3:7.1f} {max(latencies) * 1e3:7.1f} {achieved:7.1f}")
            after_answer, after_send = submit_to_first_task(url, args.submits)
            print(
                f"submit -> first task running, {args.submits} jobs on a warm cluster: median {statistics.median(after_answer) * 1e3:.0f} ms "
                f"(worst {max(after_answer) * 1e3:.0f} ms) after the upload's answer; median {statistics.median(after_send) * 1e3:.0f} ms "
                f"(worst {max(after_send) * 1e3:.0f} ms) after sending it"
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
