"""What the API does, without HTTP: submit, list, show, cancel, statistics.

The dry run (``jobs/dryrun.py``) and purge (``jobs/purge.py``) are their own modules.

Every query is filtered by project; sub-users see and cancel only their own
jobs (tenant administrators see the whole project) — our decision where the
contract is silent, matching its statistics rule.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from genejobs.config import Settings
from genejobs.errors import (
    JobNotFound,
    LimitReached,
    OutputExists,
    PermissionDenied,
    Unavailable,
    ValidationError,
)
from genejobs.jobs.notify.delivery import attempt_log, notification_rows
from genejobs.jobs.request.notify_rules import NotifyPolicy
from genejobs.jobs.request.samplesheet import decode_sheet, expand_samplesheet
from genejobs.jobs.request.schema import MAX_SHEET_BYTES
from genejobs.jobs.request.spec import (
    JOB_TYPE_RNA_DIFF_EXPR,
    RnaDiffExprSpec,
    stored_sample_files,
)
from genejobs.jobs.request.validation import validate_request
from genejobs.jobs.states import ENDED, JobStatus, check_move
from genejobs.jobs.store.auth import Principal, authenticate, create_token, token_principal
from genejobs.jobs.store.db import make_engine, make_sessionmaker, now_ms
from genejobs.jobs.store.models import (
    JobRow,
    ProjectLockRow,
    SampleStateRow,
    WesRunRow,
)
from genejobs.jobs.store.ownership import check_new_output, claim_key, new_manifest
from genejobs.report.methods import explain, note_level
from genejobs.storage import FileInfo, Location, Storage

log = logging.getLogger(__name__)
# A counts table's stored size (compressed or not); genes x samples of any real study are far
# smaller. Its decompressed size and shape are bounded while it is read (counts_table.py).
MAX_COUNTS_TABLE_BYTES = 1 << 30
HEALTH_PROBE_PROJECT = ""  # no project has an empty id (a path segment): the probe matches no row
ACTIVE = (JobStatus.LAUNCHING.value, JobStatus.RUNNING.value, JobStatus.CANCELING.value)


def duration_ms(row: JobRow, now: int) -> int:
    """Run time: from the first run start to the end (or now); 0 before it starts."""
    if row.run_started_ms is None:
        return 0
    end = row.end_time_ms if row.end_time_ms is not None else now
    return max(0, end - row.run_started_ms)


def contract_row(row: JobRow, now: int | None = None) -> dict[str, Any]:
    """A job as the contract's list call shows it."""
    now = now_ms() if now is None else now
    done = row.steps_total if row.status == JobStatus.FINISHED.value else row.steps_done
    return {
        "job_id": row.job_id,
        "owner": row.owner,
        "status": row.status,
        "progress": f"{done}/{row.steps_total}",
        "start_time": row.start_time_ms,
        "duration": duration_ms(row, now),
        "message": row.message or "",
        "request": row.request_json,
        "name": request_name(row.request_json),
    }


def _list_filters(statuses: Sequence[str], text: str | None) -> list[Any]:
    """The list call's additions: status in a set; text in the job id, owner or request
    (its name, groups, samples and paths), case-insensitively."""
    conds: list[Any] = []
    known = {st.value for st in JobStatus}
    wanted = [st.strip().upper() for item in statuses for st in item.split(",") if st.strip()]
    for st in wanted:
        if st not in known:
            raise ValidationError(f"status: '{st[:40]}' is not one of {', '.join(sorted(known))}")
    if wanted:
        conds.append(JobRow.status.in_(wanted))
    if text:
        needle = text.lower()
        conds.append(
            or_(
                *(
                    func.lower(col).contains(needle, autoescape=True)
                    for col in (JobRow.job_id, JobRow.owner, JobRow.request_json)
                )
            )
        )
    return conds


# A short id is a prefix of the job id: long enough that a typo rarely hits another job.
MIN_ID_PREFIX = 6
_ID_PREFIX = re.compile(rf"[0-9a-f-]{{{MIN_ID_PREFIX},36}}")


def _id_prefix(value: str) -> str:
    """A job-id prefix as the list call accepts it: 6-36 characters of a UUID."""
    prefix = value.strip().lower()
    if not _ID_PREFIX.fullmatch(prefix):
        raise ValidationError(
            f"id_prefix: must be {MIN_ID_PREFIX} to 36 characters of a job id "
            "(hex digits and dashes)"
        )
    return prefix


