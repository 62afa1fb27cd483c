"""A single-end job's report in Chromium: it speaks of reads, not read pairs; Methods says
single-end; the notes say why inner_distance did not run; MultiQC lists every sample.

One small single-end job with QC (the simulator's read 1 split in 2 lanes) runs
through the real runner; headless Chromium loads its report as a reader would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chromium import Page

from genejobs.jobs.run.executor import close_client, make_client
from genejobs.jobs.run.runner import Runner
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim.simulate import SimConfig, simulate
from support.runner import add_job, load_job, make_settings

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("chromium")]
READY = "document.body && (document.body.dataset.ready || document.body.dataset.error)"
SHOTS = Path(__file__).resolve().parents[2] / ".tmp" / "screenshots"


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("se-report-job")
    manifest = simulate(
        tmp / "sim",
        SimConfig(
            n_genes=60,
            samples_per_group=2,
            pairs_per_sample=3000,
            seed=11,
            single_end=True,
            lanes=2,
        ),
    )
    settings = make_settings(tmp, dask_workers=1, threads_per_worker=2)
    ReferenceRegistry(settings.reference_root).add(
        "mini", Path(manifest.genome), [("mini.gtf", Path(manifest.gtf))]
    )
    client = make_client(settings)
    try:
        runner = Runner(settings, runner_id="se-report-runner", client=client)
        job_id = add_job(
            settings,
            manifest.groups,
            library_type=manifest.library_type,
            runs=manifest.runs,
            extra={"is_export_qc": True, "bed": manifest.bed, "name": "Single-end liver"},
        )
        assert runner.run_once() == job_id
    finally:
        close_client(client)
    row, _ = load_job(settings, job_id)
    assert row.status == "FINISHED", row.message
    folder = Path(json.loads(row.outputs_json)["table"]).parent / job_id
    return {"folder": folder, "samples": list(manifest.reads)}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    b = Page(tmp_path_factory.mktemp("chromium"))
    yield b
    b.close()


def test_a_single_end_report_speaks_of_reads_and_says_why_inner_distance_is_missing(
    job, browser
) -> None:
    browser.open(f"file://{job['folder'] / 'report.html'}")
    assert browser.wait_for(READY, 60) == "1", browser.js("document.body.dataset.error")
    text = browser.js("document.body.innerText")
    headers = browser.js("[...document.querySelectorAll('table.qc th')].map(t => t.innerText)")
    assert "reads" in headers and "read pairs" not in headers
    assert "Single-end reads of 4 samples" in text
    assert "inner_distance.py skipped: single-end reads have no mate" in text
    assert "reads\tsingle-end" in text  # the Parameters table
    rows = browser.js("[...document.querySelectorAll('table.qc tbody tr')].map(r => r.innerText)")
    assert len(rows) == len(job["samples"])
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SHOTS / "single_end_report.png", full_page=True)

    browser.open(f"file://{job['folder'] / 'qc' / 'multiqc_report.html'}")
    browser.wait_for("document.readyState === 'complete'", 60)
    page = browser.js("document.body.innerText")
    assert all(name in page for name in job["samples"])
    assert "inner_distance" not in browser.js(
        "[...document.querySelectorAll('h2, h3')].map(h => h.innerText).join(' ')"
    )
    browser.screenshot(SHOTS / "single_end_multiqc.png")
