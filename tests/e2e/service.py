"""`genejobs serve` as its own process, as a user starts it: the e2e suites' one server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CLI = [sys.executable, "-m", "genejobs.cli"]


@dataclass(frozen=True)
class Served:
    url: str
    token: str  # the admin token serve created in GENEJOBS_HOME
    proc: subprocess.Popen[str]  # stdout: serve's banner line; stderr: root/serve.log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(root: Path, env: dict[str, str], *, start_timeout_s: float = 90) -> Iterator[Served]:
    """Start ``genejobs serve`` on a free port, wait for /healthz, stop it (its group) after."""
    port = free_port()
    with open(root / "serve.log", "w") as log:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout_s
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, (root / "serve.log").read_text()
                assert time.monotonic() < deadline, "genejobs serve did not start"
                time.sleep(0.3)
            token = (Path(env["GENEJOBS_HOME"]) / "token").read_text().strip()
            yield Served(url=url, token=token, proc=proc)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