def request_name(request_json: str) -> str | None:
    """The job's optional ``name`` (an addition), read from the stored request."""
    try:
        name = json.loads(request_json).get("name")
    except (ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and name else None


def remaining_ms(row: JobRow, now: int) -> int | None:
    """Time left, extrapolated from the share of input consumed so far; None before 2%."""
    if row.status != JobStatus.RUNNING.value or row.run_started_ms is None or not row.samples:
        return None
    elapsed = now - row.run_started_ms
    # samples are one step each and the statistics step one more
    done = sum(s.fraction_done for s in row.samples) / (len(row.samples) + 1)
    if elapsed <= 0 or done < 0.02:
        return None
    return int(elapsed * (1 - done) / done)


def _sample_duration(
    started: int | None, ended: int | None, job_ended: int | None, now: int
) -> int:
    """A sample's run time; one the job left unfinished (cancelled, failed) stops at the
    job's end instead of growing with the clock."""
    if not started:
        return 0
    end = ended or job_ended or now
    return max(0, end - started)


def _check_window(start: int | None, end: int | None) -> None:
    """An empty time window is a mistake in the call, not a query with no answer."""
    if start is not None and end is not None and start > end:
        raise ValidationError(f"start, end: start ({start}) is after end ({end})")


class JobService:
    def __init__(
        self,
        settings: Settings,
        *,
        storage: Storage,
        references: Callable[[], Mapping[str, Sequence[str]]],
        sessions: sessionmaker[Session] | None = None,
    ) -> None:
        self.settings = settings
        self._engine = None
        if sessions is None:
            self._engine = make_engine(settings.database_url)
            sessions = make_sessionmaker(self._engine)
        self.sessions = sessions
        # the API's calls answer people: short timeouts, one try (jobs keep the long ones)
        self.storage = storage.interactive()
        self.references = references

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def healthy(self) -> None:
        """The store answers and can write (a write that changes nothing, rolled back)."""
        with self.sessions() as s:
            s.execute(select(1))
            s.execute(
                update(ProjectLockRow)
                .where(ProjectLockRow.project_id == HEALTH_PROBE_PROJECT)
                .values(submits=ProjectLockRow.submits)
            )
            s.rollback()

    def authenticate(self, token: str | None, project_id: str) -> Principal:
        return authenticate(self.sessions, token, project_id)

    def principal_for(self, token: str | None) -> Principal:
        """The token's holder whatever the project (the WES door has no project in its paths)."""
        return token_principal(self.sessions, token)

    def save_wes_run(self, *, job_id: str, version: str, url: str, tags: dict[str, str]) -> None:
        """Keep what a WES client sent beside the request, for its RunLog."""
        with self.sessions.begin() as s:
            s.add(
                WesRunRow(
                    job_id=job_id,
                    workflow_type_version=version,
                    workflow_url=url,
                    tags_json=json.dumps(tags),
                )
            )

    def wes_runs(self, job_ids: list[str]) -> dict[str, WesRunRow]:
        """The WES side of these jobs (jobs submitted through gene-jobs have none)."""
        with self.sessions() as s:
            rows = s.scalars(select(WesRunRow).where(WesRunRow.job_id.in_(job_ids))).all()
            return {r.job_id: r for r in rows}

    def create_token(self, *, user: str, projects: list[str], admin: bool) -> str:
        return create_token(self.sessions, user=user, projects=projects, admin=admin)

    # -- submit --------------------------------------------------------------

    def check_request(
        self, body: Any, *, job_id: str
    ) -> tuple[RnaDiffExprSpec, dict[str, Any], list[list[tuple[Location, FileInfo]]]]:
        """Every check a submit makes before storing: schema, files readable, output writable.

        Returns the spec, the request to store and each sample's two inputs with
        their size and identity (in the order of ``spec.samples``).
        """
        # a sample sheet becomes inputs first, so the file checks below can name its rows
        body, labels, _sheet = expand_samplesheet(body, self.read_sheet)
        spec, stored = validate_request(
            body,
            job_id=job_id,
            references=self.references(),
            notify_policy=NotifyPolicy.from_settings(self.settings),
            labels=labels,
        )
        inputs: list[list[tuple[Location, FileInfo]]] = []
        if spec.counts:
            self._check_counts_table(spec)
        for gi, group in enumerate(stored["inputs"]):
            for si, sample in enumerate(group["group_inputs"]):
                pair: list[tuple[Location, FileInfo]] = []
                if spec.counts:  # no reads: the table holds this sample's counts
                    inputs.append(pair)
                    continue
                for path, uri in stored_sample_files(sample, f"inputs[{gi}].group_inputs[{si}]"):
                    field = labels.get(path, path)
                    loc = self.storage.location(uri, field=field)
                    pair.append((loc, self.storage.info(loc, field=field)))
                inputs.append(pair)
        if spec.bed:
            self.storage.info(self.storage.location(spec.bed, field="bed"), field="bed")
        if spec.gene_sets:
            loc = self.storage.location(spec.gene_sets, field="gene_sets")
            self.storage.info(loc, field="gene_sets")
        out = self.storage.location(spec.output, field="output")
        self.storage.check_writable(
            out.parent if spec.output.lower().endswith(".csv") else out, field="output"
        )
        self.check_output_is_new(spec)
        return spec, stored, inputs

    def check_output_is_new(self, spec: RnaDiffExprSpec) -> str:
        """The job will own its table: a new path, claimed by no other job; the claim."""
        table = self.storage.location(spec.table_uri, field="output")
        folder = self.storage.location(spec.artifacts_uri, field="output")
        with self.sessions() as s:
            return check_new_output(self.storage, s, table=table, folder=folder)

    def read_sheet(self, uri: str) -> str:
        """A sample sheet named by URI, read with a byte cap (it is parsed in this process)."""
        field = "samplesheet.uri"
        loc = self.storage.location(uri, field=field)
        if not loc.is_s3 and self._service_own(Path(loc.key)):
            raise PermissionDenied(f"{field}: '{uri}' is inside the service's own folder")
        info = self.storage.info(loc, field=field)
        if info.size_bytes > MAX_SHEET_BYTES:
            raise ValidationError(
                f"{field}: '{uri}' is {info.size_bytes} bytes; a sheet may have at most "
                f"{MAX_SHEET_BYTES // 1024} KiB"
            )
        with self.storage.open_read(loc, field=field) as fh:
            data = fh.read(MAX_SHEET_BYTES + 1)
        return decode_sheet(data, uri)

    def _service_own(self, path: Path) -> bool:
        """Inside GENEJOBS_HOME (token, database, references) and not in a data root there."""
        home, path = self.settings.home.resolve(), path.resolve()
        if not path.is_relative_to(home):
            return False
        data_roots = [r for r in self.storage.allowed_roots if r != home and r.is_relative_to(home)]
        return not any(path.is_relative_to(r) for r in data_roots)

    def check_cap(self, s: Session, project_id: str) -> None:
        active = s.scalar(
            select(func.count())
            .select_from(JobRow)
            .where(JobRow.project_id == project_id, JobRow.status.in_(ACTIVE))
        )
        if (active or 0) >= self.settings.max_running_jobs_per_project:
            raise LimitReached(
                f"project '{project_id}' already has {active} jobs queued or running "
                f"(limit {self.settings.max_running_jobs_per_project}); wait for some to end"
            )

    def submit(self, *, principal: Principal, project_id: str, body: Any) -> str:
        job_id = str(uuid.uuid4())
        spec, stored, inputs = self.check_request(body, job_id=job_id)
        input_bytes = sum(info.size_bytes for pair in inputs for _, info in pair)
        input_bytes += self.counts_table_bytes(spec)
        now = now_ms()
        table = self.storage.location(spec.table_uri, field="output")
        claim = claim_key(self.storage, table)
        manifest = new_manifest(spec.table_uri, spec.artifacts_uri)
        self._ensure_project_lock(project_id)
        try:
            self._insert(
                principal,
                project_id,
                job_id,
                spec,
                stored,
                input_bytes,
                now,
                claim,
                manifest.to_json(),
            )
        except IntegrityError as exc:  # another submit claimed the same table meanwhile
            raise OutputExists(
                f"output: '{table.original}' is the table of another job; name a new table"
            ) from exc
        log.info("job %s: submitted by %s in project %s", job_id, principal.user, project_id)
        return job_id

    def _insert(
        self,
        principal: Principal,
        project_id: str,
        job_id: str,
        spec: RnaDiffExprSpec,
        stored: dict[str, Any],
        input_bytes: int,
        now: int,
        claim: str,
        manifest_json: str,
    ) -> None:
        with self.sessions.begin() as s:
            # First statement of the transaction: it waits for any other submit to this
            # project to commit, so the count below already includes that submit's job.
            s.execute(
                update(ProjectLockRow)
                .where(ProjectLockRow.project_id == project_id)
                .values(submits=ProjectLockRow.submits + 1)
            )
            self.check_cap(s, project_id)
            row = JobRow(
                job_id=job_id,
                project_id=project_id,
                owner=principal.user,
                job_type=JOB_TYPE_RNA_DIFF_EXPR,
                status=JobStatus.LAUNCHING.value,
                request_json=json.dumps(stored, separators=(",", ":")),
                start_time_ms=now,
                steps_total=len(spec.samples) + 1,
                steps_done=0,
                message="",
                warnings_json="[]",
                input_size_bytes=input_bytes,
                outputs_json="{}",
                attempts=0,
                table_claim=claim,
                manifest_json=manifest_json,
            )
            for pos, sample in enumerate(spec.samples):
                row.samples.append(
                    SampleStateRow(sample_name=sample.name, position=pos, group_name=sample.group)
                )
            s.add(row)
            s.add_all(notification_rows(job_id, stored))

    def counts_table_bytes(self, spec: RnaDiffExprSpec) -> int:
        if not spec.counts:
            return 0
        loc = self.storage.location(spec.counts, field="counts")
        return self.storage.info(loc, field="counts").size_bytes

    def _check_counts_table(self, spec: RnaDiffExprSpec) -> int:
        """Read the counts table now, so a bad one is a 400 naming the problem, not a failed job."""
        from genejobs.pipeline.counts_table import read_count_table

        assert spec.counts is not None
        loc = self.storage.location(spec.counts, field="counts")
        size = self.storage.info(loc, field="counts").size_bytes
        if size > MAX_COUNTS_TABLE_BYTES:
            raise ValidationError(
                f"counts: '{loc.original}' is {size:,} bytes; a counts table may be at most "
                f"{MAX_COUNTS_TABLE_BYTES:,} bytes (60,000 genes x 1,000 samples fit easily)"
            )
        fields = {
            s.name: f"inputs[{gi}].group_inputs[{si}].sample_name"
            for gi, g in enumerate(spec.groups)
            for si, s in enumerate(g.samples)
        }
        with self.storage.open_read(loc, field="counts") as stream:
            read_count_table(  # header + first genes only: the worker reads it all
                stream,
                label=loc.original,
                samples=[s.name for s in spec.samples],
                sample_fields=fields,
                sample_only=True,
            )
        return size

    def _ensure_project_lock(self, project_id: str) -> None:
        """Create the project's lock row once (a racing creator's insert is harmless)."""
        with self.sessions() as s:
            if s.get(ProjectLockRow, project_id) is not None:
                return
        try:
            with self.sessions.begin() as s:
                s.add(ProjectLockRow(project_id=project_id, submits=0))
        except IntegrityError:
            pass  # another submit created it first

    # -- reading -------------------------------------------------------------

    def _visible(self, principal: Principal, project_id: str) -> list[Any]:
        conds = [JobRow.project_id == project_id]
        if not principal.is_admin:
            conds.append(JobRow.owner == principal.user)
        return conds

    def list_jobs(
        self,
        *,
        principal: Principal,
        project_id: str,
        job_type: str | None = None,
        limit: int = 10,
        offset: int = 0,
        start: int | None = None,
        end: int | None = None,
        statuses: Sequence[str] = (),
        text: str | None = None,
        id_prefix: str | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        _check_window(start, end)
        conds = self._visible(principal, project_id)
        if id_prefix is not None:
            conds.append(JobRow.job_id.startswith(_id_prefix(id_prefix), autoescape=True))
        if job_type:
            conds.append(JobRow.job_type == job_type)
        conds += _list_filters(statuses, text)
        if start is not None:
            conds.append(JobRow.start_time_ms >= start)
        if end is not None:
            conds.append(JobRow.start_time_ms <= end)
        with self.sessions() as s:
            total = s.scalar(select(func.count()).select_from(JobRow).where(*conds)) or 0
            rows = s.scalars(
                select(JobRow)
                .where(*conds)
                .order_by(JobRow.start_time_ms.desc(), JobRow.job_id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            now = now_ms()
            return int(total), [contract_row(r, now) for r in rows]

    def visible_row(self, s: Session, principal: Principal, project_id: str, job_id: str) -> JobRow:
        row = s.scalars(
            select(JobRow).where(JobRow.job_id == job_id, *self._visible(principal, project_id))
        ).first()
        if row is None:
            raise JobNotFound(f"job '{job_id}' does not exist in project '{project_id}'")
        return row

    def stored_request(self, *, principal: Principal, project_id: str, job_id: str) -> str:
        """The stored request JSON of a job this principal may see (else ``JobNotFound``)."""
        with self.sessions() as s:
            return self.visible_row(s, principal, project_id, job_id).request_json

    def get_job(self, *, principal: Principal, project_id: str, job_id: str) -> dict[str, Any]:
        """The list row plus per-sample state, time remaining, outputs and warnings."""
        with self.sessions() as s:
            row = self.visible_row(s, principal, project_id, job_id)
            now = now_ms()
            out = contract_row(row, now)
            out["project_id"] = row.project_id
            out["job_type"] = row.job_type
            out["input_size"] = row.input_size_bytes
            out["end_time"] = row.end_time_ms
            out["remaining_ms"] = remaining_ms(row, now)
            outputs = json.loads(row.outputs_json or "{}")
            out["outputs"] = {k: v for k, v in outputs.items() if not k.startswith("_")}
            out["warnings"] = json.loads(row.warnings_json or "[]")
            out["notes"] = [
                {"text": str(w), "plain": explain(str(w)), "level": note_level(str(w))}
                for w in out["warnings"]
            ]
            out["notifications"] = attempt_log(s, job_id)
            samples = []
            for smp in row.samples:
                started, ended = smp.started_ms, smp.ended_ms
                samples.append(
                    {
                        "sample_name": smp.sample_name,
                        "group_name": smp.group_name,
                        "state": smp.state,
                        "step": smp.step,
                        "fraction_done": round(smp.fraction_done, 4),
                        "pairs_done": smp.pairs_done,
                        "started_ms": started,
                        "ended_ms": ended,
                        "duration_ms": _sample_duration(started, ended, row.end_time_ms, now),
                        "from_cache": smp.from_cache,
                        "stats": json.loads(smp.stats_json or "{}"),
                    }
                )
            out["samples"] = samples
            return out

    # -- cancel --------------------------------------------------------------

    def cancel(self, *, principal: Principal, project_id: str, job_id: str) -> None:
        """LAUNCHING jobs end at once; RUNNING ones go CANCELING and the runner stops them."""
        with self.sessions.begin() as s:
            row = self.visible_row(s, principal, project_id, job_id)
            status = JobStatus(row.status)
            if status in ENDED or status == JobStatus.CANCELING:
                raise Unavailable(f"job '{job_id}' is {status.value} and cannot be cancelled")
            check_move(status, JobStatus.CANCELING)
            row.status = JobStatus.CANCELING.value
            if status == JobStatus.LAUNCHING:
                check_move(JobStatus.CANCELING, JobStatus.CANCELLED)
                row.status = JobStatus.CANCELLED.value
                row.end_time_ms = now_ms()
                row.message = "cancelled before it started"
        log.info("job %s: cancel requested by %s", job_id, principal.user)

    # -- statistics ----------------------------------------------------------

    def statistics(
        self,
        *,
        principal: Principal,
        project_id: str,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[str, Any]:
        _check_window(start, end)
        conds = self._visible(principal, project_id)
        if start is not None:
            conds.append(JobRow.start_time_ms >= start)
        if end is not None:
            conds.append(JobRow.start_time_ms <= end)
        with self.sessions() as s:
            rows = s.execute(
                select(JobRow.owner, JobRow.status, func.count(), func.sum(JobRow.input_size_bytes))
                .where(*conds)
                .group_by(JobRow.owner, JobRow.status)
            ).all()
        users: dict[str, dict[str, int]] = {}
        for owner, status, n, size in rows:
            u = users.setdefault(
                owner,
                {f"{st.value.lower()}_num": 0 for st in JobStatus} | {"input_size": 0},
            )
            u[f"{status.lower()}_num"] += int(n)
            u["input_size"] += int(size or 0)
        if not principal.is_admin and principal.user not in users:
            users[principal.user] = {f"{st.value.lower()}_num": 0 for st in JobStatus} | {
                "input_size": 0
            }
        totals: dict[str, Any] = {"total_user_num": len(users)}
        for st in JobStatus:
            key = f"{st.value.lower()}_num"
            totals[f"total_{key}"] = sum(u[key] for u in users.values())
        totals["total_input_size"] = sum(u["input_size"] for u in users.values())
        if principal.is_admin:
            totals["users"] = [
                {"user_name": name, **counts} for name, counts in sorted(users.items())
            ]
        return totals
