"""Alembic's entry point: runs revisions on the connection genejobs hands it.

``genejobs.jobs.store.migrations`` passes an open connection in ``config.attributes``;
``render_as_batch`` lets column changes work on SQLite (copy-and-move tables).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from genejobs.jobs.store.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # plain `alembic -x` use with sqlalchemy.url set in the config
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
