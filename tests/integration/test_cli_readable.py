"""The CLI against a real HTTP server: tables, summaries and outputs fetched through the API.

The server is the contract tests' app (real SQLite, real local files) under uvicorn
in a thread; the CLI runs in-process with ``GENEJOBS_URL``/``GENEJOBS_TOKEN``.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn
from sqlalchemy import create_engine, update

from genejobs.cli.main import console_link, main, serve_banner
from genejobs.jobs.store.models import JobRow
from support.api import fake_outputs, submit


@pytest.fixture(scope="module")
def live(world):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = world["client"].app
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def cli(live, world, monkeypatch, capsys):
    monkeypatch.setenv("GENEJOBS_URL", live)
    monkeypatch.setenv("GENEJOBS_TOKEN", world["tokens"]["admin_a"])
    monkeypatch.setenv("COLUMNS", "200")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--project", "A"])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def _named(world, job_id: str, name: str) -> None:
    engine = create_engine(world["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        row = c.execute(JobRow.__table__.select().where(JobRow.job_id == job_id)).first()
        req = json.loads(row.request_json) | {"name": name}
        c.execute(
            update(JobRow)
            .where(JobRow.job_id == job_id)
            .values(request_json=json.dumps(req), status="FINISHED")
        )
    engine.dispose()


def test_jobs_list_is_a_table_and_filters(cli, world):
    job_id = submit(world)
    _named(world, job_id, "liver-KO")
    other = submit(world)
    code, out, _ = cli("jobs", "list", "--limit", "100")
    assert code == 0
    assert job_id in out and other in out and "liver-KO" in out and "FINISHED" in out
    code, out, _ = cli("jobs", "list", "--name", "liver", "--limit", "100")
    assert job_id in out and other not in out
    code, out, _ = cli("jobs", "list", "--status", "LAUNCHING", "--json", "--limit", "100")
    rows = json.loads(out)["jobs"]
    assert other in {r["job_id"] for r in rows} and job_id not in {r["job_id"] for r in rows}
    assert all(r["status"] == "LAUNCHING" for r in rows)


def test_jobs_show_is_a_summary_and_outputs_download(cli, world, tmp_path):
    job_id = submit(world)
    _named(world, job_id, "summary-job")
    expected = fake_outputs(world, job_id)
    code, out, _ = cli("jobs", "show", job_id)
    assert code == 0
    assert "summary-job" in out and "FINISHED" in out and "K1" in out and "hg19" in out
    assert f"out/{job_id}.csv" in out and f"out/{job_id}/report.html" in out
    code, out, _ = cli("jobs", "show", job_id, "--json")
    assert json.loads(out)["job_id"] == job_id
    code, out, _ = cli("outputs", job_id)
    assert "qc/multiqc_report.html" in out and "counts.csv" in out
    target = tmp_path / "table.csv"
    code, _, err = cli("outputs", job_id, f"{job_id}.csv", "-o", str(target))
    assert code == 0 and target.read_bytes() == expected[f"{job_id}.csv"]
    code, _, err = cli("outputs", job_id, "../../etc/passwd", "-o", str(tmp_path / "x"))
    assert code == 2 and "DLI.0023" in err and not (tmp_path / "x").exists()


def test_outputs_link_prints_a_share_link_that_opens_without_a_token(cli, world, live):
    import httpx

    job_id = submit(world)
    expected = fake_outputs(world, job_id)
    code, out, err = cli("outputs", job_id, "--link", "--days", "2")
    assert code == 0, err
    url = out.strip()
    assert url.startswith(f"{live}/share/v1.{job_id}.") and url.endswith(f"/{job_id}/report.html")
    assert "until" in err
    r = httpx.get(url)  # no token
    assert r.status_code == 200 and r.content.endswith(expected["report.html"])
    assert r.headers["content-security-policy"].startswith("sandbox")
    code, _, err = cli("outputs", job_id, "--link", "--days", "99")
    assert code == 2 and "DLI.0001" in err and "days" in err


def test_jobs_delete_names_what_it_deletes_and_deletes_only_that(cli, world):
    job_id = submit(world)
    fake_outputs(world, job_id)
    folder = world["data"] / "out" / job_id
    (folder / "not-written-by-the-job.txt").write_text("x")
    from test_api_contract import set_status

    set_status(world, job_id, "FINISHED", end_time_ms=1)
    code, _, err = cli("jobs", "delete", job_id, "--yes")
    assert code == 0, err
    assert "deletes the 5 file(s) it wrote" in err and "share links" in err
    assert [p.name for p in folder.rglob("*") if p.is_file()] == ["not-written-by-the-job.txt"]


def test_serve_prints_the_console_link():
    line = serve_banner("0.0.0.0", 8765, "gj_abc")
    assert line == (
        "genejobs serving http://127.0.0.1:8765  console: "
        "http://127.0.0.1:8765/console#token=gj_abc&project=default"
    )
    assert serve_banner("127.0.0.1", 9000, None).endswith("console: http://127.0.0.1:9000/console")
    assert console_link("http://h:1/") == "http://h:1/console"


def test_jobs_wait_ends_with_the_result_paths(cli, world):
    job_id = submit(world)
    _named(world, job_id, "waited")
    fake_outputs(world, job_id)
    code, _, err = cli("jobs", "wait", job_id)
    assert code == 0
    assert "FINISHED" in err and "K1" in err and "W2" in err  # a line per sample
    data = world["data"]
    assert f"results table:  file://{data}/out/{job_id}.csv" in err
    assert f"report:         file://{data}/out/{job_id}/report.html" in err
    assert f"MultiQC:        file://{data}/out/{job_id}/qc/multiqc_report.html" in err
    assert f"/console#/jobs/{job_id}" in err
    failed = submit(world)
    engine = create_engine(world["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        c.execute(
            update(JobRow)
            .where(JobRow.job_id == failed)
            .values(status="FAILED", message="sample 'K1' read 2: truncated gzip")
        )
    engine.dispose()
    code, _, err = cli("jobs", "wait", failed)
    assert code == 1 and "truncated gzip" in err
