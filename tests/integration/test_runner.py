"""The runner on a real SQLite file and a real local Dask cluster, with stand-in tasks."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from distributed import Variable

from genejobs.jobs.run.runner import Runner
from genejobs.jobs.run.tasks import attempt_variable_name
from genejobs.jobs.store.db import make_engine, make_sessionmaker
from genejobs.jobs.store.models import JobRow
from support.runner import (
    GENES,
    add_job,
    crashes,
    fails,
    load_job,
    local_cluster,
    make_settings,
    quick_counts,
    set_status,
    sleeps_until_cancelled,
    slow_counts,
    stats_until_cancelled,
    table_stats,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client():
    cluster, client = local_cluster()
    yield client
    client.close()
    cluster.close()


def runner(settings, client, **fns) -> Runner:
    fns.setdefault("sample_fn", quick_counts)
    fns.setdefault("statistics_fn", table_stats)
    return Runner(settings, runner_id="test-runner", client=client, **fns)


def test_job_runs_to_finished_with_progress_and_outputs(tmp_path: Path, client) -> None:
    settings = make_settings(tmp_path)
    job_id = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    r = runner(settings, client)
    assert r.run_once() == job_id
    assert r.run_once() is None
    job, samples = load_job(settings, job_id)
    assert job.status == "FINISHED", job.message
    assert (job.steps_done, job.steps_total) == (5, 5)
    assert job.message == ""
    assert job.run_started_ms >= job.start_time_ms
    assert job.end_time_ms >= job.run_started_ms
    assert job.lease_owner is None
    assert [s.state for s in samples] == ["DONE"] * 4
    assert all(s.pairs_done == 1000 and s.fraction_done == 1.0 for s in samples)
    assert all(s.started_ms and s.ended_ms >= s.started_ms for s in samples)
    assert json.loads(samples[0].stats_json)["reads"]["pairs_in"] == 1000
    outputs = json.loads(job.outputs_json)
    table = pd.read_csv(outputs["table"], index_col=0)
    assert list(table.columns) == ["K1", "K2", "W1", "W2"]
    assert list(table.index) == GENES
    assert "stand-in statistics" in json.loads(job.warnings_json)


def test_progress_is_visible_while_running(tmp_path: Path, client) -> None:
    settings = make_settings(tmp_path)
    job_id = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    r = runner(settings, client, sample_fn=slow_counts)
    thread = threading.Thread(target=r.run_once)
    thread.start()
    seen_running = False
    deadline = time.monotonic() + 15
    while thread.is_alive() and time.monotonic() < deadline:
        job, samples = load_job(settings, job_id)
        if any(s.state == "RUNNING" and 0 < s.fraction_done < 1 for s in samples):
            assert job.status == "RUNNING"
            assert job.steps_done < job.steps_total
            seen_running = True
        time.sleep(0.1)
    thread.join()
    assert seen_running
    assert load_job(settings, job_id)[0].status == "FINISHED"


def test_failing_sample_fails_the_job_with_its_message(tmp_path: Path, client) -> None:
    settings = make_settings(tmp_path)
    job_id = add_job(settings, {"K": ["K1", "bad"], "W": ["W1", "W2"]})
    runner(settings, client, sample_fn=fails).run_once()
    job, samples = load_job(settings, job_id)
    assert job.status == "FAILED"
    assert job.message.startswith("sample 'bad': file '")
    assert "bad_R2.fastq.gz' ends early" in job.message
    assert "Traceback" not in job.message
    assert {s.sample_name: s.state for s in samples}["bad"] == "FAILED"
    assert job.end_time_ms is not None
    assert json.loads(job.outputs_json) == {}


def test_internal_error_gives_a_plain_message_without_details(tmp_path: Path, client) -> None:
    settings = make_settings(tmp_path)
    job_id = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    runner(settings, client, sample_fn=crashes).run_once()
    job, _ = load_job(settings, job_id)
    assert job.status == "FAILED"
    assert "internal error" in job.message and job_id in job.message
    assert "secret" not in job.message and "KeyError" not in job.message


def test_cancel_of_a_running_job_ends_cancelled_quickly(tmp_path: Path, client) -> None:
    settings = make_settings(tmp_path)
    job_id = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    r = runner(settings, client, sample_fn=sleeps_until_cancelled)
    thread = threading.Thread(target=r.run_once)
    thread.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        _, samples = load_job(settings, job_id)
        if any(s.state == "RUNNING" for s in samples):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the samples never started")
    cancelled_at = time.monotonic()
    set_status(settings, job_id, "CANCELING")  # what the API's cancel call does
    thread.join(10)
    job, samples = load_job(settings, job_id)
    assert job.status == "CANCELLED"
    assert time.monotonic() - cancelled_at < 10
    assert all(s.state == "CANCELLED" for s in samples)
    assert job.lease_owner is None
    # The tasks themselves stopped (the Event), freeing the workers for the next job.
    follow_up = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    started = time.monotonic()
    assert runner(settings, client).run_once() == follow_up
    assert time.monotonic() - started < 10
    assert load_job(settings, follow_up)[0].status == "FINISHED"


def wait_for(predicate, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_background_loop_runs_queued_jobs_then_stop_requeues_a_running_one(
    tmp_path: Path, client
) -> None:
    settings = make_settings(tmp_path)
    first = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    second = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    r = runner(settings, client)
    r.start()
    try:
        assert wait_for(
            lambda: all(load_job(settings, j)[0].status == "FINISHED" for j in (first, second))
        )
        r.sample_fn = sleeps_until_cancelled  # the next job will still be running at stop()
        third = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
        assert wait_for(lambda: load_job(settings, third)[0].status == "RUNNING")
    finally:
        r.stop()
    job, _ = load_job(settings, third)
    assert (job.status, job.lease_owner) == ("LAUNCHING", None)  # back in the queue at once
    assert runner(settings, client).run_once() == third  # and another runner finishes it
    assert load_job(settings, third)[0].status == "FINISHED"


def _run_until(settings, job_id, r: Runner, ready) -> threading.Thread:
    thread = threading.Thread(target=r.run_once)
    thread.start()
    if not wait_for(lambda: ready(*load_job(settings, job_id))):
        pytest.fail("the job never reached the state the test needs")
    return thread


def test_cancel_during_statistics_ends_cancelled_without_outputs(tmp_path: Path, client) -> None:
    settings = make_settings(tmp_path)
    job_id = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    r = runner(settings, client, statistics_fn=stats_until_cancelled)
    # All samples done: the statistics step is what runs now.
    thread = _run_until(settings, job_id, r, lambda job, s: job.steps_done == 4)
    set_status(settings, job_id, "CANCELING")
    thread.join(10)
    assert not thread.is_alive()
    job, samples = load_job(settings, job_id)
    assert (job.status, job.lease_owner, job.message) == ("CANCELLED", None, "")
    assert json.loads(job.outputs_json or "{}") == {}
    assert [s.state for s in samples] == ["DONE"] * 4  # what was done stays done


def test_a_runner_that_lost_its_lease_writes_nothing_more(tmp_path: Path, client) -> None:
    settings = make_settings(tmp_path)
    job_id = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    r = runner(settings, client, sample_fn=sleeps_until_cancelled)
    thread = _run_until(settings, job_id, r, lambda job, s: job.status == "RUNNING")
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as s, s.begin():
        s.get(JobRow, job_id).lease_owner = "another-runner"  # taken over meanwhile
    engine.dispose()
    thread.join(10)
    assert not thread.is_alive()
    job, _ = load_job(settings, job_id)
    assert (job.status, job.lease_owner, job.end_time_ms) == ("RUNNING", "another-runner", None)
    # What the new owner does first: its attempt token stops the old attempt's tasks.
    Variable(attempt_variable_name(job_id), client=client).set("another-runner:1")


def test_stop_during_statistics_requeues_the_job(tmp_path: Path, client) -> None:
    settings = make_settings(tmp_path)
    job_id = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    r = runner(settings, client, statistics_fn=stats_until_cancelled)
    r.start()
    try:
        assert wait_for(lambda: load_job(settings, job_id)[0].steps_done == 4)
    finally:
        r.stop()
    job, _ = load_job(settings, job_id)
    assert (job.status, job.lease_owner) == ("LAUNCHING", None)
    assert runner(settings, client).run_once() == job_id
    assert load_job(settings, job_id)[0].status == "FINISHED"
