"""Listing jobs: search, filters, sorts and queue positions, on a real SQLite store."""

from __future__ import annotations

import random

import pytest

from farm.queue.jobstore import JobStore
from farm.queue.listing import MAX_SEARCH_CHARS, JobFilter
from farm.queue.state import JobState


@pytest.fixture
def store(tmp_path):
    opened = JobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


def names(store: JobStore, listing: JobFilter) -> list[str]:
    return [job.name for job in store.list(listing, limit=100)[0]]


def test_search_matches_any_case_and_takes_wildcards_literally(store):
    for name in ("Big Mix", "big_mix", "bigXmix", "100% mix", "master"):
        store.create(name, "abbey")
    assert names(store, JobFilter(search="MIX", sort="oldest")) == ["Big Mix", "big_mix", "bigXmix", "100% mix"]
    assert names(store, JobFilter(search="g_m")) == ["big_mix"]
    assert names(store, JobFilter(search="0%")) == ["100% mix"]
    assert store.list(JobFilter(search="nothing like it"))[1] == 0


def test_filters_combine_and_the_total_counts_every_page(store):
    for index in range(12):
        job = store.create(f"song {index}", "abbey" if index % 2 else "ocean", priority=index % 4)
        if index % 3 == 0:
            store.transition(job.id, JobState.CANCELLED)
    listing = JobFilter(studio="abbey", states=(JobState.QUEUED,), priority_min=1, priority_max=2)
    page, total = store.list(listing, limit=1)
    assert total == 2 and [job.name for job in page] == ["song 5"]
    assert names(store, listing) == ["song 5", "song 1"]
    both = JobFilter(states=(JobState.QUEUED, JobState.CANCELLED), studio="ocean")
    assert store.list(both)[1] == 6


def test_queue_order_puts_running_first_then_the_claim_order_then_the_rest(store):
    low = store.create("low", "abbey", priority=0)
    high = store.create("high", "abbey", priority=5)
    store.create("later low", "abbey", priority=0)
    done = store.create("done", "abbey")
    store.transition(done.id, JobState.CANCELLED)
    running = store.create("running", "abbey", priority=-3)
    store.transition(running.id, JobState.RUNNING)
    assert names(store, JobFilter(sort="queue")) == ["running", "high", "low", "later low", "done"]
    assert store.queue_positions([low.id, high.id, running.id, done.id]) == {high.id: 1, low.id: 2}


def test_queue_positions_count_only_the_jobs_own_studio_and_follow_priority_changes(store):
    first = store.create("first", "abbey")
    store.create("other studio", "ocean", priority=9)
    second = store.create("second", "abbey")
    assert store.queue_positions([first.id, second.id]) == {first.id: 1, second.id: 2}
    store.set_priority(second.id, 1)
    assert store.queue_positions([first.id, second.id]) == {second.id: 1, first.id: 2}


def test_name_sort_ignores_case(store):
    for name in ("beta", "Alpha", "gamma"):
        store.create(name, "abbey")
    assert names(store, JobFilter(sort="name")) == ["Alpha", "beta", "gamma"]


@pytest.mark.parametrize(("fields", "message"), [({"sort": "random"}, "sort: 'random' is not one of"), ({"search": "x" * (MAX_SEARCH_CHARS + 1)}, "search: ")])
def test_a_filter_out_of_bounds_is_refused_naming_its_field(fields, message):
    with pytest.raises(ValueError, match=message):
        JobFilter(**fields)


def test_queue_positions_of_any_subset_match_the_claim_order_counted_out(store):
    rng = random.Random(7)
    jobs = [store.create(f"job {index}", rng.choice(["abbey", "ocean"]), priority=rng.randint(0, 3)) for index in range(120)]
    for job in rng.sample(jobs, 30):
        store.transition(job.id, JobState.CANCELLED)
    queued = [job for job in jobs if store.get(job.id).state is JobState.QUEUED]
    expected = {}
    for studio in ("abbey", "ocean"):
        order = sorted((job for job in queued if job.studio == studio), key=lambda job: (-job.priority, jobs.index(job)))
        expected.update({job.id: place for place, job in enumerate(order, 1)})
    for _ in range(20):
        picked = [job.id for job in rng.sample(jobs, rng.randint(1, 40))]
        assert store.queue_positions(picked) == {job_id: expected[job_id] for job_id in picked if job_id in expected}
