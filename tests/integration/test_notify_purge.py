"""Notifications when a job ends (a real HTTP receiver, a real SMTP server) and purge.

Jobs are ended the way the contract tests do (the store written directly, or a
LAUNCHING job cancelled through the API); the notifier is the real one, run a
round at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from genejobs.api.app import create_app
from genejobs.config import Settings
from genejobs.jobs.notify.delivery import Notifier
from genejobs.jobs.service import JobService
from genejobs.jobs.store.models import NotificationRow
from genejobs.storage import Storage
from support.api import REFS, assert_error, body, record_written, set_status
from support.servers import free_port

SECRET = "s3cret-for-tests"


class Receiver:
    """A local webhook endpoint: answers from a script of statuses, records what came."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                data = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), data))
                receiver.paths.append(self.path)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header(
                        "Location", f"http://127.0.0.1:{self.server.server_port}/moved"
                    )
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope)
        return "250 OK"

    def __init__(self) -> None:
        self.messages: list = []


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def env(module_database_url, smtp, tmp_path_factory):
    root = tmp_path_factory.mktemp("notify")
    data = root / "data"
    data.mkdir()
    for sample in ("K1", "K2", "W1", "W2"):
        for mate in (1, 2):
            (data / f"{sample}_R{mate}.fastq.gz").write_bytes(b"\x1f\x8b")
    settings = Settings.from_env(
        env={
            "GENEJOBS_HOME": str(root / "home"),
            "GENEJOBS_ALLOWED_ROOTS": str(data),
            "GENEJOBS_WEBHOOK_ALLOWED_HOSTS": "hooks.example.org,127.0.0.0/8",
            "GENEJOBS_WEBHOOK_SECRET": SECRET,
            "GENEJOBS_SMTP_URL": f"smtp://127.0.0.1:{smtp[1]}",
        },
        database_url=module_database_url,
        max_running_jobs_per_project=100,
    )
    service = JobService(settings, storage=Storage.from_settings(settings), references=lambda: REFS)
    client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
    tokens = {
        "admin_a": service.create_token(user="alice", projects=["A"], admin=True),
        "user_a": service.create_token(user="bob", projects=["A"], admin=False),
        "admin_b": service.create_token(user="carol", projects=["B"], admin=True),
    }
    yield {
        "client": client,
        "service": service,
        "settings": settings,
        "data": data,
        "tokens": tokens,
        "url": module_database_url,
        "smtp": smtp[0],
    }
    service.close()


def call(env, method, path, token="admin_a", project="A", **kw):
    headers = {"X-Auth-Token": env["tokens"][token]}
    return env["client"].request(method, f"/v2.0/{project}/gene{path}", headers=headers, **kw)


def submit(env, token="admin_a", project="A", **changes) -> str:
    req = body(env["data"], is_export_qc=False, **changes)
    req.pop("bed")
    r = call(env, "POST", "/jobs", token=token, project=project, json=req)
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


def finish(env, job_id: str, status: str = "FINISHED", **values) -> None:
    now = int(time.time() * 1000)
    set_status(env, job_id, status, run_started_ms=now - 5000, end_time_ms=now, **values)


def deliver_until(env, job_id: str, *, done: int, seconds: float = 20.0) -> list[dict]:
    notifier = Notifier(env["settings"], env["service"].sessions, backoff_seconds=0.05)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        notifier.deliver_due()
        attempts = call(env, "GET", f"/jobs/{job_id}").json()["notifications"]
        if len(attempts) >= done:
            return attempts
        time.sleep(0.05)
    raise AssertionError(f"fewer than {done} delivery attempts in {seconds} s")


# -- submit-time rules ----------------------------------------------------------


@pytest.mark.parametrize(
    ("notify", "fragment"),
    [
        (
            {"webhook": "https://evil.example.com/x"},
            "notify.webhook: host 'evil.example.com' is not allowed",
        ),
        ({"webhook": "https://10.1.2.3/x"}, "notify.webhook: host '10.1.2.3' is not allowed"),
        (
            {"webhook": "ftp://hooks.example.org/x"},
            "notify.webhook: must be an http:// or https:// URL",
        ),
        ({"email": "not-an-address"}, "notify.email: must be an e-mail address"),
        ({}, "notify: give a webhook, an email, or both"),
        ({"webhook": "https://hooks.example.org/x", "sms": "1"}, "notify.sms: unknown field"),
    ],
)
def test_notify_targets_are_checked_at_submit(env, notify, fragment):
    req = body(env["data"], is_export_qc=False, notify=notify)
    assert_error(call(env, "POST", "/jobs", json=req), 400, "DLI.0001", fragment)


