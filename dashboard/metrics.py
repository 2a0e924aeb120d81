"""Prometheus metrics of the farm (one ``mixfarm_`` prefix, base units, ``_total`` counters).

Counters and histograms move as jobs and tasks finish in this process;
gauges (queue depth, running jobs, cluster CPUs) and each studio's usage
counters are read from the store and the cluster at scrape time, so they are
right after a restart too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from farm.queue.jobstore import Job, JobStore
from farm.queue.state import JobState
from farm.queue.usage import studio_totals

disable_created_metrics()

JOB_DURATION_BUCKETS_S = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600)
TASK_DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CLUSTER_CACHE_S = 1.0


class FarmMetrics:
    """The farm's metrics in a registry of their own."""

    def __init__(self, store: JobStore, cluster: Callable[[], dict]) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter("mixfarm_jobs", "Jobs that entered each state.", ["state"], registry=self.registry)
        self.job_duration = Histogram(
            "mixfarm_job_duration_seconds", "Wall time of finished job attempts.", buckets=JOB_DURATION_BUCKETS_S, registry=self.registry
        )
        self.audio = Counter("mixfarm_audio_rendered_seconds", "Seconds of audio rendered by succeeded jobs.", registry=self.registry)
        self.tasks = Counter("mixfarm_tasks", "Render tasks finished, by kind and status.", ["kind", "status"], registry=self.registry)
        self.task_duration = Histogram(
            "mixfarm_task_duration_seconds", "Wall time of render tasks.", ["kind"], buckets=TASK_DURATION_BUCKETS_S, registry=self.registry
        )
        self.last_success = Gauge(
            "mixfarm_last_success_timestamp_seconds", "Unix time the last job succeeded.", registry=self.registry
        )
        for state in JobState:
            self.jobs.labels(state.value)
        self.registry.register(_LiveCollector(store, cluster))

    def job_changed(self, job: Job, previous: JobState | None) -> None:
        """Store listener: count state entries, durations, audio and successes."""
        if previous is job.state:
            return
        self.jobs.labels(job.state.value).inc()
        if job.state in (JobState.SUCCEEDED, JobState.FAILED) and job.started_at and job.finished_at:
            self.job_duration.observe(max(job.finished_at - job.started_at, 0.0))
        if job.state is JobState.SUCCEEDED:
            self.audio.inc(job.duration_s)
            self.last_success.set(job.finished_at or time.time())
        if job.state is JobState.QUEUED and previous is JobState.RUNNING:
            self.tasks.labels("attempt", "failed").inc()

    def tasks_finished(self, metas: list[dict]) -> None:
        """Render listener: count tasks and observe their durations."""
        for meta in metas:
            self.tasks.labels(meta["kind"], "succeeded").inc()
            self.task_duration.labels(meta["kind"]).observe(meta["seconds"])

    def exposition(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


class _LiveCollector:
    """Gauges read at scrape time."""

    def __init__(self, store: JobStore, cluster: Callable[[], dict]) -> None:
        self.store = store
        self.cluster = cluster
        self._cached: tuple[float, dict] = (0.0, {})

    def describe(self):
        return []

    def collect(self):
        counts = self.store.counts()
        yield GaugeMetricFamily("mixfarm_queue_depth", "Jobs waiting in the queue.", value=counts[JobState.QUEUED])
        yield GaugeMetricFamily("mixfarm_jobs_running", "Jobs rendering now.", value=counts[JobState.RUNNING])
        now = time.monotonic()
        if now - self._cached[0] > CLUSTER_CACHE_S:
            self._cached = (now, self.cluster())
        cpus = GaugeMetricFamily("mixfarm_cluster_cpus", "CPUs of the cluster, total and busy.", labels=["state"])
        cpus.add_metric(["total"], self._cached[1].get("cpus", 0))
        cpus.add_metric(["busy"], self._cached[1].get("cpus_busy", 0))
        yield cpus
        cpu = CounterMetricFamily("mixfarm_studio_cpu_seconds", "CPU seconds of render tasks, every attempt, by studio.", labels=["studio"])
        audio = CounterMetricFamily("mixfarm_studio_audio_seconds", "Seconds of audio delivered by succeeded jobs, by studio.", labels=["studio"])
        for studio, (cpu_s, audio_s) in sorted(studio_totals(self.store).items()):
            cpu.add_metric([studio], cpu_s)
            audio.add_metric([studio], audio_s)
        yield cpu
        yield audio
