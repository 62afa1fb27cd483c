"""Schema migrations of the job store (Alembic), run by genejobs itself.

Every engine genejobs opens goes through ``ensure_schema``: an empty database gets
today's tables and is stamped at the newest revision; a database from before
migrations existed (tables, no ``alembic_version``) is stamped at ``BASELINE`` (the
schema genejobs had then) and upgraded; an older revision is upgraded. A lock (a
PostgreSQL advisory lock, a file lock beside a SQLite file) makes API servers and
runners that start together upgrade once.

To change the schema: edit ``jobs/store/models.py``, then ``genejobs db revision -m "what"``
writes the revision under ``versions/``; review it and commit both
(``tests/integration/test_migrations.py`` fails while models and revisions differ).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from genejobs.errors import GeneJobsError
from genejobs.jobs.store.models import Base

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
BASELINE = "0001"  # the schema of every database created before migrations existed
_PG_LOCK_KEY = 0x67656E656A6F6273 & 0x7FFFFFFFFFFFFFFF  # "genejobs"


class SchemaError(GeneJobsError):
    """The database's schema cannot be used by this version of genejobs."""


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None  # None: the database was empty
    after: str


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    rev = ScriptDirectory.from_config(config()).get_current_head()
    assert rev is not None
    return rev


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection holding the migration lock of this database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        with engine.connect() as conn:
            yield conn
        return
    with open(f"{database}.migrate-lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_schema(engine: Engine) -> UpgradeResult:
    """Create, adopt or upgrade the schema so this code can use the database."""
    newest = head()
    with _locked(engine) as conn:
        tables = inspect(conn).get_table_names()
        conn.rollback()
        if "jobs" not in tables:
            with conn.begin():
                Base.metadata.create_all(conn)
                command.stamp(config(conn), newest)
            return UpgradeResult(None, newest)
        before = current(conn)
        conn.rollback()
        if before == newest:
            return UpgradeResult(before, newest)
        scripts = ScriptDirectory.from_config(config())
        if before is not None and before not in {s.revision for s in scripts.walk_revisions()}:
            # a newer genejobs upgraded it (a rolling upgrade, or a rollback of this node)
            log.warning(
                "database schema is at revision %s, newer than this genejobs knows (%s)",
                before,
                newest,
            )
            return UpgradeResult(before, before)
        log.warning("upgrading the database schema from %s to %s", before or "before", newest)
        try:
            with conn.begin():
                cfg = config(conn)
                if before is None:
                    command.stamp(cfg, BASELINE)
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise SchemaError(
                f"the database schema is at revision {before or 'none (before migrations)'} "
                f"and this genejobs needs {newest}, but upgrading it failed ({reason}); "
                "run `genejobs db upgrade` as a database user allowed to change tables"
            ) from exc
        return UpgradeResult(before, newest)


def differences(engine: Engine) -> list[object]:
    """What the database lacks or has beyond ``models.py`` (empty when they agree)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def new_revision(message: str) -> str:
    """Write a revision for what ``models.py`` has beyond the newest one; its path."""
    with tempfile.TemporaryDirectory(prefix="genejobs-rev-") as tmp:
        engine = create_engine(f"sqlite:///{tmp}/head.db")
        try:
            with engine.begin() as conn:
                cfg = config(conn)
                command.upgrade(cfg, "head")
                number = len(list(ScriptDirectory.from_config(cfg).walk_revisions())) + 1
                script = command.revision(
                    cfg, message=message, autogenerate=True, rev_id=f"{number:04d}"
                )
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return str(script.path)
