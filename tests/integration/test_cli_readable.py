"""The CLI against a real HTTP server: tables, summaries and outputs fetched through the API.

The server is the contract tests' app (real SQLite, real local files) under uvicorn
in a thread; the CLI runs in-process with ``GENEJOBS_URL``/``GENEJOBS_TOKEN``.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, update

from genejobs.cli.main import console_link, main, serve_banner
from genejobs.jobs.store.models import JobRow
from support.api import fake_outputs, submit
from support.servers import serve_app


@pytest.fixture(scope="module")
def live(world):
    with serve_app(world["client"].app) as url:
        yield url


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
    from support.api import set_status

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


def _copy_job(world, job_id: str, new_id: str, **values) -> None:
    """A second job row with a chosen id (to make two ids share a prefix)."""
    engine = create_engine(world["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        row = dict(
            c.execute(JobRow.__table__.select().where(JobRow.job_id == job_id)).mappings().one()
        )
        c.execute(
            JobRow.__table__.insert().values(row | {"job_id": new_id, "table_claim": None} | values)
        )
    engine.dispose()


def test_a_unique_prefix_of_six_characters_is_a_job_id(cli, world):
    job_id = submit(world)
    _named(world, job_id, "short-id")
    code, out, _ = cli("jobs", "show", job_id[:8])
    assert code == 0 and job_id in out and "short-id" in out
    code, out, _ = cli("jobs", "show", job_id[:6].upper(), "--json")
    assert code == 0 and json.loads(out)["job_id"] == job_id
    code, out, _ = cli("outputs", job_id[:7])
    assert code == 0
    # too short, unknown, and two jobs sharing the prefix: each named
    code, _, err = cli("jobs", "show", job_id[:5])
    assert code == 2 and "at least 6" in err
    code, _, err = cli("jobs", "show", "ffffff0")
    assert code == 2 and "DLI.0023" in err and "starting 'ffffff0'" in err
    twin = "abcdef12-0000-4000-8000-000000000001"
    _copy_job(world, job_id, twin)
    _copy_job(world, job_id, "abcdef34-0000-4000-8000-000000000002")
    code, _, err = cli("jobs", "show", "abcdef")
    assert code == 2 and "ambiguous" in err and twin in err
    assert "abcdef34-0000-4000-8000-000000000002" in err
    code, out, _ = cli("jobs", "show", "abcdef1")
    assert code == 0 and twin in out


def test_the_id_prefix_lookup_stays_within_the_callers_jobs(world):
    from support.api import assert_error, call

    mine = submit(world, token="admin_a")
    other = submit(world, token="admin_b", project="B")
    r = call(world, "GET", "/jobs", params={"id_prefix": mine[:8], "limit": 2})
    assert [j["job_id"] for j in r.json()["jobs"]] == [mine]
    r = call(world, "GET", "/jobs", params={"id_prefix": other[:8], "limit": 2})
    assert r.json()["job_count"] == 0  # another project's job is not found by its prefix
    assert_error(call(world, "GET", "/jobs", params={"id_prefix": "abc"}), 400, "DLI.0001")
    assert_error(call(world, "GET", "/jobs", params={"id_prefix": "zzzzzz"}), 400, "DLI.0001")


def test_stats_is_a_table_and_json_keeps_the_raw_answer(cli, world):
    submit(world)
    code, out, _ = cli("stats")
    assert code == 0 and "launching" in out and "all (" in out and "alice" in out
    assert "{" not in out
    code, out, _ = cli("stats", "--json")
    raw = json.loads(out)
    assert raw["total_launching_num"] >= 1 and "users" in raw


def test_a_refused_token_says_where_a_token_comes_from(cli, monkeypatch):
    monkeypatch.setenv("GENEJOBS_TOKEN", "gj_wrong")
    code, _, err = cli("jobs", "list")
    assert code == 2 and "DLI.0013" in err
    assert "GENEJOBS_TOKEN" in err and "genejobs token create" in err


def test_ref_list_asks_the_service(live, world, monkeypatch, capsys, tmp_path):
    from genejobs.cli.main import main as cli_main

    monkeypatch.setenv("GENEJOBS_URL", live)
    monkeypatch.setenv("GENEJOBS_TOKEN", world["tokens"]["admin_a"])
    monkeypatch.setenv("GENEJOBS_HOME", str(tmp_path / "empty-home"))
    assert cli_main(["ref", "list", "--project", "A"]) == 0
    out = capsys.readouterr().out
    assert f"references on {live}" in out and "hg38" in out and "gencode.v28.annotation.gtf" in out
    # --local reads this machine's (empty) registry instead
    assert cli_main(["ref", "list", "--local"]) == 0
    assert "hg38" not in capsys.readouterr().out


def test_a_cancelled_samples_duration_stops_at_the_jobs_end(cli, world):
    from genejobs.jobs.store.models import SampleStateRow

    job_id = submit(world)
    engine = create_engine(world["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        c.execute(
            update(JobRow)
            .where(JobRow.job_id == job_id)
            .values(status="CANCELLED", run_started_ms=1_000_000, end_time_ms=1_090_000)
        )
        c.execute(
            update(SampleStateRow)
            .where(SampleStateRow.job_id == job_id)
            .values(state="RUNNING", started_ms=1_000_000, ended_ms=None)
        )
    engine.dispose()
    code, out, _ = cli("jobs", "show", job_id, "--json")
    assert {s["duration_ms"] for s in json.loads(out)["samples"]} == {90_000}
    code, out, _ = cli("jobs", "show", job_id)
    assert "1 min 30 s" in out


def test_notes_are_plain_words_and_information_is_not_a_warning(cli, world):
    job_id = submit(world)
    warnings = [
        "library_type auto: the reads look fr-firststrand",
        "As the residual degrees of freedom is less than 3, the distribution ...",
    ]
    engine = create_engine(world["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        c.execute(
            update(JobRow)
            .where(JobRow.job_id == job_id)
            .values(warnings_json=json.dumps(warnings), status="FINISHED")
        )
    engine.dispose()
    code, out, _ = cli("jobs", "show", job_id, "--json")
    notes = json.loads(out)["notes"]
    assert [n["level"] for n in notes] == ["info", "warning"]
    assert notes[0]["plain"].startswith("No library type was declared")
    assert json.loads(out)["warnings"] == warnings  # the contract's field unchanged
    code, out, _ = cli("jobs", "show", job_id)
    assert "note: No library type was declared" in out
    assert "warning: There are very few samples per group" in out
    assert "warning: library_type" not in out
