"""Fixtures every level shares: one real SeaweedFS S3 server per test session, and the
external programs a test needs (skipped locally when missing, a failure in CI).

``s3_server`` is started lazily (only sessions that ask for it pay the ~2-5 s)
and stopped at the end of the session; ``s3_storage`` is a ``Storage`` that
signs requests with the server's credentials. Plain helpers live in ``support/``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from genejobs.storage import Storage
from genejobs.storage.seaweed import LocalS3Server
from support.tools import need_program


@pytest.fixture(scope="session")
def salmon() -> str:
    """salmon ("quantifier": "transcripts"); use as ``pytest.mark.usefixtures("salmon")``."""
    return need_program("salmon", "scripts/ensure-salmon.sh installs it (make venv does)")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    server = LocalS3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_storage(s3_server: LocalS3Server) -> Storage:
    return Storage(
        s3_endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
    )
