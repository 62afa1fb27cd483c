"""The console's browser tests share one ``genejobs serve`` on simulated reads (a session
fixture: started once, by the first test that asks) and one finished job made through
the API for the tests that read a job rather than build one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chromium import CHROMIUM
from service import serve

from genejobs.config import Settings
from genejobs.references.registry import registry_for
from genejobs.sim import SimConfig, simulate
from support.console import GTF, REF, reads_request, wait_status
from support.tools import missing


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium; use as ``pytest.mark.usefixtures("chromium")``."""
    if CHROMIUM is None:
        missing("Chromium", "scripts/ensure-chromium.sh installs it (make test runs it)")
    assert CHROMIUM is not None
    return CHROMIUM


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("console")
    data = root / "data"
    manifest = simulate(
        data / "sim",
        SimConfig(n_genes=120, pairs_per_sample=2000, samples_per_group=2, groups=("K", "W")),
    )
    env = dict(os.environ)
    env.update(
        GENEJOBS_HOME=str(root / "home"),
        GENEJOBS_ALLOWED_ROOTS=str(data),
        GENEJOBS_DASK_WORKERS="1",
        GENEJOBS_THREADS_PER_WORKER="2",
    )
    registry_for(Settings.from_env(env)).add(
        REF, Path(manifest.genome), [(GTF, Path(manifest.gtf))], beds=(str(manifest.bed),)
    )
    with serve(root, env) as served:
        url, token = served.url, served.token
        assert served.proc.stdout is not None
        banner = served.proc.stdout.readline().strip()
        link = banner.rsplit("console: ", 1)[1]
        assert link == f"{url}/console#token={token}&project=default", banner
        http = httpx.Client(
            base_url=f"{url}/v2.0/default/gene", headers={"X-Auth-Token": token}, timeout=30
        )
        yield {
            "root": root,
            "data": data,
            "manifest": manifest,
            "http": http,
            "url": url,
            "token": token,
            "console_link": link,
            "proc": served.proc,
        }


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A desktop-sized Chromium (Selenium), its downloads in ``browser.downloads``."""
    from chromium import open_chrome

    with open_chrome(tmp_path) as driver:
        yield driver


@pytest.fixture(scope="session")
def finished_job(console_server: dict[str, Any]) -> dict[str, Any]:
    """A named job, submitted through the API and finished (no QC: quick)."""
    http = console_server["http"]
    req = reads_request(console_server, name="liver KO vs WT", library_type="auto")
    r = http.post("/jobs", json=req)
    assert r.status_code == 201, r.text
    return wait_status(http, r.json()["job_id"], ("FINISHED",))
