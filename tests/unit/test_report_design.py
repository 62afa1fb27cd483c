"""The report states the design, each sample's covariates, the threshold and shrinkage,
says when counts came from a table, and lets the PCA be coloured by each covariate."""

from __future__ import annotations

import base64
import gzip
import json
import re

import numpy as np
import pandas as pd

from genejobs.pipeline.de import run_differential_expression
from genejobs.pipeline.records import LibraryType
from genejobs.report import render_report


def _job_and_de():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(8)
    samples = ["K1", "K2", "K3", "W1", "W2", "W3"]
    batch = dict(zip(samples, ["b1", "b2", "b1", "b2", "b1", "b2"], strict=True))
    base = rng.lognormal(4, 1.2, 300)
    counts = pd.DataFrame(
        {
            s: rng.poisson(
                base
                * (2.0 if s[0] == "W" and i % 7 == 0 else 1.0)
                * (1.5 if batch[s] == "b2" else 1)
            )
            for s in samples
            for i in [0]
        },
        index=[f"G{i}" for i in range(300)],
    )
    de = run_differential_expression(
        counts,
        {s: s[0] for s in samples},
        {},
        [],
        covariates=[("batch", batch)],
        shrink=True,
        lfc_threshold=0.5,
    )
    job = {
        "job_id": "J9",
        "counts_table": "s3a://lab/salmon.merged.gene_counts.tsv",
        "ref": None,
        "gtf": None,
        **de.design_info(),
        "samples": {s: {"group": s[0], "covariates": {"batch": batch[s]}} for s in samples},
    }
    return job, de, batch


def test_design_covariates_threshold_and_shrinkage_are_stated() -> None:
    job, de, batch = _job_and_de()
    files = render_report(de, [], job=job, library_type=LibraryType.UNSTRANDED)
    page = files["report.html"].decode()
    text = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)
    assert "<th>design</th><td>~ batch + group</td>" in text
    assert "<th>counts table</th><td>salmon.merged.gene_counts.tsv</td>" in text
    assert "tested |log2 fold change| &gt; 0.5 (greaterAbs)" in text
    assert "lfc_shrunk (apeGLM-style prior)" in text
    assert "<td>K2</td><td>K</td><td>batch=b2</td><td>counts table</td>" in text
    methods = files["methods.md"].decode()
    assert "design ~batch+group" in methods
    assert "|log2 fold change| > 0.5" in methods
    assert "read from the table salmon.merged.gene_counts.tsv" in methods
    assert "minimap2" not in methods  # nothing was aligned
    # The data block carries each covariate's level per sample, in sample order.
    blob = re.search(r'id="gj-data">([^<]+)</script>', page).group(1)
    data = json.loads(gzip.decompress(base64.b64decode(blob.strip())))
    assert data["covariates"] == {"batch": [batch[s] for s in data["samples"]]}
    assert "colour by " in page  # the PCA's menu (report.js)
    assert "plots/assignment.png" not in files  # no reads, no assignment figure
    assert "could not be drawn" not in text
    assert "<p>6 samples</p>" in text and "no reads to summarise" in text