def test_without_allowed_hosts_or_smtp_the_fields_are_refused(env, tmp_path):
    settings = Settings.from_env(
        env={"GENEJOBS_HOME": str(tmp_path), "GENEJOBS_ALLOWED_ROOTS": str(env["data"])},
        database_url=f"sqlite:///{tmp_path / 'j.db'}",
    )
    service = JobService(settings, storage=Storage.from_settings(settings), references=lambda: REFS)
    try:
        client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
        token = service.create_token(user="u", projects=["A"], admin=True)
        req = body(
            env["data"], notify={"webhook": "https://hooks.example.org/x", "email": "a@b.org"}
        )
        r = client.post("/v2.0/A/gene/jobs", json=req, headers={"X-Auth-Token": token})
        assert_error(r, 400, "DLI.0001", "GENEJOBS_WEBHOOK_ALLOWED_HOSTS", "GENEJOBS_SMTP_URL")
    finally:
        service.close()


@pytest.mark.parametrize(
    ("notify", "fragment"),
    [
        ({"webhook": "http://127.0.0.1:9/a\tb"}, "notify.webhook: must not contain spaces"),
        ({"webhook": "http://127.0.0.1:9/a\r\nX: y"}, "notify.webhook: must not contain"),
        ({"webhook": "http://127.0.0.1:9/\x85"}, "notify.webhook: must not contain"),
        ({"email": "a\u2028b@example.org"}, "notify.email: must be an e-mail address"),
        ({"email": "a\x85b@example.org"}, "notify.email: must be an e-mail address"),
    ],
    ids=["tab", "crlf", "nel", "u2028 address", "u0085 address"],
)
def test_webhooks_and_addresses_the_sender_would_choke_on_are_refused_at_submit(
    env, notify, fragment
):
    before = len(call(env, "GET", "/jobs", params={"limit": 100}).json()["jobs"])
    req = body(env["data"], is_export_qc=False, notify=notify)
    assert_error(call(env, "POST", "/jobs", json=req), 400, "DLI.0001", fragment)
    assert len(call(env, "GET", "/jobs", params={"limit": 100}).json()["jobs"]) == before


@pytest.mark.parametrize("name", ["a\u2028b", "a\x85b", "a\u2029b", "a\x9bb"])
def test_job_names_with_line_separators_are_refused_at_submit(env, name):
    req = body(env["data"], is_export_qc=False, name=name, notify={"email": "lab@example.org"})
    assert_error(call(env, "POST", "/jobs", json=req), 400, "DLI.0001", "name", "line separators")


def test_a_poison_notification_is_a_failed_attempt_and_the_round_goes_on(env):
    """Rows stored before the door refused them (written here directly) fail one attempt
    each, with the reason, while a good webhook of another project is still delivered."""
    box = env["smtp"]
    receiver = Receiver([200])
    try:
        bad_hook = submit(env, notify={"webhook": receiver.url})
        bad_mail = submit(env, name="plain", notify={"email": "lab@example.org"})
        good = submit(env, token="admin_b", project="B", notify={"webhook": receiver.url})
        with env["service"].sessions.begin() as s:
            for row in s.scalars(select(NotificationRow).where(NotificationRow.job_id == bad_hook)):
                row.target = receiver.url + "/a\tb"  # httpx would raise InvalidURL
            for row in s.scalars(select(NotificationRow).where(NotificationRow.job_id == bad_mail)):
                row.target = "lab\u2028@example.org"  # an address no header can hold
        for job_id in (bad_hook, bad_mail, good):
            finish(env, job_id)
        mails = len(box.messages)
        notifier = Notifier(env["settings"], env["service"].sessions, backoff_seconds=60)
        assert notifier.deliver_due() >= 3
    finally:
        receiver.close()
    good_attempts = call(env, "GET", f"/jobs/{good}", token="admin_b", project="B").json()
    assert [a["status"] for a in good_attempts["notifications"]] == ["200"]
    hook_attempts = call(env, "GET", f"/jobs/{bad_hook}").json()["notifications"]
    assert len(hook_attempts) == 1  # the rules are checked again before each delivery
    assert hook_attempts[0]["status"].startswith("refused: must not contain spaces")
    mail_attempts = call(env, "GET", f"/jobs/{bad_mail}").json()["notifications"]
    assert len(mail_attempts) == 1 and mail_attempts[0]["status"].startswith("error:")
    assert len(box.messages) == mails  # nothing half-sent
    with env["service"].sessions() as s:
        rows = s.scalars(
            select(NotificationRow).where(NotificationRow.job_id.in_([bad_hook, bad_mail]))
        ).all()
        assert all(r.attempts == 1 and r.state == "pending" for r in rows)  # retried later


