"""The cluster's history: samples, their roll-up into minutes and quarter hours, and how long each is kept."""

from __future__ import annotations

import threading

from farm.queue.history import SAMPLE_S, ClusterSampler, history, node_addresses
from farm.queue.jobstore import Attempt, JobStore
from farm.queue.state import JobState

NODE_A = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c"
NODE_B = "ffeeddccbbaa99887766554433221100ffeeddccbbaa998877665544"
START_S = 1_700_000_000.0 - 1_700_000_000.0 % 900
"""A quarter hour's first second."""


class Cluster:
    """The cluster's facts as the scheduler reports them, changed by the test."""

    def __init__(self) -> None:
        self.busy = {NODE_A: 1.0, NODE_B: 3.0}
        self.alive = {NODE_A: True, NODE_B: True}

    def __call__(self) -> dict:
        nodes = [
            {"id": node, "address": f"10.0.0.{index + 1}", "alive": self.alive[node], "cpus": 4, "cpus_busy": busy}
            for index, (node, busy) in enumerate(self.busy.items())
        ]
        return {"nodes": nodes, "cpus": 8, "cpus_busy": sum(self.busy.values())}


def test_samples_roll_up_into_minutes_and_quarter_hours_and_old_ones_go(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    cluster = Cluster()
    sampler = ClusterSampler(store, cluster)
    for job_index in range(2):
        job = store.create(f"queued {job_index}", "A")
    store.transition(job.id, JobState.RUNNING)
    for step in range(0, 40 * 60, SAMPLE_S):
        now_s = START_S + step
        if step == 90:
            sampler.tasks_finished([{"node": NODE_A, "memory_used_bytes": 2e9}, {"node": NODE_A, "memory_used_bytes": 3e9}, {"node": NODE_B}], now_s)
        cluster.busy[NODE_B] = 3.0 if step < 60 else 1.0
        sampler.sample(now_s)

    end_s = START_S + 40 * 60 - SAMPLE_S
    hour = history(store, "hour", now_s=end_s)
    assert hour["resolution_s"] == SAMPLE_S and len(hour["samples"]) == 40 * 60 // SAMPLE_S
    assert {sample["queued"] for sample in hour["samples"]} == {1} and {sample["running"] for sample in hour["samples"]} == {1}
    nodes = {node["id"]: node for node in hour["nodes"]}
    assert nodes[NODE_A]["short_id"] == "a1b2c3d4" and nodes[NODE_A]["address"] == "10.0.0.1"
    samples_a = nodes[NODE_A]["samples"]
    assert sum(sample["tasks_finished"] for sample in samples_a) == 2
    assert samples_a[18]["at"] == START_S + 90 and samples_a[18]["memory_used_bytes"] == 3e9
    assert samples_a[17]["memory_used_bytes"] is None and samples_a[18 + 60 // SAMPLE_S]["memory_used_bytes"] == 3e9
    assert samples_a[18 + 61 // SAMPLE_S + 1]["memory_used_bytes"] is None, "a memory figure stands a minute, then goes"

    day = history(store, "day", now_s=end_s)
    assert day["resolution_s"] == 60 and [sample["at"] for sample in day["samples"]] == [START_S + 60 * minute for minute in range(39)]
    first_minute_b = next(node for node in day["nodes"] if node["id"] == NODE_B)["samples"][0]
    assert first_minute_b["cpus_busy"] == 3.0 and next(node for node in day["nodes"] if node["id"] == NODE_B)["samples"][1]["cpus_busy"] == 1.0
    assert sum(sample["tasks_finished"] for sample in next(node for node in day["nodes"] if node["id"] == NODE_A)["samples"]) == 2

    week = history(store, "week", now_s=end_s)
    assert week["resolution_s"] == 900 and [sample["at"] for sample in week["samples"]] == [START_S, START_S + 900]
    assert week["samples"][0]["cpus_busy"] == (3.0 + 1.0 + 14 * 2.0) / 15

    sampler.sample(START_S + 2 * 3600)
    assert history(store, "hour", now_s=START_S + 2 * 3600)["samples"][0]["at"] == START_S + 2 * 3600
    with store.reading() as db:
        oldest_fine = db.execute("SELECT MIN(at) FROM cluster_samples WHERE resolution_s = ?", (SAMPLE_S,)).fetchone()[0]
    assert oldest_fine >= START_S + 3600, "the 5-second samples are kept an hour"
    assert len(history(store, "day", now_s=START_S + 2 * 3600)["samples"]) == 40, "a minute's samples are kept a day"
    sampler.sample(START_S + 8 * 86400)
    with store.reading() as db:
        assert db.execute("SELECT MIN(at) FROM cluster_samples").fetchone()[0] >= START_S + 86400
    assert node_addresses(store, [NODE_A, NODE_B, "gone"]) == {NODE_A: "10.0.0.1", NODE_B: "10.0.0.2"}
    store.close()


def test_a_sample_counts_each_studios_jobs_apart_and_skips_dead_nodes(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    cluster = Cluster()
    cluster.alive[NODE_B] = False
    sampler = ClusterSampler(store, cluster)
    sampler.sample()
    for studio, finished, queued in (("A", 3, 0), ("B", 1, 2)):
        for _ in range(finished):
            job = store.create("done", studio)
            store.transition(job.id, JobState.RUNNING)
            store.transition(job.id, JobState.SUCCEEDED, attempt=Attempt("succeeded"))
        for _ in range(queued):
            store.create("waiting", studio)
    sampler.sample()
    for studio, finished, queued in (("A", 3, 0), ("B", 1, 2), (None, 4, 2)):
        samples = history(store, "hour", studio)["samples"]
        assert (sum(sample["finished"] for sample in samples), samples[-1]["queued"]) == (finished, queued), studio
    assert [node["id"] for node in history(store, "hour")["nodes"]] == [NODE_A]
    store.close()


def test_a_cluster_that_fails_costs_a_sample_not_the_sampler(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    calls = []
    third_call = threading.Event()

    def gone() -> dict:
        calls.append(1)
        if len(calls) >= 3:
            third_call.set()
        raise ConnectionError("the cluster is gone")

    sampler = ClusterSampler(store, gone, interval_s=0.05)
    sampler.start()
    try:
        assert third_call.wait(30), "the sampler stopped after a failed sample"
    finally:
        sampler.stop()
    assert history(store, "hour")["samples"] == []
    store.close()
