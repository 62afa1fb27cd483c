"""Schema migrations on real SQLite and PostgreSQL databases.

A database from before migrations existed (the baseline tables, no ``alembic_version``,
jobs in it) is brought up to date by the first engine genejobs opens on it, however
many open it at once, and its jobs stay intact and listable. The revisions build exactly
the tables ``jobs/store/models.py`` declares, so a model change without a revision fails here.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from genejobs.cli import main as cli_main
from genejobs.config import Settings
from genejobs.jobs.service import JobService
from genejobs.jobs.store import migrations
from genejobs.jobs.store.auth import Principal
from genejobs.jobs.store.db import make_engine
from genejobs.storage import Storage


def _raw(url: str):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


# What ``create_all`` made before migrations existed, as revisions: the first schema, and
# the one after notifications and WES runs landed (project_locks came with migrations).
OLD_SCHEMAS = {
    "first": (migrations.BASELINE, []),
    "with notifications": ("0003", ["project_locks"]),
}


def _old_database(url: str, jobs: int, schema: str = "first") -> None:
    """The tables genejobs created before migrations, without a version table, with jobs."""
    revision, absent = OLD_SCHEMAS[schema]
    engine = _raw(url)
    with engine.begin() as conn:
        command.upgrade(migrations.config(conn), revision)
        conn.execute(text("DROP TABLE alembic_version"))
        for table in absent:
            conn.execute(text(f"DROP TABLE {table}"))
        for i in range(jobs):
            conn.execute(
                text(
                    "INSERT INTO jobs (job_id, project_id, owner, job_type, status, request_json,"
                    " start_time_ms, run_started_ms, end_time_ms, steps_total, steps_done,"
                    " message, warnings_json, input_size_bytes, outputs_json, attempts)"
                    " VALUES (:id, 'P', 'alice', 'RNA_DIFF_EXPR', :status, :req, :t, :t, :end,"
                    " 3, 3, '', '[]', 100, '{}', 1)"
                ),
                {
                    "id": f"00000000-0000-0000-0000-{i:012d}",
                    "status": "FINISHED" if i % 2 else "LAUNCHING",
                    "req": json.dumps({"output": f"s3a://b/out/{i}.csv"}),
                    "t": 1_700_000_000_000 + i,
                    "end": 1_700_000_000_500 + i if i % 2 else None,
                },
            )
            conn.execute(
                text(
                    "INSERT INTO job_samples (job_id, sample_name, position, group_name, state,"
                    " step, fraction_done, pairs_done, from_cache, stats_json)"
                    " VALUES (:id, 'K1', 0, 'K', 'DONE', 'count', 1.0, 10, false, '{}')"
                ),
                {"id": f"00000000-0000-0000-0000-{i:012d}"},
            )
    assert "alembic_version" not in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.parametrize("schema", list(OLD_SCHEMAS))
def test_an_old_database_is_upgraded_at_start_and_its_jobs_stay_listable(
    database_url, tmp_path, schema
):
    _old_database(database_url, jobs=5, schema=schema)
    settings = Settings.from_env(
        env={"GENEJOBS_HOME": str(tmp_path / "home")}, database_url=database_url
    )
    # API servers and runners starting together: one upgrades, the others wait for it
    with ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _: make_engine(database_url), range(4)))
    for engine in engines:
        engine.dispose()
    engine = _raw(database_url)
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
    assert migrations.differences(engine) == []
    engine.dispose()

    service = JobService(settings, storage=Storage.from_settings(settings), references=dict)
    try:
        admin = Principal(user="alice", role="admin", projects=("P",))
        count, rows = service.list_jobs(principal=admin, project_id="P", limit=100)
        assert count == 5
        assert sorted(r["job_id"][-1] for r in rows) == list("01234")
        finished = next(r for r in rows if r["job_id"].endswith("1"))
        assert finished["status"] == "FINISHED" and finished["duration"] == 500
        assert json.loads(finished["request"]) == {"output": "s3a://b/out/1.csv"}
        detail = service.get_job(principal=admin, project_id="P", job_id=finished["job_id"])
        assert [s["sample_name"] for s in detail["samples"]] == ["K1"]
        stats = service.statistics(principal=admin, project_id="P")
        assert stats["total_finished_num"] == 2 and stats["total_launching_num"] == 3
    finally:
        service.close()


def test_db_upgrade_command_reports_what_it_did(database_url, tmp_path, monkeypatch, capsys):
    _old_database(database_url, jobs=1)
    monkeypatch.setenv("GENEJOBS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GENEJOBS_DATABASE_URL", database_url)
    assert cli_main(["db", "upgrade"]) == 0
    assert f"upgraded from none to {migrations.head()}" in capsys.readouterr().out
    assert cli_main(["db", "upgrade"]) == 0
    assert f"up to date (revision {migrations.head()})" in capsys.readouterr().out


def test_the_revisions_build_exactly_the_models_tables(database_url):
    """Fails when jobs/store/models.py changed without a revision (``genejobs db revision``)."""
    engine = _raw(database_url)
    with engine.begin() as conn:
        command.upgrade(migrations.config(conn), "head")
    assert migrations.differences(engine) == []
    engine.dispose()


def test_an_empty_database_is_created_at_the_newest_revision(database_url):
    barrier = threading.Barrier(3)

    def open_engine(_):
        barrier.wait(10)
        return make_engine(database_url)

    with ThreadPoolExecutor(3) as pool:
        engines = list(pool.map(open_engine, range(3)))
    with engines[0].connect() as conn:
        assert migrations.current(conn) == migrations.head()
    assert migrations.differences(engines[0]) == []
    for engine in engines:
        engine.dispose()


def test_a_failed_upgrade_is_refused_naming_the_command(
    database_url, tmp_path, monkeypatch, capsys
):
    _old_database(database_url, jobs=1)
    engine = _raw(database_url)
    with engine.begin() as conn:  # a hand-made table in the way of revision 0002
        conn.execute(text("CREATE TABLE project_locks (something INTEGER)"))
    engine.dispose()
    monkeypatch.setenv("GENEJOBS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GENEJOBS_DATABASE_URL", database_url)
    assert cli_main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "error: the database schema is at revision none" in err, err
    assert "run `genejobs db upgrade`" in err and "Traceback" not in err
    with pytest.raises(migrations.SchemaError):
        make_engine(database_url)
    engine = _raw(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 1
    engine.dispose()
