"""Latency of the mixfarm service under load, shared by many studios, and how fast a freed slot is used.

1. Fills a fresh data folder for ``--studios`` studios (default 20) with
   ``--jobs`` finished jobs (default 10,000, each with a realistic render
   report) and ``--queued`` queued jobs (default 10,000, spread unevenly:
   studio k holds a share proportional to 1/(k+1)). The queued jobs wait for a
   pair of jobs that wait for each other, so they stay queued while the
   service runs (the API cannot make such a cycle; the seed writes it).
   Starts ``mixfarm serve --max-running 1`` on loopback with a token per studio.
2. Sends ``--rate`` requests per second (default 100) from at most
   ``--concurrency`` clients at once for ``--seconds`` to each of
   ``GET /api/jobs``, ``GET /api/jobs/{id}`` and ``GET /metrics``, studios in
   turn; prints p50, p99 and max latency and the rate achieved. The same for
   the queue page (HTML) and ``GET /api/jobs`` with a name search and a filter
   (state or priority, some sorted in queue order), the busiest studios first;
   then the same two one request at a time (``--sequential``, default 300
   each), the time a user waits. Goal: p99 under 100 ms.
3. Submits ``--rate`` small bundles per second for ``--submit-seconds``
   (default 30), studios in turn, each waiting behind its studio's pair (so
   nothing renders), while ``GET /api/jobs`` is loaded at the same rate;
   prints both latencies. Goal: p99 under 50 ms.
4. Submits ``--submits`` pairs of small jobs; with one slot, the second of a
   pair waits for the first. Prints the median and worst time from the first
   one finishing (the slot freeing) to the second one's first task running
   (``first_task_started_at`` in its report), and from a submit's answer to its
   first task. Goal: under 200 ms.
5. In process: times ``JobStore.claim_next`` (fair share over the studios)
   against the claim of before, highest priority then oldest over every
   studio's jobs, on copies of one store with ``--queued`` ready jobs; prints
   the median microseconds per claim and the ratio. Goal: at most 2x.

    python benchmarks/service_load.py [--jobs 10000] [--queued 10000] [--studios 20] [--rate 100] [--seconds 10] [--sequential 300]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
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

from farm.queue.jobstore import JobStore
from farm.queue.state import JobState


def studio_name(index: int) -> str:
    return f"studio{index:02d}"


def seed_store(data_dir: Path, studios: int, finished: int, queued: int) -> tuple[list[str], dict[str, str]]:
    """Write ``finished`` finished and ``queued`` queued jobs straight into the store; returns the finished jobs' ids
    and, per studio, the id of a job its queued jobs (and the benchmark's submits) wait for, which never runs."""
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
    for index in range(finished):
        job = store.create(f"song {index}", studio_name(index % studios), rng.randint(0, 9), 180.0)
        store.transition(job.id, JobState.RUNNING)
        final = JobState.SUCCEEDED if index % 10 else JobState.FAILED
        store.transition(job.id, final, report=report if final is JobState.SUCCEEDED else None, progress=1.0, error=None if final is JobState.SUCCEEDED else "seeded failure")
        ids.append(job.id)
    gates = {}
    for index in range(studios):
        studio = studio_name(index)
        first, second = (store.create(f"gate {studio} {side}", studio).id for side in "ab")
        with store.writing() as db:
            db.executemany("INSERT INTO job_deps (job_id, after_id) VALUES (?, ?)", [(first, second), (second, first)])
            db.execute("UPDATE jobs SET waiting = 1, after = ? WHERE id = ?", (json.dumps([second]), first))
            db.execute("UPDATE jobs SET waiting = 1, after = ? WHERE id = ?", (json.dumps([first]), second))
        gates[studio] = first
    shares = np.array([1.0 / (index + 1) for index in range(studios)])
    counts = np.floor(shares / shares.sum() * queued).astype(int)
    counts[0] += queued - counts.sum()
    for index, count in enumerate(counts):
        studio = studio_name(index)
        for number in range(count):
            store.create(f"queued {studio} {number}", studio, rng.randint(0, 9), 180.0, after=[gates[studio]])
    store.close()
    return ids, gates


def start_server(data_dir: Path, port: int, studios: int) -> subprocess.Popen:
    tokens = ",".join(f"{studio_name(index)}:{token(index)}" for index in range(studios))
    process = subprocess.Popen(
        [sys.executable, "-m", "farm.cli", "serve", "--port", str(port), "--data", str(data_dir), "--max-running", "1", "--max-queued", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "RAY_AUTH_MODE": "disabled", "MIXFARM_API_TOKENS": tokens},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError("the service did not start")


def token(index: int) -> str:
    return f"token-of-studio-{index:02d}"


def headers(index: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(index)}"}


async def paced_load(url: str, requests: list[dict], rate: float, seconds: float, concurrency: int) -> tuple[list[float], float]:
    """Send requests (``httpx`` request arguments, taken in turn) at ``rate`` per second with at most ``concurrency``
    open; returns latencies (s) and the rate achieved."""
    latencies: list[float] = []
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(request: dict) -> None:
            async with limit:
                started = time.perf_counter()
                response = await client.request(**request)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

        started = time.perf_counter()
        pending = []
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            pending.append(asyncio.create_task(one(requests[index % len(requests)])))
        await asyncio.gather(*pending)
        return latencies, len(latencies) / (time.perf_counter() - started)


async def submits_under_load(url: str, studios: int, gates: dict[str, str], rate: float, seconds: float, concurrency: int) -> dict[str, tuple[list[float], float]]:
    """Submits and listings, each at ``rate`` per second for ``seconds``, at the same time; their latencies and rates achieved."""
    bundle = tiny_bundle(0)
    submits = [
        {"method": "POST", "url": "/api/jobs", "files": {"bundle": ("b.zip", bundle)}, "data": {"after": gates[studio_name(index)]}, "headers": headers(index)}
        for index in range(studios)
    ]
    listings = [{"method": "GET", "url": "/api/jobs", "headers": headers(index)} for index in range(studios)]
    (submit_latencies, submit_rate), (list_latencies, list_rate) = await asyncio.gather(
        paced_load(url, submits, rate, seconds, concurrency), paced_load(url, listings, rate, seconds, concurrency)
    )
    return {"POST /api/jobs": (submit_latencies, submit_rate), "GET /api/jobs": (list_latencies, list_rate)}


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


def slot_to_first_task(url: str, pairs: int) -> tuple[list[float], list[float]]:
    """With one slot: (from the first job of a pair finishing to the second's first task, from a lone job's submit
    answer to its first task), in seconds, per pair."""
    after_slot, after_answer = [], []
    with httpx.Client(base_url=url, timeout=60, headers=headers(0)) as client:
        for index in range(pairs + 1):
            sent = [client.post("/api/jobs", files={"bundle": ("b.zip", tiny_bundle(2 * index + side))}) for side in (0, 1)]
            answered = time.time()
            jobs = [wait_done(client, response.json()["id"]) for response in sent]
            if index == 0:
                continue
            after_slot.append(jobs[1]["report"]["first_task_started_at"] - jobs[0]["finished_at"])
            after_answer.append(jobs[0]["report"]["first_task_started_at"] - answered)
    return after_slot, after_answer


def wait_done(client: httpx.Client, job_id: str) -> dict:
    while (job := client.get(f"/api/jobs/{job_id}").json())["state"] not in ("succeeded", "failed"):
        time.sleep(0.02)
    if job["state"] != "succeeded":
        raise RuntimeError(f"probe job failed: {job['error']}")
    return job


class PriorityFirstStore(JobStore):
    """The claim of before fair share: the highest priority, then the oldest, of every studio's queued jobs."""

    def _choose(self, db):
        return db.execute("SELECT seq, id, attempts FROM jobs WHERE state = ? ORDER BY priority DESC, seq ASC LIMIT 1", (JobState.QUEUED.value,)).fetchone()


def claim_speed(folder: Path, studios: int, queued: int, claims: int = 2000, rounds: int = 5) -> dict[str, float]:
    """Median microseconds per claim, fair share and priority-first, on copies of one store with ``queued`` ready
    jobs; each claimed job is finished (untimed) so as many run as a busy farm has."""
    seed = JobStore(folder / "claims.sqlite3")
    rng = random.Random(2)
    shares = [1.0 / (index + 1) for index in range(studios)]
    for _ in range(queued):
        seed.create("queued", studio_name(rng.choices(range(studios), shares)[0]), rng.randint(0, 9))
    seed.close()
    timings: dict[str, list[float]] = {"fair share": [], "priority first": []}
    for _ in range(rounds):
        for name, kind in (("fair share", JobStore), ("priority first", PriorityFirstStore)):
            copy = folder / f"claims-{name.replace(' ', '-')}.sqlite3"
            shutil.copyfile(folder / "claims.sqlite3", copy)
            store = kind(copy)
            running: list[str] = []
            spent = []
            for _ in range(claims):
                started = time.perf_counter()
                job = store.claim_next()
                spent.append(time.perf_counter() - started)
                running.append(job.id)
                if len(running) > 16:
                    store.transition(running.pop(0), JobState.SUCCEEDED)
            timings[name].append(statistics.median(spent) * 1e6)
            store.close()
            for path in folder.glob(copy.name + "*"):
                path.unlink()
    return {name: statistics.median(values) for name, values in timings.items()}


def one_at_a_time(url: str, requests: list[dict], count: int) -> list[float]:
    """Latencies (s) of ``count`` requests (``httpx`` request arguments, taken in turn), each sent when the last answered."""
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for index in range(count):
            started = time.perf_counter()
            client.request(**requests[index % len(requests)]).raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def searches(path: str) -> list[str]:
    """``path`` with a name search and a filter: the queue page's and the API's listings as a studio narrows them."""
    return [f"{path}?q=song+1&state=succeeded", f"{path}?q=queued&priority_min=5&sort=queue", f"{path}?q=7&state=queued&state=failed", f"{path}?q=song&priority_max=2&sort=name"]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="finished jobs in the store (default 10000)")
    parser.add_argument("--queued", type=int, default=10_000, help="queued jobs in the store (default 10000)")
    parser.add_argument("--studios", type=int, default=20, help="studios sharing the farm (default 20)")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second per endpoint (default 100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each endpoint is loaded (default 10)")
    parser.add_argument("--submit-seconds", type=float, default=30.0, help="how long submits are sent (default 30)")
    parser.add_argument("--concurrency", type=int, default=8, help="most requests open at once per endpoint (default 8)")
    parser.add_argument("--submits", type=int, default=10, help="pairs of jobs submitted to time a freed slot's next first task (default 10)")
    parser.add_argument("--sequential", type=int, default=300, help="searches of the queue page and the API timed one at a time (default 300 each)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mixfarm-load-") as folder:
        data_dir = Path(folder) / "data"
        started = time.perf_counter()
        ids, gates = seed_store(data_dir, args.studios, args.jobs, args.queued)
        print(f"seeded {args.jobs} finished and {args.queued} queued jobs of {args.studios} studios in {time.perf_counter() - started:.1f} s")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = start_server(data_dir, port, args.studios)
        url = f"http://127.0.0.1:{port}"
        try:
            sample = random.Random(1).sample(range(len(ids)), 200)
            listing = ["/api/jobs", "/api/jobs?state=succeeded&offset=200", "/api/jobs?limit=100", "/api/jobs?state=queued"]
            loads = [
                ("GET /api/jobs", [{"method": "GET", "url": path, "headers": headers(index)} for index in range(args.studios) for path in listing]),
                ("GET /api/jobs/{id}", [{"method": "GET", "url": f"/api/jobs/{ids[index]}", "headers": headers(index % args.studios)} for index in sample]),
                ("GET /metrics", [{"method": "GET", "url": "/metrics"}]),
                ("GET / (search+filter)", [{"method": "GET", "url": path, "headers": headers(index)} for index in range(3) for path in searches("/")]),
                ("GET /api/jobs (search+filter)", [{"method": "GET", "url": path, "headers": headers(index)} for index in range(3) for path in searches("/api/jobs")]),
            ]
            print(f"{args.rate:g} requests/s for {args.seconds:g} s each, at most {args.concurrency} open; latency in ms")
            print(f"{'endpoint':28s} {'p50':>7s} {'p99':>7s} {'max':>7s} {'req/s':>7s}")
            for name, requests in loads:
                asyncio.run(paced_load(url, requests, args.rate, 1.0, args.concurrency))
                latencies, achieved = asyncio.run(paced_load(url, requests, args.rate, args.seconds, args.concurrency))
                print(f"{name:28s} {percentile(latencies, 50) * 1e3:7.1f} {percentile(latencies, 99) * 1e3:7.1f} {max(latencies) * 1e3:7.1f} {achieved:7.1f}")
            print(f"one request at a time, {args.sequential} each; latency in ms")
            for name, requests in loads[-2:]:
                latencies = one_at_a_time(url, requests, args.sequential)
                print(f"{name:28s} {percentile(latencies, 50) * 1e3:7.1f} {percentile(latencies, 99) * 1e3:7.1f} {max(latencies) * 1e3:7.1f}")
            mixed = asyncio.run(submits_under_load(url, args.studios, gates, args.rate, args.submit_seconds, args.concurrency))
            print(f"{args.rate:g} submits/s and {args.rate:g} listings/s together for {args.submit_seconds:g} s; latency in ms")
            for name, (latencies, achieved) in mixed.items():
                print(f"{name + ' (mixed)':28s} {percentile(latencies, 50) * 1e3:7.1f} {percentile(latencies, 99) * 1e3:7.1f} {max(latencies) * 1e3:7.1f} {achieved:7.1f}")
            after_slot, after_answer = slot_to_first_task(url, args.submits)
            print(
                f"slot freed -> next job's first task, {args.submits} pairs on one slot: median {statistics.median(after_slot) * 1e3:.0f} ms "
                f"(worst {max(after_slot) * 1e3:.0f} ms); submit answered -> first task: median {statistics.median(after_answer) * 1e3:.0f} ms "
                f"(worst {max(after_answer) * 1e3:.0f} ms)"
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(60)
        claims = claim_speed(Path(folder), args.studios, args.queued)
        print(
            f"claim_next over {args.queued} ready jobs of {args.studios} studios, median per claim: fair share {claims['fair share']:.0f} us, "
            f"priority first (before) {claims['priority first']:.0f} us, ratio {claims['fair share'] / claims['priority first']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
