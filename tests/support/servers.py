"""Real servers for the integration suite: a PostgreSQL database of its own per test
and a Dask cluster started through the command-line entry points an operator uses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import create_engine, make_url, text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """``app`` on a real port of this machine (uvicorn in a thread); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 20 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def pg_database(server_url: str, prefix: str = "gj") -> Iterator[str]:
    """A new, empty database on ``server_url`` (``make test`` starts the server),
    dropped afterwards even if a process of the test still holds a connection."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A child in its own process group (so a kill takes its children too), logging to ``log``."""
    with open(log, "wb") as fh:
        return subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=fh,
            env=env,
            start_new_session=True,
        )


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(30)


@contextmanager
def dask_cluster(
    tmp_path: Path, n_workers: int = 2
) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """``dask scheduler`` and ``genejobs worker`` processes on loopback, one thread each.

    Yields the scheduler address and the processes (scheduler first) so a test can
    kill any of them.
    """
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"]
    procs = [
        start(
            [*scheduler, "--port", str(port), "--dashboard-address", ":0"],
            tmp_path / "scheduler.log",
        )
    ]
    for i in range(1, n_workers + 1):
        worker = [sys.executable, "-m", "genejobs.cli", "worker", address, "--nthreads", "1"]
        procs.append(start([*worker, "--name", f"w{i}"], tmp_path / f"w{i}.log"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="2s") as c:
                    workers = c.scheduler_info()["workers"]
                    if len(workers) == n_workers:
                        assert all(w["resources"].get("align") == 1 for w in workers.values())
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Dask cluster did not come up"
            time.sleep(0.5)
        yield address, procs
    finally:
        for p in procs:
            kill(p)
