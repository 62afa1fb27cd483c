"""The report's reading aids in Chromium (reports rendered from real PyDESeq2 results,
no job needed): the volcano's lines at the tested threshold, a search that says so
when nothing matches, a searched gene colouring the PCA, a searched sample marked in
the PCA and the distance heatmap, and sample-subset views for a large study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from chromium import Page, Shots, require_chromium

from genejobs.pipeline.de import run_differential_expression
from genejobs.pipeline.records import LibraryType
from genejobs.report import render_report
from support.report import job_and_de

pytestmark = pytest.mark.e2e
READY = "document.body && (document.body.dataset.ready || document.body.dataset.error)"


def _open(tmp_path: Path, de, job) -> Page:  # type: ignore[no-untyped-def]
    require_chromium()
    page = tmp_path / "report.html"
    page.write_bytes(
        render_report(de, [], job=job, library_type=LibraryType.UNSTRANDED)["report.html"]
    )
    browser = Page(tmp_path / "chromium")
    browser.open(f"file://{page}")
    assert browser.wait_for(READY, 60) == "1", browser.js("document.body.dataset.error")
    return browser


def _search(browser: Page, text: str) -> None:
    browser.js("(b => { b.value = ''; b.focus(); })(document.getElementById('gene-search'))")
    browser.type_text(text)
    browser.key("Enter")


def test_threshold_lines_search_and_highlights(tmp_path: Path) -> None:
    job, de, _batch = job_and_de()  # tested with lfc_threshold 0.5
    browser = _open(tmp_path, de, job)
    shots = Shots(browser.driver, tmp_path / "screenshots")
    try:
        xs = browser.js(
            "document.getElementById('plot-volcano').layout.shapes.filter(s => s.yref === 'paper')"
            ".map(s => s.x0)"
        )
        assert sorted(xs) == [-0.5, 0.5]
        # an unknown gene is said to be unknown
        _search(browser, "NOSUCHGENE")
        msg = browser.wait_for("document.getElementById('search-msg').textContent", 5)
        assert 'No gene or sample matches "NOSUCHGENE"' in msg
        shots("unknown-gene")
        # a gene: the PCA is coloured by its expression
        _search(browser, "G7")
        assert browser.wait_for("document.body.dataset.selected", 5) == "G7"
        assert browser.js("document.getElementById('search-msg').hidden")
        title = browser.js("document.getElementById('plot-pca').layout.title.text")
        assert "coloured by G7" in title
        coloured = browser.js(
            "document.getElementById('plot-pca').data.filter(t => t.visible === true)"
            ".map(t => Array.isArray(t.marker.color))"
        )
        assert coloured == [True]
        shots("gene-colours-pca")
        # a sample: ringed in the PCA, outlined in the distance heatmap
        _search(browser, "W2")
        assert browser.wait_for("document.body.dataset.selectedSample", 5) == "W2"
        ring = browser.js(
            "document.getElementById('plot-pca').data.find(t => t.name === 'selected sample')"
        )
        k = browser.js("genejobs.data.samples.indexOf('W2')")
        assert ring["x"] == [browser.js(f"genejobs.data.pca.x[{k}]")]
        outlined = browser.js("document.getElementById('plot-dist').layout.shapes.length")
        assert outlined == 2
        shots("sample-marked")
    finally:
        browser.close()


def test_a_large_study_offers_views_of_one_group_at_a_time(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    samples = [f"{g}{i}" for g in ("K", "W") for i in range(1, 36)]  # 70 samples
    base = rng.lognormal(4, 1.0, 200)
    counts = pd.DataFrame(
        {s: rng.poisson(base * (2.0 if s[0] == "W" else 1.0)) for s in samples},
        index=[f"G{i}" for i in range(200)],
    )
    de = run_differential_expression(counts, {s: s[0] for s in samples}, {}, [])
    job = {"job_id": "J70", **de.design_info(), "samples": {s: {"group": s[0]} for s in samples}}
    browser = _open(tmp_path, de, job)
    shots = Shots(browser.driver, tmp_path / "screenshots")
    try:
        assert not browser.js("document.getElementById('subset-bar').hidden")
        options = browser.js(
            "[...document.getElementById('sample-subset').options].map(o => o.textContent)"
        )
        assert options == ["all 70 samples", "group K (35 samples)", "group W (35 samples)"]
        browser.js(
            "(s => { s.value = 'group=W'; s.dispatchEvent(new Event('change')); })"
            "(document.getElementById('sample-subset'))"
        )
        names = browser.wait_for(
            "(d => d.data[0].x.length === 35 && d.data[0].x)(document.getElementById('plot-dist'))",
            10,
        )
        assert all(n.startswith("W") for n in names)
        title = browser.js("document.getElementById('plot-pca').layout.title.text")
        assert "35 of 70 samples" in title
        shots("subset-group-W")
    finally:
        browser.close()
