"""``POST .../references``: administrators only, catalogue names only, one fetch at a
time, run by a background process that registers the reference."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from genejobs.references.registry import ReferenceRegistry
from genejobs.sim.simulate import SimConfig, simulate
from genejobs.sim.upstream import serve, write_upstream
from support.api import assert_error, call

pytestmark = pytest.mark.integration


def test_an_admin_fetches_a_reference_in_the_background(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulate(tmp_path / "sim", SimConfig(n_genes=40, write_reads=False, seed=5))
    up = tmp_path / "upstream"
    write_upstream(up, Path(sim.genome), Path(sim.gtf), Path(sim.truth_genes))
    monkeypatch.setenv("GENEJOBS_REFERENCE_CATALOGUE", str(up / "catalogue.yaml"))
    assert_error(
        call(world, "POST", "/references", token="user_a", json={"name": "SIM1"}), 403, "DLI.0013"
    )
    assert_error(call(world, "GET", "/references/fetch", token="user_a"), 403, "DLI.0013")
    r = call(world, "POST", "/references", json={"name": "SIMM1"})
    assert_error(r, 400, "DLI.0002")
    assert "did you mean SIM1" in r.json()["error_msg"]
    with serve(up) as url:
        monkeypatch.setenv("GENEJOBS_REFERENCE_MIRROR", url)
        r = call(world, "POST", "/references", json={"name": "SIM1-ensembl"})
        assert r.status_code == 202, r.text
        assert r.json()["state"] == "running"
        assert_error(call(world, "POST", "/references", json={"name": "SIM1"}), 400, "DLI.0012")
        deadline = time.time() + 240
        while time.time() < deadline:
            st = call(world, "GET", "/references/fetch").json()
            if st["state"] != "running":
                break
            time.sleep(0.5)
    assert st["state"] == "succeeded", st
    root = world["service"].settings.reference_root
    assert ReferenceRegistry(root).get("SIM1-ensembl-1").provenance["source"] == "ensembl"
