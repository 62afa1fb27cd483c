"""The report as a biologist sees it: a real job's report.html and MultiQC report in Chromium.

One small simulated job with QC runs through the real runner (Dask, alignment,
counting, PyDESeq2, RSeQC, MultiQC); headless Chromium (Debian's package, driven by Selenium,
see ``chromium.py``) then loads its files and uses them as a reader
would: hovers the volcano's data, searches a gene, pages through the table, reads
the Methods paragraph.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from chromium import Page

from genejobs.jobs.run.executor import close_client, make_client
from genejobs.jobs.run.runner import Runner
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim.simulate import SimConfig, simulate
from support.runner import add_job, load_job, make_settings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("chromium"),  # skipped locally without it, a failure in CI
]
# Markup in the job's name (stored XSS, issue 23): it must show as text in both reports.
MARKUP = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>\\'
NAME = f"Liver time course {MARKUP}"
NO_XSS = "window.__xss === undefined && !document.querySelector('img[src=x]')"
READY = "document.body && (document.body.dataset.ready || document.body.dataset.error)"


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory):
    """A finished QC job: its artifacts folder, table, run.json, sample names."""
    tmp = tmp_path_factory.mktemp("report-job")
    manifest = simulate(
        tmp / "sim", SimConfig(n_genes=60, samples_per_group=3, pairs_per_sample=3000, seed=11)
    )
    settings = make_settings(tmp, dask_workers=1, threads_per_worker=2)
    ReferenceRegistry(settings.reference_root).add(
        "mini", Path(manifest.genome), [("mini.gtf", Path(manifest.gtf))]
    )
    client = make_client(settings)
    try:
        runner = Runner(settings, runner_id="report-runner", client=client)
        job_id = add_job(
            settings,
            manifest.groups,
            library_type=manifest.library_type,
            reads={n: tuple(f) for n, f in manifest.reads.items()},
            extra={
                "is_export_qc": True,
                "bed": manifest.bed,
                "name": NAME,
                "adapt": "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA",
            },
        )
        assert runner.run_once() == job_id
    finally:
        close_client(client)
    row, _ = load_job(settings, job_id)
    assert row.status == "FINISHED", row.message
    table_path = Path(json.loads(row.outputs_json)["table"])
    folder = table_path.parent / job_id
    return {
        "id": job_id,
        "settings": settings,
        "folder": folder,
        "table": pd.read_csv(table_path),
        "run": json.loads((folder / "run.json").read_text()),
        "samples": list(manifest.reads),
        "normalized": pd.read_csv(folder / "normalized_counts.csv", index_col=0),
    }


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    b = Page(tmp_path_factory.mktemp("chromium"))
    yield b
    b.close()


def test_the_report_of_a_real_job_works_in_chromium(job, browser, tmp_path):
    browser.open(f"file://{job['folder'] / 'report.html'}")
    assert browser.wait_for(READY, 60) == "1", browser.js("document.body.dataset.error")
    table = job["table"]
    tested = table.dropna(subset=["padj"])

    # The volcano holds every tested gene, with its id, log2FC, padj and baseMean on hover.
    traces = browser.js(
        "document.getElementById('plot-volcano').data.slice(0, 3)"
        ".map(t => ({n: t.x.length, text: t.text.slice(0, 1)}))"
    )
    assert sum(t["n"] for t in traces) == len(tested)
    hover = next(t["text"][0] for t in traces if t["n"])
    assert all(word in hover for word in ("log2FC", "padj", "baseMean"))
    assert any(g in hover for g in table["gene_id"])
    up = int(((tested["padj"] < 0.05) & (tested["log2FoldChange"] > 0)).sum())
    title = browser.js("document.getElementById('plot-volcano').layout.title.text")
    assert f"{up} up" in title

    # The table pages through every gene (one comparison: one row per gene), significant first.
    first = browser.js("document.querySelector('#genes tbody tr').dataset.gene")
    assert (
        table.set_index("gene_id").loc[first, "padj"] == tested["padj"].min()
    )  # significant first
    seen: list[str] = []
    for _ in range(len(table)):
        seen += browser.js(
            "[...document.querySelectorAll('#genes tbody tr')].map(r => r.dataset.gene)"
        )
        if browser.js("document.getElementById('t-next').disabled"):
            break
        browser.js("document.getElementById('t-next').click()")
    assert sorted(seen) == sorted(table["gene_id"])

    # Searching a gene (typed, Enter) highlights it and draws its counts per sample.
    gene = table.sort_values("padj").iloc[0]
    browser.js("document.getElementById('gene-search').focus()")
    browser.type_text(str(gene["gene_name"]))
    browser.key("Enter")
    assert browser.wait_for("document.body.dataset.selected", 10) == gene["gene_id"]
    mark = browser.js(
        "(d => ({x: d[3].x, y: d[3].y}))(document.getElementById('plot-volcano').data)"
    )
    assert mark["x"] == [pytest.approx(gene["log2FoldChange"], rel=1e-3)]
    assert mark["y"] == [pytest.approx(-np.log10(gene["padj"]), rel=1e-3)]
    shown = browser.js(
        "document.getElementById('plot-gene').data.flatMap(t => t.text.map((s, i) => [s, t.y[i]]))"
    )
    assert sorted(s for s, _ in shown) == sorted(job["samples"])
    want = job["normalized"].loc[gene["gene_id"]]
    for sample, y in shown:
        assert y - 0.5 == pytest.approx(want[sample], rel=0.04, abs=0.05)

    # The Methods paragraph names the versions run.json records.
    methods = browser.js("document.getElementById('methods-text').textContent")
    v = job["run"]["versions"]
    for phrase in (
        f"cutadapt {v['cutadapt']}",
        f"minimap2 {v['mappy']}",
        f"PyDESeq2 {v['pydeseq2']}",
        f"RSeQC {v['RSeQC']}",
        f"MultiQC {v['multiqc']}",
    ):
        assert phrase in methods
    assert (job["folder"] / "methods.md").read_text().count(f"PyDESeq2 {v['pydeseq2']}") == 1
    assert browser.js("document.querySelector('a[href=\"qc/multiqc_report.html\"]') !== null")
    assert browser.js("document.querySelector('h1').textContent").strip().endswith(NAME)
    assert browser.js(NO_XSS)
    browser.screenshot(tmp_path / "report.png", full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_multiqc_lists_one_general_statistics_row_per_sample(job, browser):
    qc = job["folder"] / "qc"
    stats = (qc / "multiqc_data" / "multiqc_general_stats.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in stats[1:]) == sorted(job["samples"])
    browser.open(f"file://{qc / 'multiqc_report.html'}")
    rows_js = (
        "[...document.querySelectorAll('tr[data-table-id=\"general_stats_table\"]')]"
        ".filter(r => !r.classList.contains('expandable-row-secondary') && r.offsetParent)"
        ".map(r => r.querySelector('.th-sample-name').textContent.trim())"
    )
    rows = browser.wait_for(f"(r => r.length && r)({rows_js})", 30)
    assert sorted(rows) == sorted(job["samples"])
    title = browser.js("document.title")
    assert NAME in title  # the name as typed, not a staging path
    assert NAME in browser.js("document.querySelector('.side-nav-title').textContent")
    assert browser.js(NO_XSS)
    assert "FastQC 0.12" not in (qc / "multiqc_data" / "multiqc_software_versions.txt").read_text()
    # our read QC is titled as ours, and a small sample's reads are counted, not "0.0M"
    titles = browser.wait_for(
        "(t => t.length && t)([...document.querySelectorAll('.gtitle')].map(e => e.textContent))",
        30,
    )
    assert any(t.startswith("Read QC (genejobs): Sequence Counts") for t in titles), titles
    assert not any(t.startswith("FastQC:") for t in titles), titles
    seqs = browser.js(
        "[...document.querySelectorAll('#general_stats_table tbody td')].map(e => e.textContent)"
        ".filter(t => /^\\s*[0-9][0-9\\s,.]*[KM]?\\s*$/.test(t)).join('|')"
    )
    assert "0.0M" not in seqs, seqs


@pytest.fixture(scope="module")
def served(job, tmp_path_factory: pytest.TempPathFactory):
    """The API over the report job's store, on a real port (uvicorn in a thread)."""
    import threading

    import uvicorn
    from service import free_port

    from genejobs.api.app import create_app
    from genejobs.jobs.service import JobService
    from genejobs.storage import Storage

    settings = job["settings"]
    service = JobService(settings, storage=Storage.from_settings(settings), references=dict)
    token = service.create_token(user="ana", projects=["p1"], admin=True)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, service=service), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(10)
    service.close()


