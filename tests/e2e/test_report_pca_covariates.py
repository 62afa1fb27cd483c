"""The report's PCA, coloured by a covariate from its menu, in Chromium (no job needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chromium import Page

from genejobs.pipeline.records import LibraryType
from genejobs.report import render_report
from support.report import job_and_de

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("chromium"),  # skipped locally without it, a failure in CI
]
READY = "document.body && (document.body.dataset.ready || document.body.dataset.error)"
VISIBLE = (
    "document.getElementById('plot-pca').data.filter(t => t.visible !== false)"
    ".map(t => t.name + ':' + t.text.join(','))"
)


def test_the_pca_can_be_coloured_by_each_covariate(tmp_path: Path) -> None:
    job, de, batch = job_and_de()
    page = tmp_path / "report.html"
    page.write_bytes(
        render_report(de, [], job=job, library_type=LibraryType.UNSTRANDED)["report.html"]
    )
    browser = Page(tmp_path / "chromium")
    try:
        browser.open(f"file://{page}")
        assert browser.wait_for(READY, 60) == "1", browser.js("document.body.dataset.error")
        assert sorted(browser.js(VISIBLE)) == ["K:K1,K2,K3", "W:W1,W2,W3"]
        menu = browser.js(
            "document.getElementById('plot-pca').layout.updatemenus[0].buttons.map(b => b.label)"
        )
        assert menu == ["colour by group", "colour by batch"]
        # Choose "colour by batch" as the menu would (Plotly.restyle with its args).
        browser.js(
            "(() => { const p = document.getElementById('plot-pca');"
            " const b = p.layout.updatemenus[0].buttons[1];"
            " Plotly.restyle(p, b.args[0], b.args[1]); return 1; })()"
        )
        by_batch = {lv: sorted(s for s, b in batch.items() if b == lv) for lv in ("b1", "b2")}
        assert sorted(browser.js(VISIBLE)) == [f"{lv}:{','.join(s)}" for lv, s in by_batch.items()]
    finally:
        browser.close()
