"""The runner: claims jobs with a lease, runs them on Dask, records progress and outcome.

One runner thread handles one job at a time; the parallelism is inside the job
(one Dask task per sample, then one statistics task). The store is only ever
written here, never by a worker: workers report progress as Dask events and
learn about cancellation through a Dask ``Event``.

A run of a job returns one ``Outcome`` (``jobs/run/outcomes.py``): the waits for the
samples and for the statistics each look, every tick, at the store (cancelled?
still ours?), at this runner's stop flag and at the heartbeat, and return what
they found; ``_write_outcome`` alone writes the ending.

A job is never lost: the lease is heart-beaten while the job runs, and a runner
that dies simply stops heart-beating, so another runner (or the same one,
restarted) takes the job over once the lease expires.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from distributed import Client, Event, Future, Variable
from sqlalchemy import select
from sqlalchemy.orm import Session

from genejobs.config import Settings
from genejobs.errors import CancelledError, GeneJobsError
from genejobs.jobs.request.spec import RnaDiffExprSpec, spec_from_request
from genejobs.jobs.run.cache import sample_params
from genejobs.jobs.run.executor import close_client, make_client, sample_resources
from genejobs.jobs.run.outcomes import (
    OUTCOMES,
    Cancelled,
    Failed,
    Finished,
    LeaseLost,
    Outcome,
    Requeued,
    internal_error,
    sample_failed,
    statistics_failed,
)
from genejobs.jobs.run.qcstaging import QcRequest
from genejobs.jobs.run.tasks import (
    attempt_variable_name,
    cancel_event_name,
    progress_topic,
    run_sample_task,
    run_statistics_task,
)
from genejobs.jobs.states import JobStatus, check_move
from genejobs.jobs.store.db import make_engine, make_sessionmaker, now_ms
from genejobs.jobs.store.leases import claim_next, heartbeat, release
from genejobs.jobs.store.models import JobRow
from genejobs.jobs.store.ownership import add_written, check_new_output
from genejobs.pipeline.records import LibraryType, SampleParams, SampleResult, SampleSpec
from genejobs.pipeline.strandedness import LibraryChoice, choose_library_type
from genejobs.storage import Storage

log = logging.getLogger(__name__)


class SampleFn(Protocol):
    """A sample task: ``tasks.run_sample_task`` or a test's stand-in."""

    def __call__(
        self,
        job_id: str,
        sample: SampleSpec,
        params: SampleParams,
        reference_name: str,
        gtf_name: str,
        settings: Settings,
        /,
        qc: QcRequest | None = None,
    ) -> SampleResult: ...


StatisticsFn = Callable[..., dict[str, Any]]

_TICK_S = 0.2  # how often the wait loop looks at futures, progress and the job's status


