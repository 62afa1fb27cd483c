"""Enrichment from a fetched reference's gene sets, as a reader sees it in Chromium.

The reference is fetched by name (`fetch_reference`) from a local HTTP mirror of the
upstream layout built from the simulator's genome (GENCODE-shaped files with MD5SUMS,
GO's ontology and GAF, Reactome's mapping); a real job runs on it through the runner
with no GMT; the report's enrichment section is then used in headless Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chromium import Page

from genejobs.jobs.run.executor import close_client, make_client
from genejobs.jobs.run.runner import Runner
from genejobs.references.catalogue import load_catalogue
from genejobs.references.fetch import FetchOptions, fetch_reference
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim.simulate import SimConfig, simulate
from genejobs.sim.upstream import serve, write_upstream
from support.runner import add_job, load_job, make_settings

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("chromium")]
READY = "document.body && (document.body.dataset.ready || document.body.dataset.error)"


def test_fetched_gene_sets_give_an_enrichment_section_that_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = simulate(
        tmp_path / "sim",
        SimConfig(n_genes=150, samples_per_group=3, pairs_per_sample=6000, seed=4),
    )
    up = tmp_path / "upstream"
    write_upstream(up, Path(manifest.genome), Path(manifest.gtf), Path(manifest.truth_genes))
    monkeypatch.setenv("GENEJOBS_REFERENCE_CATALOGUE", str(up / "catalogue.yaml"))
    settings = make_settings(tmp_path, dask_workers=1, threads_per_worker=2)
    catalogue = load_catalogue()
    with serve(up) as url:
        fetch_reference(
            ReferenceRegistry(settings.reference_root),
            catalogue,
            catalogue.get("SIM1"),
            FetchOptions(mirrors={"*": url}, transcriptome=False),
        )
    client = make_client(settings)
    try:
        job_id = add_job(
            settings,
            manifest.groups,
            library_type=manifest.library_type,
            reads={n: tuple(f) for n, f in manifest.reads.items()},
            ref="SIM1-gencode-1",
            gtf="gencode.v1.primary_assembly.annotation.gtf.gz",
            extra={"name": "Fetched reference"},
        )
        assert Runner(settings, runner_id="enr", client=client).run_once() == job_id
    finally:
        close_client(client)
    row, _ = load_job(settings, job_id)
    assert row.status == "FINISHED", row.message
    folder = Path(json.loads(row.outputs_json)["table"]).parent / job_id
    assert (folder / "enrichment" / "W_vs_K_GO_ora_up.csv").is_file()

    browser = Page(tmp_path / "chromium")
    try:
        browser.open(f"file://{folder / 'report.html'}")
        assert browser.wait_for(READY, 60) == "1", browser.js("document.body.dataset.error")
        options = browser.js("[...document.querySelectorAll('#enr-pick option')].map(o => o.value)")
        assert "W vs K | GO | ORA up" in options and "W vs K | Reactome | GSEA" in options
        # The dot plot shows the picked table; its top set is the simulated up-regulation.
        browser.js(
            "(s => { s.value = 'W vs K | GO | ORA up'; s.dispatchEvent(new Event('change')); })"
            "(document.getElementById('enr-pick'))"
        )
        browser.wait_for(
            "document.getElementById('plot-enrichment').data[0].y.includes('GO:0090002 simulated up-regulation') || null",
            10,
        )
        ys = browser.js("document.getElementById('plot-enrichment').data[0].y")
        assert ys[-1] == "GO:0090002 simulated up-regulation"  # drawn top = most significant
        # The table's search box narrows the rows to matching terms.
        browser.js("document.getElementById('enr-search').focus()")
        browser.type_text("pathway up")
        terms = browser.js(
            "[...document.querySelectorAll('#enr-table tbody tr')].map(r => r.cells[3].textContent)"
        )
        assert terms and all(t == "R-SIM-0001 Simulated pathway up" for t in terms)
        note = browser.js("document.querySelector('#enrichment .note').textContent")
        assert "GO (2024-06-17), from reference SIM1-gencode-1" in note
        prov = browser.js("document.body.textContent")
        assert "SIM1-gencode: gencode release 1" in prov and "checksums verified" in prov
        browser.js("document.getElementById('enrichment').scrollIntoView()")
        browser.screenshot(tmp_path / "enrichment.png")
        assert (tmp_path / "enrichment.png").stat().st_size > 20_000
    finally:
        browser.close()
