"""Fixtures of the integration level: databases (SQLite, and PostgreSQL when a server is
there, always in CI) and the API ``world`` the contract tests share."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from genejobs.api.app import create_app
from genejobs.config import Settings
from genejobs.jobs.service import JobService
from genejobs.storage import Storage
from support.api import REFS
from support.servers import pg_database
from support.tools import PG_HOW, database_kinds, missing, pg_server_url


def _database(kind: str, folder: Path, prefix: str = "gj") -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'jobs.db'}"
        return
    server = pg_server_url()
    if server is None:
        missing("PostgreSQL", PG_HOW)
    assert server is not None
    with pg_database(server, prefix) as url:
        yield url


@pytest.fixture(params=database_kinds())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database for this test, once per database kind."""
    yield from _database(request.param, tmp_path)


@pytest.fixture(scope="module", params=database_kinds())
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database shared by the tests of a module (for module-scoped services)."""
    yield from _database(request.param, tmp_path_factory.mktemp("db"))


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A new, empty PostgreSQL database (no SQLite case): for what only PostgreSQL does."""
    yield from _database("postgresql", tmp_path, prefix="gj_pg")


@pytest.fixture(scope="module")
def world(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """An API app on a real database with four samples' files under an allowed root and
    three tokens (``admin_a``, ``user_a`` in project A; ``admin_b`` in project B)."""
    root = tmp_path_factory.mktemp("api")
    data = root / "data"
    data.mkdir()
    for sample in ("K1", "K2", "W1", "W2"):
        for mate in (1, 2):
            with gzip.open(data / f"{sample}_R{mate}.fastq.gz", "wt") as fh:
                fh.write(f"@{sample}.1/{mate}\nACGTACGTAC\n+\nIIIIIIIIII\n")
    settings = Settings.from_env(
        env={"GENEJOBS_HOME": str(root / "home"), "GENEJOBS_ALLOWED_ROOTS": str(data)},
        database_url=module_database_url,
        max_running_jobs_per_project=50,
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
        "data": data,
        "tokens": tokens,
        "url": module_database_url,
    }
    service.close()
