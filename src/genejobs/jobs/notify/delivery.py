"""Tell a webhook or an e-mail address that a job ended, and keep a log of every attempt.

A request's ``notify`` becomes rows of ``job_notifications`` at submit. A
``Notifier`` thread (started beside the runners) delivers the rows of ended jobs:
it claims a row with a conditional update, so many runner processes never send
one notification twice at once, and retries with backoff until the retry window
(``GENEJOBS_NOTIFY_RETRY_SECONDS`` after the job's end) has passed. Polling the
store, rather than hooking the runner's end of a job, also covers jobs that end
elsewhere (a LAUNCHING job cancelled by the API, a job failed by a lease check).

Webhooks are a request-forgery door into the operator's network, so they go only
to hosts the operator listed (exact names, or CIDR ranges matched by IP literals;
a name is never resolved to match a range), with short timeouts and no redirects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import threading
import unicodedata
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from genejobs.config import Settings
from genejobs.jobs.request.notify_rules import NotifyPolicy
from genejobs.jobs.states import ENDED
from genejobs.jobs.store.db import now_ms
from genejobs.jobs.store.models import JobRow, NotificationRow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Genejobs-Signature"
WEBHOOK_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
SMTP_TIMEOUT_S = 10.0
CLAIM_MS = 60_000  # a claimed row is left alone by other notifiers this long
MAX_BACKOFF_S = 300.0


def notification_rows(job_id: str, request: dict[str, Any]) -> list[NotificationRow]:
    """The rows to store with a new job, from its (validated) request."""
    notify = request.get("notify") or {}
    return [
        NotificationRow(job_id=job_id, kind=kind, target=notify[kind], next_attempt_ms=0)
        for kind in ("webhook", "email")
        if notify.get(kind)
    ]


def attempt_log(s: Session, job_id: str) -> list[dict[str, Any]]:
    """Every delivery attempt of a job, oldest first, as the job detail shows them."""
    rows = s.scalars(select(NotificationRow).where(NotificationRow.job_id == job_id)).all()
    attempts = [a for row in rows for a in json.loads(row.log_json or "[]")]
    return sorted(attempts, key=lambda a: a["time"])


def job_payload(job: JobRow) -> dict[str, Any]:
    """What a webhook receives (and an e-mail tells) about an ended job."""
    request = json.loads(job.request_json or "{}")
    outputs = json.loads(job.outputs_json or "{}")
    started = job.run_started_ms
    end = job.end_time_ms
    return {
        "job_id": job.job_id,
        "project_id": job.project_id,
        "name": request.get("name") or "",
        "status": job.status,
        "message": job.message or "",
        "start_time": job.start_time_ms,
        "end_time": end,
        "duration": max(0, end - started) if started is not None and end is not None else 0,
        "outputs": sorted(
            v for k, v in outputs.items() if isinstance(v, str) and not k.startswith("_")
        ),
    }


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>``, as GitHub's and Stripe's webhooks do."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(url: str, body: bytes, secret: str) -> tuple[bool, str]:
    """POST once; (delivered, status as shown to the user: an HTTP status or the error)."""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, body),
        "User-Agent": "genejobs-notifier",
    }
    try:
        with httpx.Client(timeout=WEBHOOK_TIMEOUT, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return False, f"error: {type(exc).__name__}: {exc}"[:300]
    return response.is_success, str(response.status_code)


def one_line(text: str) -> str:
    """Text safe in a header: control characters and line separators become spaces
    (names stored before the door refused them)."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def send_email(smtp_url: str, sender: str, to: str, payload: dict[str, Any]) -> tuple[bool, str]:
    """One message through ``smtp://[user:password@]host[:port]`` (or ``smtps://``)."""
    parts = urlsplit(smtp_url)
    what = one_line(payload["name"] or payload["job_id"])
    msg = EmailMessage()
    msg["Subject"] = f"genejobs: job {what} {payload['status']}"
    msg["From"], msg["To"] = sender, to
    lines = [f"{k}: {v}" for k, v in payload.items() if k != "outputs"]
    lines += ["outputs:"] + [f"  {o}" for o in payload["outputs"]]
    msg.set_content("\n".join(lines) + "\n")
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    try:
        with smtp_class(
            parts.hostname or "localhost", parts.port or 0, timeout=SMTP_TIMEOUT_S
        ) as smtp:
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        return False, f"error: {type(exc).__name__}: {exc}"[:300]
    return True, "sent"


Sender = Callable[[NotificationRow, dict[str, Any]], tuple[bool, str]]


