"""The runner: claims jobs with a lease, runs them on Dask, records progress and outcome.

One runner thread handles one job at a time; the parallelism is inside the job
(one Dask task per sample, then one statistics task). The store is only ever
written here, never by a worker: workers report progress as Dask events and
learn about cancellation through a Dask ``Event``.

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
from typing import Any

from distributed import Client, Event, Future, Variable
from sqlalchemy.orm import Session

from genejobs.config import Settings
from genejobs.errors import CancelledError, GeneJobsError
from genejobs.jobs.db import make_engine, make_sessionmaker, now_ms
from genejobs.jobs.executor import close_client, make_client, sample_resources
from genejobs.jobs.leases import claim_next, heartbeat, release
from genejobs.jobs.models import JobRow
from genejobs.jobs.spec import RnaDiffExprSpec, spec_from_request
from genejobs.jobs.states import JobStatus, check_move
from genejobs.jobs.tasks import (
    LibraryChoice,
    QcRequest,
    attempt_variable_name,
    cancel_event_name,
    choose_library_type,
    progress_topic,
    run_sample_task,
    run_statistics_task,
)
from genejobs.pipeline.records import LibraryType, SampleParams, SampleResult, SampleSpec

log = logging.getLogger(__name__)

SampleFn = Callable[..., SampleResult]
StatisticsFn = Callable[..., dict[str, Any]]

_TICK_S = 0.2  # how often the wait loop looks at futures, progress and the job's status


class _LeaseLost(Exception):
    """Another runner owns the job now: stop without writing anything."""


class _Cancelled(Exception):
    """The job was moved to CANCELING by the API."""


class _Stopping(Exception):
    """This runner is being stopped; the job goes back to the queue."""


class _SampleFailed(Exception):
    def __init__(self, sample: SampleSpec, error: BaseException) -> None:
        super().__init__(str(error))
        self.sample = sample
        self.error = error


def _sample_message(sample: SampleSpec, error: BaseException) -> str:
    """The user's failure message: the pipeline's own words, naming the sample once."""
    text = error.message if isinstance(error, GeneJobsError) else ""
    if not text:
        return ""
    return text if f"'{sample.name}'" in text else f"sample '{sample.name}': {text}"


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
        client.subscribe_topic(topic, self._on_progress)
        try:
            self._execute(job_id, client)
        except _LeaseLost:
            log.warning("job %s: lease lost; leaving the job to its new owner", job_id)
        except _Stopping:
            log.info("job %s: interrupted; the job goes back to the queue", job_id)
            release(self._sessions, job_id, runner_id=self.runner_id, requeue=True)
        except _Cancelled:
            self._end(job_id, JobStatus.CANCELLED, sample_state="CANCELLED")
            log.info("job %s: cancelled", job_id)
        except Exception:
            log.exception("job %s: internal error", job_id)
            self._end(
                job_id,
                JobStatus.FAILED,
                message=(
                    f"internal error while running job {job_id}; the administrator can find "
                    "the details in the runner log under this job id"
                ),
                sample_state="CANCELLED",
            )
        finally:
            try:
                client.unsubscribe_topic(topic)
            except Exception:  # the cluster may be gone; nothing left to unsubscribe from
                log.debug("job %s: unsubscribe failed", job_id, exc_info=True)
            log.info("job %s: runner done after %.1f s", job_id, time.monotonic() - started)

    def _on_progress(self, event: Any) -> None:
        """Called in the client's event loop for each worker progress message."""
        _, message = event
        if isinstance(message, dict) and "sample" in message:
            with self._progress_lock:
                self._progress[str(message["sample"])] = message

    def _execute(self, job_id: str, client: Client) -> None:
        spec, status = self._load(job_id)
        if status is JobStatus.CANCELING:
            raise _Cancelled
        if spec is None:
            return  # _load already failed the job
        cancel = Event(cancel_event_name(job_id), client=client)
        # A new token tells tasks of any earlier attempt of this job to stop.
        attempt = Variable(attempt_variable_name(job_id), client=client)
        attempt.set(f"{self.runner_id}:{uuid.uuid4().hex}")
        if spec.counts:
            # A job from a counts table: reading the table replaces the per-sample work.
            self._table_samples_done(job_id)
            self._statistics(job_id, client, spec, [], [])
            return
        params = SampleParams(
            adapter=spec.adapter, library_type=spec.library_type or LibraryType.UNSTRANDED
        )
        resources = sample_resources(client)
        # QC wants each sample's BAM and RSeQC run next to it; only then is it passed.
        qc = (QcRequest(spec.bed, spec.artifacts_uri),) if spec.is_export_qc and spec.bed else ()
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
                *qc,
                key=f"genejobs-sample-{job_id}-{sample.name}-{uuid.uuid4().hex[:8]}",
                pure=False,
                resources=resources,
            )
            futures[future] = sample
        log.info("job %s: %d sample task(s) submitted", job_id, len(futures))
        results: dict[str, SampleResult] = {}
        try:
            self._wait(job_id, futures, results)
        except _SampleFailed as failed:
            client.cancel(list(futures))
            if isinstance(failed.error, CancelledError):
                # Our tasks were told to stop, but not by us: the store says why
                # (CANCELING -> _Cancelled, another owner -> _LeaseLost).
                self._record(job_id, [])
                log.error("job %s: tasks stopped unexpectedly: %s", job_id, failed.error)
                if client.status != "running":
                    where = self.settings.dask_scheduler or "the local cluster"
                    message = (
                        f"the Dask cluster became unreachable (scheduler {where}) while the "
                        "job ran; resubmit it once the cluster is back (aligned samples are cached)"
                    )
                else:
                    message = (
                        f"the job's tasks were stopped unexpectedly ({failed.error}); resubmit it"
                    )
                self._end(job_id, JobStatus.FAILED, message=message)
                return
            cancel.set()  # the job fails: its other samples need not finish
            message = _sample_message(failed.sample, failed.error)
            if not message:
                log.error(
                    "job %s: sample %s failed",
                    job_id,
                    failed.sample.name,
                    exc_info=failed.error,
                )
                message = (
                    f"sample '{failed.sample.name}': internal error while processing it "
                    f"(job {job_id}); the administrator can find the details in the runner log"
                )
            else:
                log.info("job %s: failed: %s", job_id, message)
            self._end(job_id, JobStatus.FAILED, message=message, failed_sample=failed.sample.name)
            return
        except _Cancelled:
            cancel.set()  # final: the job never runs again, so the Event is never cleared
            client.cancel(list(futures))
            raise
        except _Stopping:
            attempt.set(f"stopped:{uuid.uuid4().hex}")  # before the lease is released
            client.cancel(list(futures))
            raise
        except _LeaseLost:
            # The new owner has already set its own attempt token; ours stop by themselves.
            client.cancel(list(futures))
            raise
        ordered = [results[s.name] for s in spec.samples]
        self._statistics(job_id, client, spec, ordered, list(futures))

    def _statistics(
        self,
        job_id: str,
        client: Client,
        spec: RnaDiffExprSpec,
        results: list[SampleResult],
        sample_futures: list[Future[Any]],
    ) -> None:
        choice = (
            LibraryChoice(LibraryType.UNSTRANDED)  # counted elsewhere: no strand rule to pick
            if spec.counts
            else choose_library_type(spec.library_type, results)
        )
        if choice.error:
            log.info("job %s: failed: %s", job_id, choice.error)
            self._end(job_id, JobStatus.FAILED, message=choice.error)
            return
        self._add_warnings(job_id, choice.warnings)
        run_info: dict[str, Any] = {
            "counts_table": spec.counts or "",
            "ref": spec.ref,
            "gtf": spec.gtf,
            "library_type": choice.library_type.value,
            "library_type_declared": spec.library_type.value if spec.library_type else "auto",
            "adapter": spec.adapter or "",
            "warnings": choice.warnings,
            "runner_id": self.runner_id,
        }
        # Sample results stay on the workers: the statistics task gets the futures.
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
        stats_sample = SampleSpec(name="statistics", group="", r1="", r2="")
        out: dict[str, Any] = {}
        try:
            self._wait(job_id, {future: stats_sample}, {}, on_result=out.update)
        except _SampleFailed as failed:
            error = failed.error
            if isinstance(error, GeneJobsError):
                message = f"statistics: {error.message}"
                log.info("job %s: failed: %s", job_id, message)
            else:
                log.error("job %s: statistics failed", job_id, exc_info=error)
                message = (
                    f"statistics: internal error (job {job_id}); the administrator can find "
                    "the details in the runner log"
                )
            self._end(job_id, JobStatus.FAILED, message=message)
            return
        except (_Cancelled, _Stopping, _LeaseLost):
            client.cancel([future])
            raise
        self._add_warnings(job_id, [str(w) for w in out.get("warnings", [])])
        self._end(job_id, JobStatus.FINISHED, outputs=dict(out.get("outputs", {})))
        log.info("job %s: finished", job_id)

    # -- waiting -----------------------------------------------------------------

    def _wait(
        self,
        job_id: str,
        futures: dict[Future[Any], SampleSpec],
        results: dict[str, SampleResult],
        on_result: Callable[[Any], None] | None = None,
    ) -> None:
        """Collect futures while heart-beating, recording progress and watching for cancel."""
        pending = dict(futures)
        next_beat = time.monotonic() + self.settings.heartbeat_seconds
        while pending:
            finished: list[tuple[SampleSpec, Any]] = []
            for future in [f for f in pending if f.done()]:
                sample = pending.pop(future)
                if future.status == "finished":
                    finished.append((sample, future.result()))
                else:
                    error = future.exception() if future.status == "error" else None
                    raise _SampleFailed(sample, error or CancelledError("the task was cancelled"))
            for sample, value in finished:
                if on_result is not None:
                    on_result(value)
                else:
                    results[sample.name] = value
            self._record(job_id, finished if on_result is None else [])
            if self._stopping.is_set():
                raise _Stopping
            if time.monotonic() >= next_beat:
                if not heartbeat(
                    self._sessions, job_id, runner_id=self.runner_id, lease_ms=self.lease_ms
                ):
                    raise _LeaseLost
                next_beat = time.monotonic() + self.settings.heartbeat_seconds
            if pending:
                time.sleep(_TICK_S)

    # -- the store ---------------------------------------------------------------

    def _load(self, job_id: str) -> tuple[RnaDiffExprSpec | None, JobStatus]:
        """Parse the stored request and reset the sample rows for this attempt."""
        with self._sessions() as session, session.begin():
            job = self._owned(session, job_id)
            status = JobStatus(job.status)
            try:
                spec = spec_from_request(json.loads(job.request_json), job_id=job_id)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                log.exception("job %s: stored request cannot be read", job_id)
                message = f"the stored request of job {job_id} cannot be read ({exc}); resubmit it"
                self._apply_end(job, JobStatus.FAILED, message=message)
                return None, status
            job.steps_total = len(spec.samples) + 1
            job.steps_done = 0
            for row in job.samples:
                row.state, row.step, row.fraction_done, row.pairs_done = "PENDING", "", 0.0, 0
                row.started_ms = row.ended_ms = None
                row.from_cache = False
        return spec, status

    def _owned(self, session: Session, job_id: str) -> JobRow:
        job = session.get(JobRow, job_id)
        if job is None or job.lease_owner != self.runner_id:
            raise _LeaseLost
        if job.status == JobStatus.CANCELING.value:
            raise _Cancelled
        return job

    def _record(self, job_id: str, finished: list[tuple[SampleSpec, SampleResult]]) -> None:
        """Write progress and finished samples; raise ``_Cancelled`` when the API cancelled."""
        with self._progress_lock:
            progress, self._progress = self._progress, {}
        with self._sessions() as session, session.begin():
            job = self._owned(session, job_id)
            if not progress and not finished:
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
            known = json.loads(job.warnings_json or "[]")
            job.warnings_json = json.dumps(known + [w for w in warnings if w not in known])

    def _end(
        self,
        job_id: str,
        status: JobStatus,
        *,
        message: str = "",
        outputs: dict[str, str] | None = None,
        failed_sample: str | None = None,
        sample_state: str = "CANCELLED",
    ) -> None:
        """Move the job to its final status, if this runner still owns it."""
        with self._sessions() as session, session.begin():
            job = session.get(JobRow, job_id)
            if job is None or job.lease_owner != self.runner_id:
                log.warning("job %s: lease lost before it could become %s", job_id, status.value)
                return
            if job.status == JobStatus.CANCELING.value and status is not JobStatus.CANCELLED:
                status, message, outputs = JobStatus.CANCELLED, "", None  # cancel wins
            self._apply_end(job, status, message=message, outputs=outputs)
            for row in job.samples:
                if row.sample_name == failed_sample:
                    row.state = "FAILED"
                    row.ended_ms = job.end_time_ms
                elif row.state in ("PENDING", "RUNNING"):
                    row.state = sample_state
        log.info("job %s: %s", job_id, status.value)

    @staticmethod
    def _apply_end(
        job: JobRow,
        status: JobStatus,
        *,
        message: str = "",
        outputs: dict[str, str] | None = None,
    ) -> None:
        current = JobStatus(job.status)
        if current is JobStatus.RUNNING and status is JobStatus.CANCELLED:
            # Stopped from inside (a task saw the cancel Event) rather than by the
            # API: take the same road the API would, through CANCELING.
            check_move(current, JobStatus.CANCELING)
            current = JobStatus.CANCELING
        check_move(current, status)
        job.status = status.value
        job.end_time_ms = now_ms()
        job.message = message
        if outputs is not None:
            job.outputs_json = json.dumps(outputs)
        if status is JobStatus.FINISHED:
            job.steps_done = job.steps_total
        job.lease_owner = None
        job.lease_expires_ms = None


def _sample_stats(result: SampleResult) -> dict[str, Any]:
    """The per-sample numbers the API's job detail shows (JSON-ready)."""
    from dataclasses import asdict

    return {
        "reads": asdict(result.read_stats),
        "counts": asdict(result.count_stats),
        "timings_ms": dict(result.timings_ms),
        "notes": list(result.notes),
    }
