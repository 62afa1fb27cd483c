"""An outside tester's attacks (issue 23), each kept out for good, against a real server.

The app runs under uvicorn on loopback with a real SQLite store, real local files and
the session's real SeaweedFS; requests go over real sockets. Each attack asserts the
named answer (401, 413, 400 naming the field, 503 naming the endpoint) and that
nothing else changed: no job stored, the server still healthy and still fast.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from genejobs.api.app import create_app
from genejobs.api.guard import MAX_BODY_BYTES
from genejobs.config import Settings
from genejobs.jobs.service import JobService
from genejobs.storage import Storage
from support.servers import free_port

REFS = {"hg19": ["gencode.v17.annotation.gtf"]}
BUCKET = "attack-b"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def served(tmp_path_factory, s3_server) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("attacks")
    data = root / "data"
    data.mkdir()
    for sample in ("K1", "K2", "W1", "W2"):
        for mate in (1, 2):
            with gzip.open(data / f"{sample}_R{mate}.fastq.gz", "wt") as fh:
                fh.write(f"@{sample}.1/{mate}\nACGTACGTAC\n+\nIIIIIIIIII\n")
    settings = Settings.from_env(
        env={"GENEJOBS_HOME": str(root / "home"), "GENEJOBS_ALLOWED_ROOTS": str(data)},
        database_url=f"sqlite:///{root / 'jobs.db'}",
        s3_endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        max_running_jobs_per_project=100,
    )
    s3_server.create_bucket(BUCKET)
    s3_server.filesystem().pipe(f"{BUCKET}/reads/K1_R1.fastq.gz", b"x")
    service = JobService(settings, storage=Storage.from_settings(settings), references=lambda: REFS)
    tokens = {
        "alice": service.create_token(user="alice", projects=["A"], admin=True),
        "carol": service.create_token(user="carol", projects=["B"], admin=True),
    }
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, service=service), host="127.0.0.1", port=port, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=30) as client:
        yield {
            "url": url,
            "port": port,
            "client": client,
            "tokens": tokens,
            "data": data,
            "service": service,
            "s3": s3_server,
        }
    server.should_exit = True
    thread.join(10)
    service.close()


def headers(served, who: str = "alice") -> dict[str, str]:
    return {"X-Auth-Token": served["tokens"][who]}


def job_count(served, who: str = "alice", project: str = "A") -> int:
    r = served["client"].get(f"/v2.0/{project}/gene/jobs", headers=headers(served, who))
    assert r.status_code == 200, r.text
    return int(r.json()["job_count"])


def assert_error(r: httpx.Response, status: int, code: str, *fragments: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error_code"] == code, body
    for fragment in fragments:
        assert fragment in body["error_msg"], body["error_msg"]


def assert_healthy(served) -> None:
    assert served["client"].get("/healthz").status_code == 200


def request_body(data: Path, **changes: Any) -> dict[str, Any]:
    def files(s: str) -> list[str]:
        return [f"file://{data}/{s}_R1.fastq.gz", f"file://{data}/{s}_R2.fastq.gz"]

    body: dict[str, Any] = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {
                "group_name": g,
                "group_inputs": [
                    {"sample_name": f"{g}{i}", "files": files(f"{g}{i}")} for i in (1, 2)
                ],
            }
            for g in ("K", "W")
        ],
        "ref": "hg19",
        "gtf": "gencode.v17.annotation.gtf",
        "output": f"file://{data}/out",
    }
    body.update(changes)
    return body


# -- bodies: the token before any byte, and a size limit on every body ------------


def raw_post(port: int, path: str, headers: dict[str, str], total: int) -> tuple[int, int]:
    """POST a body of ``total`` bytes over a raw socket, stopping when the server answers.

    Returns (HTTP status, bytes the server let us send before answering).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {total}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    chunk = b"[" * (1 << 20)
    sent = 0
    sock.setblocking(False)
    answer = b""
    deadline = time.monotonic() + 30
    try:
        while sent < total and time.monotonic() < deadline:
            try:
                got = sock.recv(65536)
                if got:
                    answer += got
                    break
                break  # closed
            except BlockingIOError:
                pass
            try:
                sent += sock.send(chunk[: min(len(chunk), total - sent)])
            except BlockingIOError:
                time.sleep(0.01)  # the server is not reading: its buffers are full
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        sock.settimeout(10)
        while b"\r\n" not in answer:
            got = sock.recv(65536)
            if not got:
                break
            answer += got
    finally:
        sock.close()
    return int(answer.split(b" ", 2)[1]), sent


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/v2.0/A/gene/jobs", {"Content-Type": "application/json"}),
        ("/v2.0/A/gene/jobs?dry_run=true", {"Content-Type": "application/json"}),
        ("/ga4gh/wes/v1/runs", {"Content-Type": "multipart/form-data; boundary=xyz"}),
    ],
    ids=["submit", "dry run", "wes attachments"],
)
def test_an_unauthenticated_300_mib_body_gets_401_before_it_is_read(served, path, extra):
    before_jobs = job_count(served)
    before_rss = rss_bytes()
    before_tmp = sum(f.stat().st_size for f in Path("/tmp").glob("tmp*") if f.is_file())
    status, sent = raw_post(served["port"], path, extra, 300 * 1024 * 1024)
    assert status == 401
    # what was sent sits in socket buffers at most; the server never read the body
    assert sent < 32 * 1024 * 1024, sent
    assert rss_bytes() - before_rss < 40 * 1024 * 1024
    after_tmp = sum(f.stat().st_size for f in Path("/tmp").glob("tmp*") if f.is_file())
    assert after_tmp - before_tmp < 8 * 1024 * 1024  # no spooled upload
    assert job_count(served) == before_jobs
    assert_healthy(served)