# -- delivery ---------------------------------------------------------------------


def test_a_finished_job_posts_a_signed_payload_retrying_after_a_failure(env):
    receiver = Receiver([503, 200])
    try:
        job_id = submit(env, name="liver run", notify={"webhook": receiver.url})
        notifier = Notifier(env["settings"], env["service"].sessions)
        assert notifier.deliver_due() == 0  # not ended yet: nothing is sent
        outputs = {"table": f"file://{env['data']}/out/{job_id}.csv"}
        finish(env, job_id, outputs_json=json.dumps(outputs))
        attempts = deliver_until(env, job_id, done=2)
    finally:
        receiver.close()
    assert [a["status"] for a in attempts] == ["503", "200"]
    assert all(a["target"] == f"webhook:{receiver.url}" for a in attempts)
    headers, raw = receiver.received[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Genejobs-Signature"] == expected
    payload = json.loads(raw)
    assert payload["job_id"] == job_id and payload["project_id"] == "A"
    assert payload["name"] == "liver run" and payload["status"] == "FINISHED"
    assert payload["duration"] == 5000 and payload["outputs"] == [outputs["table"]]
    assert set(payload) == {
        "job_id", "project_id", "name", "status", "message",
        "start_time", "end_time", "duration", "outputs",
    }  # fmt: skip
    # delivered: later rounds send nothing more
    Notifier(env["settings"], env["service"].sessions).deliver_due()
    assert len(receiver.received) == 2


def notification_states(env, job_id: str) -> list[str]:
    with env["service"].sessions() as s:
        rows = s.scalars(select(NotificationRow).where(NotificationRow.job_id == job_id)).all()
        return [row.state for row in rows]


def test_redirects_are_not_followed_and_retries_stop_after_the_window(env):
    receiver = Receiver([302] * 50)
    settings = replace(env["settings"], notify_retry_seconds=0.3)
    notifier = Notifier(settings, env["service"].sessions, backoff_seconds=0.05)
    try:
        job_id = submit(env, notify={"webhook": receiver.url})
        finish(env, job_id, "FAILED", message="sample 'K1': truncated gzip")
        deadline = time.monotonic() + 10
        while notification_states(env, job_id) == ["pending"] and time.monotonic() < deadline:
            notifier.deliver_due()
            time.sleep(0.1)
    finally:
        receiver.close()
    assert notification_states(env, job_id) == ["failed"]
    assert set(receiver.paths) == {"/hook"}  # the Location was never visited
    attempts = call(env, "GET", f"/jobs/{job_id}").json()["notifications"]
    assert attempts and all(a["status"] == "302" for a in attempts)
    assert json.loads(receiver.received[0][1])["message"] == "sample 'K1': truncated gzip"


def test_a_cancelled_job_sends_an_email(env):
    box = env["smtp"]
    job_id = submit(env, notify={"email": "lab@example.org"})
    assert call(env, "DELETE", f"/jobs/{job_id}").status_code == 200  # LAUNCHING: ends at once
    attempts = deliver_until(env, job_id, done=1)
    assert attempts[0]["status"] == "sent" and attempts[0]["target"] == "email:lab@example.org"
    message = box.messages[-1]
    assert message.rcpt_tos == ["lab@example.org"]
    text = message.content.decode()
    assert f"genejobs: job {job_id} CANCELLED" in text and f"job_id: {job_id}" in text


# -- purge -------------------------------------------------------------------------


def _outputs(env, job_id: str) -> tuple[Path, Path]:
    table = env["data"] / "out" / f"{job_id}.csv"
    folder = env["data"] / "out" / job_id
    (folder / "qc").mkdir(parents=True)
    (folder / "qc" / "multiqc_report.html").write_text("<html></html>")
    (folder / "counts.csv").write_text("gene,K1\n")
    table.write_text("gene,log2FoldChange\n")
    written = [table, folder / "qc" / "multiqc_report.html", folder / "counts.csv"]
    record_written(env["url"], job_id, {f"file://{p}": p.stat().st_size for p in written})
    return table, folder


def test_purge_deletes_outputs_then_the_record(env):
    job_id = submit(env, notify={"webhook": "https://hooks.example.org/x"})
    other = submit(env)
    table, folder = _outputs(env, job_id)
    assert_error(
        call(env, "DELETE", f"/jobs/{job_id}", params={"purge": "true"}),
        400,
        "DLI.0012",
        "cancel it first",
    )
    finish(env, job_id)
    before = call(env, "GET", "/statistics").json()["total_finished_num"]
    # another project, and a sub-user on the admin's job, may not purge it
    r = call(
        env, "DELETE", f"/jobs/{job_id}", token="admin_b", project="B", params={"purge": "true"}
    )
    assert_error(r, 404, "DLI.0023")
    r = call(env, "DELETE", f"/jobs/{job_id}", token="user_a", params={"purge": "true"})
    assert_error(r, 404, "DLI.0023")
    assert table.exists()
    assert call(env, "DELETE", f"/jobs/{job_id}", params={"purge": "true"}).json() == {}
    # every file it wrote is gone; folders are never deleted (emptied, they stay)
    assert not table.exists() and not [p for p in folder.rglob("*") if p.is_file()]
    assert_error(call(env, "GET", f"/jobs/{job_id}"), 404, "DLI.0023")
    listed = [j["job_id"] for j in call(env, "GET", "/jobs", params={"limit": 100}).json()["jobs"]]
    assert job_id not in listed and other in listed
    assert call(env, "GET", "/statistics").json()["total_finished_num"] == before - 1


class FailsOnce(Storage):
    """The real local storage, except that removing a file of the job's folder fails the
    first time."""

    failed = False

    def remove_file(self, loc):
        if not self.failed and not loc.key.endswith(".csv"):
            self.failed = True
            raise OSError("disk went away")
        super().remove_file(loc)


def test_a_purge_that_failed_half_way_can_be_repeated(env):
    job_id = submit(env)
    table, folder = _outputs(env, job_id)
    finish(env, job_id)
    service = JobService(
        env["settings"],
        storage=FailsOnce.from_settings(env["settings"]),
        references=lambda: REFS,
        sessions=env["service"].sessions,
    )
    client = TestClient(create_app(env["settings"], service=service), raise_server_exceptions=False)
    headers = {"X-Auth-Token": env["tokens"]["admin_a"]}
    url = f"/v2.0/A/gene/jobs/{job_id}?purge=true"
    r = client.delete(url, headers=headers)
    assert_error(r, 400, "DLI.0012", "repeat the delete")
    assert not table.exists() and (folder / "counts.csv").exists()  # the table went first
    assert call(env, "GET", f"/jobs/{job_id}").status_code == 200  # the record is kept
    assert client.delete(url, headers=headers).status_code == 200
    assert not [p for p in folder.rglob("*") if p.is_file()]
    assert_error(call(env, "GET", f"/jobs/{job_id}"), 404, "DLI.0023")


def test_purge_on_s3_removes_the_objects(s3_server, tmp_path):
    """The same purge against a real S3 server (SeaweedFS), on SQLite."""
    bucket = f"purge-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(bucket)
    settings = Settings.from_env(
        env={
            "GENEJOBS_HOME": str(tmp_path),
            "GENEJOBS_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "AWS_ACCESS_KEY_ID": s3_server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        },
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
    )
    storage = Storage.from_settings(settings)
    service = JobService(settings, storage=storage, references=lambda: REFS)
    try:
        client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
        headers = {"X-Auth-Token": service.create_token(user="u", projects=["A"], admin=True)}

        def put(key: str, data: bytes = b"x") -> None:
            storage.write_bytes(storage.location(f"s3a://{bucket}/{key}"), data)

        req = body(Path("/unused"), is_export_qc=False, output=f"s3a://{bucket}/out")
        req.pop("bed")
        for group in req["inputs"]:
            for sample in group["group_inputs"]:
                sample["files"] = [f"s3a://{bucket}/{Path(f).name}" for f in sample["files"]]
                for f in sample["files"]:
                    put(Path(f).name, b"\x1f\x8b")
        r = client.post("/v2.0/A/gene/jobs", json=req, headers=headers)
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        keys = (f"out/{job_id}.csv", f"out/{job_id}/counts.csv", f"out/{job_id}/qc/a.html")
        for key in keys:
            put(key)
        record_written(settings.database_url, job_id, {f"s3a://{bucket}/{k}": 1 for k in keys})
        put("out/keep-me.csv")  # another file beside the job's: untouched
        set_status({"url": settings.database_url}, job_id, "FINISHED", end_time_ms=1)
        r = client.delete(f"/v2.0/A/gene/jobs/{job_id}?purge=true", headers=headers)
        assert r.status_code == 200, r.text
        out = storage.location(f"s3a://{bucket}/out")
        fs = storage.filesystem(out)
        fs.invalidate_cache()
        # every object is gone (SeaweedFS's filer may still list the emptied folder)
        assert fs.find(out.fs_path) == [f"{bucket}/out/keep-me.csv"]
        assert storage.exists(storage.location(f"s3a://{bucket}/K1_R1.fastq.gz"))  # inputs stay
    finally:
        service.close()