class Notifier:
    """Delivers due notifications of ended jobs; ``start()`` runs it in a daemon thread."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        poll_seconds: float = 1.0,
        backoff_seconds: float = 2.0,
    ) -> None:
        self.settings = settings
        self.policy = NotifyPolicy.from_settings(settings)
        self.sessions = sessions
        self.poll_seconds = poll_seconds
        self.backoff_seconds = backoff_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="genejobs-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("notifier: delivery round failed")
            self._stop.wait(self.poll_seconds)

    def deliver_due(self, now: int | None = None) -> int:
        """Attempt every due notification of an ended job once; returns how many."""
        now = now_ms() if now is None else now
        with self.sessions() as s:
            due = s.execute(
                select(NotificationRow.id, NotificationRow.next_attempt_ms)
                .join(JobRow, JobRow.job_id == NotificationRow.job_id)
                .where(
                    NotificationRow.state == "pending",
                    NotificationRow.next_attempt_ms <= now,
                    JobRow.status.in_([st.value for st in ENDED]),
                )
                .limit(20)
            ).all()
        done = 0
        for row_id, seen in due:
            try:
                if not self._claim(row_id, seen, now):
                    continue
                self._attempt(row_id)
            except Exception as exc:  # one bad row must never stop the round for the others
                log.warning("notifier: notification %s failed: %s", row_id, exc)
                self._record_failure(row_id, f"error: {type(exc).__name__}: {exc}"[:300])
            done += 1
        return done

    def _record_failure(self, row_id: int, status: str) -> None:
        """Log an attempt that raised as a failed attempt of its row (best effort)."""
        try:
            with self.sessions() as s:
                row = s.get(NotificationRow, row_id)
                job = s.get(JobRow, row.job_id) if row is not None else None
                if row is None or job is None:
                    return
                payload = job_payload(job)
            self._record(row_id, row, payload, False, status)
        except Exception:
            log.exception("notifier: could not record the failure of notification %s", row_id)

    def _claim(self, row_id: int, seen: int, now: int) -> bool:
        with self.sessions.begin() as s:
            result = s.execute(
                update(NotificationRow)
                .where(
                    NotificationRow.id == row_id,
                    NotificationRow.next_attempt_ms == seen,
                    NotificationRow.state == "pending",
                )
                .values(next_attempt_ms=now + CLAIM_MS)
            )
            return int(result.rowcount) == 1 if isinstance(result, CursorResult) else False

    def _send(self, row: NotificationRow, payload: dict[str, Any]) -> tuple[bool, str]:
        if row.kind == "webhook":
            why = self.policy.webhook_problem(row.target)
            if why is not None:  # the operator changed the rules since submit
                return False, f"refused: {why}"
            body = json.dumps(payload, separators=(",", ":")).encode()
            return send_webhook(row.target, body, self.policy.secret or "")
        if not self.policy.smtp_url:
            return False, "refused: e-mail is not configured on this server (GENEJOBS_SMTP_URL)"
        return send_email(self.policy.smtp_url, self.settings.smtp_from, row.target, payload)

    def _attempt(self, row_id: int) -> None:
        with self.sessions() as s:
            row = s.get(NotificationRow, row_id)
            job = s.get(JobRow, row.job_id) if row is not None else None
            if row is None or job is None:
                return
            payload = job_payload(job)
        try:
            delivered, status = self._send(row, payload)
        except Exception as exc:  # a URL or header the sender chokes on is a failed attempt
            delivered, status = False, f"error: {type(exc).__name__}: {exc}"[:300]
        self._record(row_id, row, payload, delivered, status)

    def _record(
        self,
        row_id: int,
        row: NotificationRow,
        payload: dict[str, Any],
        delivered: bool,
        status: str,
    ) -> None:
        now = now_ms()
        entry = {"time": now, "target": f"{row.kind}:{row.target}", "status": status}
        attempts = row.attempts + 1
        end = payload["end_time"] or now
        give_up = now - end >= self.settings.notify_retry_seconds * 1000
        state = "delivered" if delivered else ("failed" if give_up else "pending")
        delay_s = min(self.backoff_seconds * 2 ** (attempts - 1), MAX_BACKOFF_S)
        with self.sessions.begin() as s:
            fresh = s.get(NotificationRow, row_id)
            if fresh is None:  # the job was purged meanwhile
                return
            fresh.log_json = json.dumps([*json.loads(fresh.log_json or "[]"), entry])
            fresh.attempts, fresh.state = attempts, state
            fresh.next_attempt_ms = now + int(delay_s * 1000)
        log.info("job %s: %s notification %s (%s)", payload["job_id"], row.kind, state, status)