def test_a_token_of_another_project_gets_403_before_the_body_is_read(served):
    status, sent = raw_post(
        served["port"],
        "/v2.0/A/gene/jobs",
        {"X-Auth-Token": served["tokens"]["carol"], "Content-Type": "application/json"},
        300 * 1024 * 1024,
    )
    assert status == 403 and sent < 32 * 1024 * 1024


def test_an_authenticated_oversize_body_gets_413_declared_or_chunked(served):
    before = job_count(served)
    big = b'{"name": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    r = served["client"].post(
        "/v2.0/A/gene/jobs",
        content=big,
        headers=headers(served) | {"Content-Type": "application/json"},
    )
    assert_error(r, 413, "DLI.0009", "body", "4 MiB")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "'
        for _ in range(6):
            yield b"x" * (1 << 20)
        yield b'"}'

    r = served["client"].post(
        "/v2.0/A/gene/jobs",
        content=chunks(),
        headers=headers(served) | {"Content-Type": "application/json"},
    )
    assert_error(r, 413, "DLI.0009", "body")
    # a WES form with a large attachment: 413 in WES's error shape
    r = served["client"].post(
        "/ga4gh/wes/v1/runs",
        headers=headers(served),
        data={"workflow_type": "RNA_DIFF_EXPR", "workflow_type_version": "1.0"},
        files={"workflow_attachment": ("big.bin", b"\0" * (MAX_BODY_BYTES + 1))},
    )
    assert r.status_code == 413 and r.json()["status_code"] == 413, r.text
    assert job_count(served) == before
    assert_healthy(served)
    # a body under the limit still works
    r = served["client"].post(
        "/v2.0/A/gene/jobs",
        params={"dry_run": "true"},
        json=request_body(served["data"]),
        headers=headers(served),
    )
    assert r.status_code == 200, r.text


# -- counts tables: bounded while read, refused at the door naming the reason ------


def counts_table(genes: int = 20, value: str = "7") -> str:
    rows = [f"G{i}\t{value if i == 2 else i}\t{i}\t{i + 1}\t{i + 2}" for i in range(genes)]
    return "gene_id\tK1\tK2\tW1\tW2\n" + "\n".join(rows) + "\n"


def counts_request(data: Path, name: str) -> dict[str, Any]:
    body = request_body(data, counts=str(data / name))
    for group in body["inputs"]:
        for sample in group["group_inputs"]:
            sample.pop("files")
    for key in ("ref", "gtf"):
        body.pop(key)
    return body