class Runner:
    """Claims jobs and runs them; ``start()`` for the service, ``run_once()`` for tests."""

    def __init__(
        self,
        settings: Settings,
        *,
        runner_id: str | None = None,
        client: Client | None = None,
        sample_fn: SampleFn = run_sample_task,
        statistics_fn: StatisticsFn = run_statistics_task,
    ) -> None:
        self.settings = settings
        self.runner_id = runner_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sample_fn = sample_fn
        self.statistics_fn = statistics_fn
        self._engine = make_engine(settings.database_url)
        self._sessions = make_sessionmaker(self._engine)
        self._client = client
        self._owns_client = client is None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._progress_lock = threading.Lock()
        self._progress: dict[str, dict[str, Any]] = {}  # sample name -> latest message
        self._written: list[tuple[str, int]] = []  # files the current job wrote so far
        self.lease_ms = int(settings.lease_seconds * 1000)

    # -- life cycle ------------------------------------------------------------

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    def start(self) -> None:
        """Run the claim → run loop in a background thread until ``stop()``."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="genejobs-runner", daemon=True)
        self._thread.start()
        log.info("runner %s started", self.runner_id)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the loop; a job in progress goes back to LAUNCHING for the next runner."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._owns_client and self._client is not None:
            close_client(self._client)
            self._client = None
        self._engine.dispose()
        log.info("runner %s stopped", self.runner_id)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job_id = self.run_once()
            except Exception:  # the loop must survive a database hiccup
                log.exception("runner %s: claiming a job failed; retrying", self.runner_id)
                job_id = None
            if job_id is None:
                self._stopping.wait(self.settings.poll_seconds)

    def run_once(self) -> str | None:
        """Claim one job and run it to its end (synchronously); ``None`` when none waits."""
        client = self.client  # started before the claim, so the lease is not spent on it
        job_id = claim_next(self._sessions, runner_id=self.runner_id, lease_ms=self.lease_ms)
        if job_id is None:
            return None
        self._run_claimed(job_id, client)
        return job_id

    # -- one job -----------------------------------------------------------------

    def _run_claimed(self, job_id: str, client: Client) -> None:
        started = time.monotonic()
        topic = progress_topic(job_id)
        with self._progress_lock:
            self._progress = {}
        self._written = []
        client.subscribe_topic(topic, self._on_progress)
        try:
            outcome = self._run_job(job_id, client)
        except Exception:
            log.exception("job %s: internal error", job_id)
            outcome = internal_error(job_id)
        finally:
            try:
                client.unsubscribe_topic(topic)
            except Exception:  # the cluster may be gone; nothing left to unsubscribe from
                log.debug("job %s: unsubscribe failed", job_id, exc_info=True)
        self._write_outcome(job_id, outcome)
        log.info("job %s: runner done after %.1f s", job_id, time.monotonic() - started)

    def _on_progress(self, event: Any) -> None:
        """Called in the client's event loop for each worker progress message."""
        _, message = event
        if isinstance(message, dict) and "sample" in message:
            with self._progress_lock:
                self._progress[str(message["sample"])] = message

    def _run_job(self, job_id: str, client: Client) -> Outcome:
        """Samples, then statistics; every ending is a returned ``Outcome``."""
        loaded = self._load(job_id)
        if isinstance(loaded, OUTCOMES):
            return loaded
        spec = loaded
        # A new token tells tasks of any earlier attempt of this job to stop.
        attempt = Variable(attempt_variable_name(job_id), client=client)
        attempt.set(f"{self.runner_id}:{uuid.uuid4().hex}")
        if spec.counts:
            # A job from a counts table: reading the table replaces the per-sample work.
            self._table_samples_done(job_id)
            outcome = self._statistics(job_id, client, spec, [], [])
            if not isinstance(outcome, Finished):
                self._stop_tasks(job_id, client, outcome, [])
            return outcome
        futures = self._submit_samples(job_id, client, spec)
        done = self._wait_samples(job_id, client, futures)
        if isinstance(done, OUTCOMES):
            self._stop_tasks(job_id, client, done, list(futures))
            return done
        results = [done[s.name] for s in spec.samples]
        # Sample results stay on the workers: the statistics task gets the futures.
        outcome = self._statistics(job_id, client, spec, results, list(futures))
        if not isinstance(outcome, Finished):
            self._stop_tasks(job_id, client, outcome, [])
        return outcome

    def _submit_samples(
        self, job_id: str, client: Client, spec: RnaDiffExprSpec
    ) -> dict[Future[Any], SampleSpec]:
        params = sample_params(spec)
        # QC wants each sample's BAM and RSeQC run next to it; only then is it passed.
        qc = QcRequest(spec.bed, spec.artifacts_uri) if spec.is_export_qc and spec.bed else None
        resources = sample_resources(client)
        futures: dict[Future[Any], SampleSpec] = {}
        for sample in spec.samples:
            future = client.submit(
                self.sample_fn,
                job_id,
                sample,
                params,
                spec.ref,
                spec.gtf,
                self.settings,
                qc,
                key=f"genejobs-sample-{job_id}-{sample.name}-{uuid.uuid4().hex[:8]}",
                pure=False,
                resources=resources,
            )
            futures[future] = sample
        log.info("job %s: %d sample task(s) submitted", job_id, len(futures))
        return futures

    def _sample_failure(
        self, job_id: str, client: Client, sample: SampleSpec, future: Future[Any]
    ) -> Outcome:
        """Why a sample's task did not finish, as the job's outcome."""
        error = future.exception() if future.status == "error" else None
        if error is None or isinstance(error, CancelledError):
            # Our tasks were told to stop, but not by us: the store may say why
            # (cancelled through the API, another owner); else the cluster went away.
            seen = self._check(job_id)
            if seen is not None:
                return seen
            log.error("job %s: tasks stopped unexpectedly: %s", job_id, error)
            if client.status != "running":
                where = self.settings.dask_scheduler or "the local cluster"
                return Failed(
                    f"the Dask cluster became unreachable (scheduler {where}) while the "
                    "job ran; resubmit it once the cluster is back (aligned samples are cached)"
                )
            why = error or "the task was cancelled"
            return Failed(f"the job's tasks were stopped unexpectedly ({why}); resubmit it")
        failed = sample_failed(job_id, sample.name, error)
        if isinstance(error, GeneJobsError):
            log.info("job %s: failed: %s", job_id, failed.message)
        else:
            log.error("job %s: sample %s failed", job_id, sample.name, exc_info=error)
        return failed

    def _stop_tasks(
        self, job_id: str, client: Client, outcome: Outcome, futures: list[Future[Any]]
    ) -> None:
        """Tell the job's running tasks to stop, as the outcome requires, and drop them."""
        if isinstance(outcome, Cancelled) or (isinstance(outcome, Failed) and outcome.sample):
            # Final: the job never runs again, so the Event is never cleared.
            Event(cancel_event_name(job_id), client=client).set()
        elif isinstance(outcome, Requeued):
            # Before the lease is released; a new owner sets its own token instead.
            Variable(attempt_variable_name(job_id), client=client).set(
                f"stopped:{uuid.uuid4().hex}"
            )
        if futures:
            client.cancel(futures)

    def _statistics(
        self,
        job_id: str,
        client: Client,
        spec: RnaDiffExprSpec,
        results: list[SampleResult],
        sample_futures: list[Future[Any]],
    ) -> Outcome:
        choice = (
            LibraryChoice(LibraryType.UNSTRANDED)  # counted elsewhere: no strand rule to pick
            if spec.counts
            else choose_library_type(
                spec.library_type,
                results,
                unit="pairs" if all(s.paired for s in spec.samples) else "reads",
            )
        )
        if choice.error:
            log.info("job %s: failed: %s", job_id, choice.error)
            return Failed(choice.error)
        self._add_warnings(job_id, choice.warnings)
        run_info: dict[str, Any] = {
            "counts_table": spec.counts or "",
            "ref": spec.ref,
            "gtf": spec.gtf,
            "library_type": choice.library_type.value,
            "library_type_declared": spec.library_type.value if spec.library_type else "auto",
            "adapter": spec.adapter or "",
            "quantifier": spec.quantifier,
            "warnings": choice.warnings,
            "runner_id": self.runner_id,
        }
        future = client.submit(
            self.statistics_fn,
            job_id,
            spec,
            sample_futures,
            run_info,
            self.settings,
            key=f"genejobs-statistics-{job_id}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )
        outcome = self._wait_statistics(job_id, future)
        if not isinstance(outcome, Finished):
            client.cancel([future])
        return outcome

    # -- waiting -----------------------------------------------------------------

    def _wait_samples(
        self, job_id: str, client: Client, futures: dict[Future[Any], SampleSpec]
    ) -> dict[str, SampleResult] | Outcome:
        """Collect the sample tasks while recording progress; an ending is returned."""
        pending = dict(futures)
        results: dict[str, SampleResult] = {}
        beat = _Beat(self.settings.heartbeat_seconds)
        while pending:
            finished: list[tuple[SampleSpec, SampleResult]] = []
            failure: Outcome | None = None
            for future in [f for f in pending if f.done()]:
                sample = pending.pop(future)
                if future.status == "finished":
                    finished.append((sample, future.result()))
                elif failure is None:
                    failure = self._sample_failure(job_id, client, sample, future)
            self._record(job_id, finished)
            for _, result in finished:  # the QC files it published belong to the job
                self._written.extend(result.qc.files if result.qc is not None else ())
            results.update((sample.name, result) for sample, result in finished)
            if failure is not None:
                return failure
            watched = self._watch(job_id, beat)
            if watched is not None:
                return watched
            if pending:
                time.sleep(_TICK_S)
        return results

    def _wait_statistics(self, job_id: str, future: Future[Any]) -> Outcome:
        """Wait for the statistics task while watching the job; its result is the ending."""
        beat = _Beat(self.settings.heartbeat_seconds)
        while not future.done():
            watched = self._watch(job_id, beat)
            if watched is not None:
                return watched
            time.sleep(_TICK_S)
        if future.status != "finished":
            error = future.exception() if future.status == "error" else None
            if error is None or isinstance(error, CancelledError):
                seen = self._check(job_id)
                if seen is not None:
                    return seen
            failed = statistics_failed(job_id, error)
            if isinstance(error, GeneJobsError):
                log.info("job %s: failed: %s", job_id, failed.message)
            else:
                log.error("job %s: statistics failed", job_id, exc_info=error)
            return failed
        out = future.result()
        return Finished(
            outputs=dict(out.get("outputs", {})),
            warnings=[str(w) for w in out.get("warnings", [])],
            written=[(str(u), int(n)) for u, n in out.get("written", [])],
        )

    def _watch(self, job_id: str, beat: _Beat) -> Outcome | None:
        """Each tick: was the job cancelled, is this runner stopping, is the lease kept?"""
        seen = self._check(job_id)
        if seen is not None:
            return seen
        if self._stopping.is_set():
            return Requeued()
        if beat.due() and not heartbeat(
            self._sessions, job_id, runner_id=self.runner_id, lease_ms=self.lease_ms
        ):
            return LeaseLost()
        return None

    # -- the store ---------------------------------------------------------------

    def _check(self, job_id: str) -> Cancelled | LeaseLost | None:
        """The job as the store has it: cancelled by the API, owned by another runner?"""
        with self._sessions() as session:
            row = session.execute(
                select(JobRow.status, JobRow.lease_owner).where(JobRow.job_id == job_id)
            ).first()
        if row is None or row.lease_owner != self.runner_id:
            return LeaseLost()
        if row.status == JobStatus.CANCELING.value:
            return Cancelled()
        return None

    def _load(self, job_id: str) -> RnaDiffExprSpec | Outcome:
        """Parse the stored request and reset the sample rows for this attempt."""
        with self._sessions() as session, session.begin():
            job = session.get(JobRow, job_id)
            if job is None or job.lease_owner != self.runner_id:
                return LeaseLost()
            if job.status == JobStatus.CANCELING.value:
                return Cancelled()
            try:
                spec = spec_from_request(json.loads(job.request_json), job_id=job_id)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                log.exception("job %s: stored request cannot be read", job_id)
                return Failed(
                    f"the stored request of job {job_id} cannot be read ({exc}); resubmit it"
                )
            if job.table_claim is None:  # queued before ownership: checked as submit would
                refused = self._claim_output(session, job, spec)
                if refused is not None:
                    return refused
            job.steps_total = len(spec.samples) + 1
            job.steps_done = 0
            for row in job.samples:
                row.state, row.step, row.fraction_done, row.pairs_done = "PENDING", "", 0.0, 0
                row.started_ms = row.ended_ms = None
                row.from_cache = False
        return spec

    def _claim_output(self, session: Session, job: JobRow, spec: RnaDiffExprSpec) -> Outcome | None:
        """A job submitted before a job owned only what it wrote gets the same check now:
        its table must be new, or it fails before writing anything."""
        storage = Storage.from_settings(self.settings)
        try:
            table = storage.location(spec.table_uri, field="output")
            folder = storage.location(spec.artifacts_uri, field="output")
            job.table_claim = check_new_output(storage, session, table=table, folder=folder)
        except GeneJobsError as exc:
            return Failed(f"{exc.message}; resubmit the job with a new output")
        return None

    def _owned(self, session: Session, job_id: str) -> JobRow | None:
        job = session.get(JobRow, job_id)
        return job if job is not None and job.lease_owner == self.runner_id else None

    def _record(self, job_id: str, finished: list[tuple[SampleSpec, SampleResult]]) -> None:
        """Write the workers' progress and the finished samples (if this runner owns the job)."""
        with self._progress_lock:
            progress, self._progress = self._progress, {}
        if not progress and not finished:
            return
        with self._sessions() as session, session.begin():
            job = self._owned(session, job_id)
            if job is None:
                return
            rows = {row.sample_name: row for row in job.samples}
            now = now_ms()
            for name, message in progress.items():
                row = rows.get(name)
                if row is None or row.state == "DONE":
                    continue
                row.state = "RUNNING"
                row.step = str(message.get("step", ""))
                row.fraction_done = float(message.get("fraction", 0.0))
                row.pairs_done = int(message.get("pairs", 0))
                row.started_ms = row.started_ms or now
            for sample, result in finished:
                row = rows.get(sample.name)
                if row is None:
                    continue
                row.state, row.step, row.fraction_done = "DONE", "done", 1.0
                row.pairs_done = result.read_stats.pairs_in
                row.started_ms = row.started_ms or now
                row.ended_ms = now
                row.from_cache = bool(result.from_cache)
                row.stats_json = json.dumps(_sample_stats(result))
            job.steps_done = sum(1 for row in rows.values() if row.state == "DONE")

    def _table_samples_done(self, job_id: str) -> None:
        """A counts-table job's samples are done once their columns are read (at submit)."""
        with self._sessions() as session, session.begin():
            job = self._owned(session, job_id)
            if job is None:
                return
            now = now_ms()
            for row in job.samples:
                row.state, row.step, row.fraction_done = "DONE", "counts table", 1.0
                row.started_ms = row.ended_ms = now
            job.steps_done = len(job.samples)

    def _add_warnings(self, job_id: str, warnings: list[str]) -> None:
        if not warnings:
            return
        with self._sessions() as session, session.begin():
            job = self._owned(session, job_id)
            if job is not None:
                _merge_warnings(job, warnings)

    def _write_outcome(self, job_id: str, outcome: Outcome) -> None:
        """The one place a run's ending reaches the store."""
        if isinstance(outcome, LeaseLost):
            log.warning("job %s: lease lost; leaving the job to its new owner", job_id)
            return
        written = self._written + (outcome.written if isinstance(outcome, Finished) else [])
        if isinstance(outcome, Requeued):
            log.info("job %s: interrupted; the job goes back to the queue", job_id)
            self._record_written(job_id, written)
            release(self._sessions, job_id, runner_id=self.runner_id, requeue=True)
            return
        status = {Finished: JobStatus.FINISHED, Failed: JobStatus.FAILED}.get(
            type(outcome), JobStatus.CANCELLED
        )
        with self._sessions() as session, session.begin():
            job = self._owned(session, job_id)
            if job is None:
                log.warning("job %s: lease lost before it could become %s", job_id, status.value)
                return
            failed_sample = outcome.sample if isinstance(outcome, Failed) else None
            if job.status == JobStatus.CANCELING.value:
                outcome, status = Cancelled(), JobStatus.CANCELLED  # cancel wins
            current = JobStatus(job.status)
            if current is JobStatus.RUNNING and status is JobStatus.CANCELLED:
                # Stopped from inside (a task saw the cancel Event) rather than by the
                # API: take the same road the API would, through CANCELING.
                check_move(current, JobStatus.CANCELING)
                current = JobStatus.CANCELING
            check_move(current, status)
            job.status = status.value
            job.end_time_ms = now_ms()
            job.message = outcome.message if isinstance(outcome, Failed) else ""
            job.lease_owner = job.lease_expires_ms = None
            add_written(job, written)
            if isinstance(outcome, Finished):
                job.outputs_json = json.dumps(outcome.outputs)
                job.steps_done = job.steps_total
                _merge_warnings(job, outcome.warnings)
            for row in job.samples:
                if row.sample_name == failed_sample:
                    row.state, row.ended_ms = "FAILED", job.end_time_ms
                elif row.state in ("PENDING", "RUNNING"):
                    row.state = "CANCELLED"
        log.info("job %s: %s%s", job_id, status.value, f": {job.message}" if job.message else "")

    def _record_written(self, job_id: str, written: list[tuple[str, int]]) -> None:
        """Keep what an interrupted attempt wrote: the job owns it whatever comes next."""
        if not written:
            return
        with self._sessions() as session, session.begin():
            job = self._owned(session, job_id)
            if job is not None:
                add_written(job, written)


class _Beat:
    """When the lease is due for its next heartbeat."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.next = time.monotonic() + every_s

    def due(self) -> bool:
        if time.monotonic() < self.next:
            return False
        self.next = time.monotonic() + self.every_s
        return True


def _merge_warnings(job: JobRow, warnings: list[str]) -> None:
    known = json.loads(job.warnings_json or "[]")
    job.warnings_json = json.dumps(known + [w for w in warnings if w not in known])


def _sample_stats(result: SampleResult) -> dict[str, Any]:
    """The per-sample numbers the API's job detail shows (JSON-ready)."""
    from dataclasses import asdict

    return {
        "reads": asdict(result.read_stats),
        "counts": asdict(result.count_stats),
        "timings_ms": dict(result.timings_ms),
        "notes": result.all_notes,
    }
