"""Engine and session factory for the job store: SQLite (WAL) or PostgreSQL, one code path."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from genejobs.jobs.store.migrations import ensure_schema


def now_ms() -> int:
    return int(time.time() * 1000)


def make_engine(database_url: str, *, migrate: bool = True) -> Engine:
    """Create the engine and bring the schema up to date (idempotent).

    SQLite gets WAL and a busy timeout so the API and the runner thread can share
    the file; PostgreSQL URLs (``postgresql://``) use psycopg 3. An empty database
    gets today's tables, an older one is migrated (``genejobs.jobs.store.migrations``).
    """
    url = database_url
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if migrate:
        ensure_schema(engine)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
