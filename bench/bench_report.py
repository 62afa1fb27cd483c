"""The report at scale: 200 samples x 60,000 genes x 3 comparisons from simulated counts.

Times ``render_report`` (interactive HTML, methods, static figures), the HTML's
size, and how long headless Chromium takes from opening the file until every plot
is drawn (the page sets ``data-ready`` on <body> when its last plot is drawn).

The DE result is built directly from the simulated counts (median-of-ratios size
factors, log2 ratios of group means, normal-approximation Wald tests, BH), not by
PyDESeq2: what is timed is the report, and it only reads these columns.

    .venv/bin/python bench/bench_report.py --samples 200 --genes 60000 --comparisons 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, norm

from genejobs.pipeline.de import TABLE_COLUMNS, DEResult
from genejobs.pipeline.records import CountStats, LibraryType, ReadStats, SampleResult
from genejobs.report import render_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))


def simulate(n_samples: int, n_genes: int, n_comparisons: int, seed: int = 1) -> DEResult:
    rng = np.random.default_rng(seed)
    groups = [chr(ord("A") + i) for i in range(n_comparisons + 1)]
    names = [f"S{i + 1:03d}" for i in range(n_samples)]
    sample_groups = {s: groups[i % len(groups)] for i, s in enumerate(names)}
    base = rng.lognormal(3, 2, n_genes)
    effects = {
        g: np.where(rng.random(n_genes) < 0.05, rng.normal(0, 2, n_genes), 0.0) for g in groups
    }
    effects[groups[0]][:] = 0
    mu = np.column_stack([base * 2 ** effects[sample_groups[s]] for s in names])
    counts = rng.negative_binomial(5, 5 / (5 + mu)).astype(np.int64)
    ids = [f"ENSG{i:011d}" for i in range(n_genes)]
    frame = pd.DataFrame(counts, index=ids, columns=names)
    expressed = (counts > 0).all(axis=1)  # median of ratios over genes seen in every sample
    logc = np.log(counts[expressed])
    sf = np.exp(np.median(logc - logc.mean(axis=1, keepdims=True), axis=0))
    normed = pd.DataFrame(counts / sf, index=ids, columns=names)
    tables = []
    for g in groups[1:]:
        a = normed[[s for s in names if sample_groups[s] == groups[0]]]
        b = normed[[s for s in names if sample_groups[s] == g]]
        lfc = np.log2(b.mean(axis=1) + 0.5) - np.log2(a.mean(axis=1) + 0.5)
        se = (
            np.sqrt(
                np.log2(a + 1).var(axis=1) / a.shape[1] + np.log2(b + 1).var(axis=1) / b.shape[1]
            )
            + 0.05
        )
        p = 2 * norm.sf(np.abs(lfc / se))
        t = pd.DataFrame(
            {
                "gene_id": ids,
                "gene_name": [f"GENE{i}" for i in range(n_genes)],
                "baseMean": normed.mean(axis=1).to_numpy(),
                "log2FoldChange": lfc.to_numpy(),
                "lfcSE": se.to_numpy(),
                "stat": (lfc / se).to_numpy(),
                "pvalue": p,
            }
        )
        t["padj"] = false_discovery_control(np.nan_to_num(t["pvalue"], nan=1.0))
        t.insert(0, "comparison", f"{g}_vs_{groups[0]}")
        tables.append(t[["comparison", *TABLE_COLUMNS]])
    bm = normed.mean(axis=1).to_numpy()
    var = normed.var(axis=1).to_numpy()
    disp = np.clip((var - bm) / np.maximum(bm, 1e-9) ** 2, 1e-8, 10)
    return DEResult(
        table=pd.concat(tables, ignore_index=True),
        counts=frame,
        normalized_counts=normed,
        size_factors=pd.Series(sf, index=names),
        vst=np.log2(normed + 1),
        dispersions=pd.DataFrame(
            {
                "gene_id": ids,
                "baseMean": bm,
                "genewise": disp,
                "fitted": 0.05 + 1 / np.maximum(bm, 1e-3),
                "final": disp,
            }
        ),
        comparisons=[f"{g}_vs_{groups[0]}" for g in groups[1:]],
        sample_groups=sample_groups,
    )


def sample_results(de: DEResult) -> list[SampleResult]:
    out = []
    genes = list(de.counts.index)
    for s in de.counts.columns:
        vec = de.counts[s].to_numpy()
        total = int(vec.sum())
        out.append(
            SampleResult(
                s,
                genes,
                {lt.value: vec for lt in LibraryType},
                ReadStats(
                    pairs_in=int(total * 1.3),
                    pairs_with_adapter=total // 10,
                    pairs_out=int(total * 1.28),
                ),
                CountStats(
                    aligned=int(total * 1.2),
                    unique=int(total * 1.15),
                    multimapped=total // 20,
                    assigned={
                        "fr-unstranded": total,
                        "fr-firststrand": int(total * 0.95),
                        "fr-secondstrand": int(total * 0.04),
                    },
                ),
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--genes", type=int, default=60_000)
    ap.add_argument("--comparisons", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="write the report's files here")
    args = ap.parse_args()
    de = simulate(args.samples, args.genes, args.comparisons)
    results = sample_results(de)
    job = {
        "job_id": "bench",
        "name": "bench report",
        "ref": "sim",
        "library_type": "fr-firststrand",
        "table_file": "bench.csv",
    }
    start, cpu = time.perf_counter(), time.process_time()
    files = render_report(de, results, job=job, library_type=LibraryType.FIRSTSTRAND)
    render_s, render_cpu = time.perf_counter() - start, time.process_time() - cpu
    html = files["report.html"]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    import psutil
    from chromium import Page

    def chromium_cpu() -> float:
        # chromedriver and the Chromium it started (Selenium's service process)
        procs = [psutil.Process(browser.driver.service.process.pid)]
        procs += procs[0].children(recursive=True)
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    browser = Page(Path(tempfile.mkdtemp(prefix="bench-chromium-")))
    try:
        browser.js("1")  # the browser is up
        cpu0 = chromium_cpu()
        start = time.perf_counter()
        browser.open(f"file://{folder / 'report.html'}")
        browser.wait_for(
            "document.body && (document.body.dataset.ready || document.body.dataset.error)", 120
        )
        open_s = time.perf_counter() - start
        open_cpu = chromium_cpu() - cpu0
        error = browser.js("document.body.dataset.error || ''")
        in_page = browser.js("document.body.dataset.drawnMs")
        steps = browser.js("JSON.stringify(window.genejobs && window.genejobs.timings)")
        points = browser.js(
            "document.getElementById('plot-volcano').data.slice(0,3).reduce((n,t)=>n+t.x.length,0)"
        )
    finally:
        browser.close()
    print(f"{args.samples} samples x {args.genes} genes x {args.comparisons} comparisons")
    print(
        f"render_report: {render_s:.1f} s wall, {render_cpu:.1f} s CPU; report.html {len(html) / 1e6:.1f} MB"
    )
    print(
        f"Chromium: opened and every plot drawn in {open_s:.1f} s wall, {open_cpu:.1f} s CPU "
        f"(its processes; script {int(in_page) / 1000:.1f} s); "
        f"volcano points {points}{'; ERROR ' + error if error else ''}"
    )
    print(f"in-page steps (ms since the script started): {steps}")


if __name__ == "__main__":
    main()