def test_the_report_opened_from_its_share_link_has_working_relative_links(
    job, served, browser, tmp_path
):
    """Issue 26.1: a share link is a real URL; the report's links to MultiQC, the table,
    methods.md and the figures resolve under the same signed token, with no API token,
    and the page runs in an opaque origin (no access to the console's storage)."""
    import httpx

    url, token = served
    r = httpx.post(
        f"{url}/v2.0/p1/gene/jobs/{job['id']}/share",
        params={"days": 2},
        headers={"X-Auth-Token": token},
    )
    assert r.status_code == 200, r.text
    link = r.json()["url"]
    root = link.rsplit("/", 2)[0]
    browser.open(link)
    assert browser.wait_for(READY, 60) == "1", browser.js("document.body.dataset.error")
    assert browser.js("window.origin") == "null"  # sandboxed: an opaque origin
    assert browser.js("localStorage.getItem('genejobs.token')") is None
    shots = Path(__import__("os").environ.get("GENEJOBS_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    browser.screenshot(shots / "shared-report.png")
    # the table link: the browser resolves ../<table>.csv under the token and downloads it
    table_name = f"{job['id']}.csv"
    href = browser.js("document.querySelector('a.download').href")
    assert href == f"{root}/{table_name}"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.js("document.querySelector('a.download').click()")
    deadline = time.monotonic() + 20
    while not (downloads / table_name).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    stored = (job["folder"].parent / table_name).read_bytes()
    assert (downloads / table_name).read_bytes() == stored
    # the MultiQC link, clicked as a reader would: MultiQC loads and renders
    browser.js("document.querySelector('a[href=\"qc/multiqc_report.html\"]').click()")
    assert browser.wait_for("location.pathname.endsWith('/qc/multiqc_report.html')", 30)
    assert browser.wait_for(
        "document.readyState === 'complete' && document.title.includes('MultiQC')"
        " && [...document.querySelectorAll('.mqc_loading_warning')]"
        ".every(e => e.offsetParent === null)",
        60,
    )
    assert browser.js("window.origin") == "null"
    assert browser.js("location.href").startswith(root + "/")
    browser.screenshot(shots / "shared-multiqc.png")
    # methods.md and a figure, as the report links them
    browser.open(link)
    assert browser.wait_for(READY, 60) == "1"
    svg = browser.js("[...document.links].map(a => a.href).filter(h => h.endsWith('.svg'))")
    assert svg and all(h.startswith(f"{root}/{job['id']}/plots/") for h in svg)
    browser.js("document.querySelector('a[href=\"methods.md\"]').click()")
    assert browser.wait_for("location.pathname.endsWith('/methods.md')", 30)
    assert browser.wait_for("document.body && document.body.innerText.includes('# Methods')", 30)
    browser.open(svg[0])  # a figure opens (sandboxed: its scripts, if any, reach nothing)
    assert browser.wait_for("document.documentElement.tagName.toLowerCase() === 'svg'", 30)
    # an altered link is refused with its reason
    browser.open(link.replace("/share/v1.", "/share/v1.0"))
    assert browser.wait_for("document.body && document.body.innerText.includes('DLI.0013')", 30)
