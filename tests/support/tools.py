"""External programs and servers a test needs: skipped on a developer's machine that
lacks them, a failure in CI (``CI`` set), where every test must run."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def missing(what: str, how: str) -> None:
    """Skip (locally) or fail (CI) the test that needs ``what``; ``how`` says how to get it."""
    message = f"{what} is not available: {how}"
    if in_ci():
        pytest.fail(f"{message} (CI runs every test, so a missing tool is a failure)")
    pytest.skip(message)


def need_program(name: str, how: str) -> str:
    """The path of program ``name`` on PATH, or :func:`missing`."""
    path = shutil.which(name)
    if path is None:
        missing(f"the program '{name}'", how)
    assert path is not None
    return path


def pg_server_url() -> str | None:
    """The PostgreSQL server ``make test`` starts (``GENEJOBS_TEST_PG_URL``), if any."""
    return os.environ.get("GENEJOBS_TEST_PG_URL") or None


PG_HOW = (
    "set GENEJOBS_TEST_PG_URL (`make test` and `make test-integration` start a server; by "
    "hand: url=$(scripts/pg-test-server.sh start $PWD/.tmp/pg))"
)


def database_kinds() -> list[str]:
    """SQLite always; PostgreSQL when a server is there, and always in CI (where a missing
    server then fails the PostgreSQL cases instead of dropping them)."""
    return ["sqlite"] + (["postgresql"] if pg_server_url() or in_ci() else [])