def gzip_stream(path: Path, piece: bytes, total: int) -> None:
    """A gzip file of ``total`` bytes of ``piece`` repeated, as concatenated members
    (valid gzip; each member is ``piece`` compressed once, so it takes no time)."""
    path.write_bytes(gzip.compress(piece, compresslevel=9) * (total // len(piece)))


@pytest.fixture(scope="module")
def tables(served) -> dict[str, str]:
    data = served["data"]
    (data / "good.tsv").write_text(counts_table())
    # 1 GiB of newlines, then of one endless line, in about 1 MB each
    gzip_stream(data / "newlines.tsv.gz", b"\n" * (1 << 20), 1 << 30)
    gzip_stream(data / "oneline.tsv.gz", b"a" * (1 << 20), 1 << 30)
    (data / "wide.tsv").write_text("gene_id\t" + "\t".join(f"S{i}" for i in range(1_000_000)))
    (data / "huge.tsv").write_text(counts_table(value="1e308"))
    (data / "int64.tsv").write_text(counts_table(value=str(2**63)))
    (data / "two.tsv").write_text(counts_table(genes=2))
    return {
        "newlines.tsv.gz": "more than 1,000,000 lines",
        "oneline.tsv.gz": "longer than 1024 KiB",
        "wide.tsv": "longer than 1024 KiB",
        "huge.tsv": "column 'K1', gene 'G2': 1e308 is larger than any read count",
        "int64.tsv": f"column 'K1', gene 'G2': {2**63} is larger than any read count",
        "two.tsv": "only 2 gene(s)",
    }


def test_a_good_counts_table_passes_the_door(served, tables):
    r = served["client"].post(
        "/v2.0/A/gene/jobs",
        params={"dry_run": "true"},
        json=counts_request(served["data"], "good.tsv"),
        headers=headers(served),
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "name",
    ["newlines.tsv.gz", "oneline.tsv.gz", "wide.tsv", "huge.tsv", "int64.tsv", "two.tsv"],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "submit"])
def test_a_hostile_counts_table_is_refused_at_the_door_at_bounded_cost(
    served, tables, name, dry_run
):
    before_jobs = job_count(served)
    before_rss = rss_bytes()
    started = time.monotonic()
    r = served["client"].post(
        "/v2.0/A/gene/jobs",
        params={"dry_run": str(dry_run).lower()},
        json=counts_request(served["data"], name),
        headers=headers(served),
    )
    elapsed = time.monotonic() - started
    assert_error(r, 400, "DLI.0001", f"counts: '{served['data'] / name}'", tables[name])
    assert rss_bytes() - before_rss < 200 * 1024 * 1024
    assert elapsed < 10, elapsed
    assert job_count(served) == before_jobs
    assert_healthy(served)


def test_the_worker_reads_the_whole_table_with_the_same_bounds(served, tables, monkeypatch):
    """What submit only samples, the job's read checks in full (a bad gene past the
    sample is a named failure of the job, never an internal error)."""
    from genejobs.errors import ValidationError
    from genejobs.pipeline import counts_table as table_module
    from genejobs.pipeline.counts_table import read_count_table

    monkeypatch.setattr(table_module, "DOOR_SAMPLE_BYTES", 64 * 1024)  # a small door sample
    data = served["data"]
    rows = 64 * 1024 // 20 + 10
    text = counts_table(genes=rows) + "GX\t1e308\t1\t1\t1\n"
    (data / "late.tsv").write_text(text)
    with open(data / "late.tsv", "rb") as fh:  # the door's sample misses the bad line
        read_count_table(fh, label="late.tsv", samples=["K1", "W1"], sample_only=True)
    with open(data / "late.tsv", "rb") as fh, pytest.raises(ValidationError) as err:
        read_count_table(fh, label="late.tsv", samples=["K1", "W1"])
    assert "gene 'GX': 1e308 is larger than any read count" in err.value.message
    before = rss_bytes()
    with open(data / "newlines.tsv.gz", "rb") as fh, pytest.raises(ValidationError) as err:
        read_count_table(fh, label="newlines.tsv.gz", samples=["K1", "W1"])
    assert "more than 1,000,000 lines" in err.value.message
    assert rss_bytes() - before < 100 * 1024 * 1024


# -- the lows: named 4xx where a tester found 500s ----------------------------------


def test_malformed_inputs_are_named_400s_not_500s(served):
    client = served["client"]
    r = client.get(
        "/v2.0/A/gene/files", params={"prefix": "s3a://lab?x=/"}, headers=headers(served)
    )
    assert_error(r, 400, "DLI.0001", "prefix", "not a valid bucket name")
    token = base64.urlsafe_b64encode(json.dumps({"o": 2**63, "t": 1}).encode()).decode()
    r = client.get("/ga4gh/wes/v1/runs", params={"page_token": token}, headers=headers(served))
    assert r.status_code == 400 and "page_token" in r.json()["msg"], r.text
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post(
        "/ga4gh/wes/v1/runs",
        headers=headers(served),
        data={"workflow_type": "RNA_DIFF_EXPR", "workflow_type_version": "1.0"},
        files={"workflow_params": (None, deep)},
    )
    assert r.status_code == 400 and "workflow_params" in r.json()["msg"], r.text
    r = client.post(
        "/v2.0/A/gene/jobs",
        content=deep,
        headers=headers(served) | {"Content-Type": "application/json"},
    )
    assert_error(r, 400, "DLI.0001", "nested too deeply")
    assert_healthy(served)


@contextmanager
def read_only_store(kind: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(a URL that writes, a URL of the same database that cannot write)."""
    if kind == "sqlite":
        db = tmp_path / "jobs.db"
        yield f"sqlite:///{db}", f"sqlite:///file:{db}?mode=ro&uri=true"
        return
    base = os.environ.get("GENEJOBS_TEST_PG_URL")
    if not base:
        pytest.fail("GENEJOBS_TEST_PG_URL is not set: PostgreSQL was not started")

    from support.servers import pg_database

    with pg_database(base) as url:
        yield url, url  # made read-only below, once the schema is in


def make_read_only(kind: str, url: str) -> None:
    if kind != "postgres":
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:  # as a hot standby or a read-only failover answers
        name = url.rsplit("/", 1)[1]
        c.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    admin.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_read_only_database_is_a_503_and_healthz_says_so(served, tmp_path, kind):
    from fastapi.testclient import TestClient

    from genejobs.jobs.store.db import make_engine, make_sessionmaker

    with read_only_store(kind, tmp_path) as (url, ro_url):
        settings = Settings.from_env(
            env={"GENEJOBS_HOME": str(tmp_path), "GENEJOBS_ALLOWED_ROOTS": str(served["data"])},
            database_url=url,
        )
        writable = JobService(
            settings, storage=Storage.from_settings(settings), references=lambda: REFS
        )
        token = writable.create_token(user="u", projects=["A"], admin=True)
        writable.close()
        make_read_only(kind, url)
        read_only = make_engine(ro_url, migrate=False)
        service = JobService(
            settings,
            storage=Storage.from_settings(settings),
            references=lambda: REFS,
            sessions=make_sessionmaker(read_only),
        )
        try:
            client = TestClient(
                create_app(settings, service=service), raise_server_exceptions=False
            )
            r = client.get("/healthz")
            assert_error(r, 503, "DLI.0012", "job database is read-only")
            headers = {"X-Auth-Token": token}
            assert client.get("/v2.0/A/gene/jobs", headers=headers).status_code == 200
            r = client.post("/v2.0/A/gene/jobs", json=request_body(served["data"]), headers=headers)
            assert_error(r, 503, "DLI.0012", "job database is read-only")
            assert "INSERT" not in r.text and "sqlite" not in r.text.lower()
            assert client.get("/v2.0/A/gene/jobs", headers=headers).json()["job_count"] == 0
        finally:
            service.close()
            read_only.dispose()


# -- a stalled S3 endpoint: storage calls fail fast, nothing else waits -------------


def test_a_frozen_s3_endpoint_fails_storage_calls_fast_and_other_projects_keep_answering(
    served,
):
    client = served["client"]
    # a job of project A to show, on local storage only
    r = client.post("/v2.0/A/gene/jobs", json=request_body(served["data"]), headers=headers(served))
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    s3_pid = served["s3"].pid
    assert s3_pid is not None
    url = served["url"]
    token_a, token_b = served["tokens"]["alice"], served["tokens"]["carol"]

    def storage_call(i: int) -> tuple[float, httpx.Response]:
        started = time.monotonic()
        with httpx.Client(base_url=url, timeout=60) as c:
            if i % 2:
                r = c.get(
                    "/v2.0/B/gene/files",
                    params={"prefix": f"s3a://{BUCKET}/reads/"},
                    headers={"X-Auth-Token": token_b},
                )
            else:
                body = request_body(served["data"], output=f"s3a://{BUCKET}/out")
                r = c.post("/v2.0/B/gene/jobs", json=body, headers={"X-Auth-Token": token_b})
        return time.monotonic() - started, r

    other: list[float] = []
    os.kill(s3_pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(24) as pool:
            futures = [pool.submit(storage_call, i) for i in range(24)]
            time.sleep(0.5)  # the storage calls are in flight
            with httpx.Client(base_url=url, timeout=10) as c:
                a = {"X-Auth-Token": token_a}
                while not all(f.done() for f in futures):
                    for path in ("/jobs", "/statistics", f"/jobs/{job_id}"):
                        started = time.monotonic()
                        r = c.get(f"/v2.0/A/gene{path}", headers=a)
                        other.append(time.monotonic() - started)
                        assert r.status_code == 200, r.text
                    time.sleep(0.1)
            results = [f.result() for f in futures]
    finally:
        os.kill(s3_pid, signal.SIGCONT)
    other.sort()
    # every call of the other project answered in time (on a loaded 2-core machine the
    # slowest 2% may meet a scheduling hiccup; the median must be far below)
    assert len(other) >= 9 and other[len(other) // 2] < 0.3, other
    assert other[int(len(other) * 0.98)] < 1.0, other
    for _, r in results:
        assert_error(r, 503, "DLI.0012", served["s3"].endpoint_url)
    waits = sorted(elapsed for elapsed, _ in results)
    # ~5 s alone (one 5 s read timeout) or ~1 s (no place in the storage pool); at most
    # one more call's timeouts; 24 at once on a
    # loaded 2-core machine add a few seconds (before: no answer within 400 s)
    assert waits[len(waits) // 2] < 10 and waits[-1] < 15, waits
    assert job_count(served, "carol", "B") == 0  # nothing was stored for B
    # thawed, the same storage call works again
    r = client.get(
        "/v2.0/B/gene/files",
        params={"prefix": f"s3a://{BUCKET}/reads/"},
        headers=headers(served, "carol"),
    )
    assert r.status_code == 200, r.text
