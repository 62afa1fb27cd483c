"""The report states the design, each sample's covariates, the threshold and shrinkage,
says when counts came from a table, and lets the PCA be coloured by each covariate."""

from __future__ import annotations

import base64
import gzip
import json
import re

from genejobs.pipeline.records import LibraryType
from genejobs.report import render_report
from support.report import job_and_de


def test_design_covariates_threshold_and_shrinkage_are_stated() -> None:
    job, de, batch = job_and_de()
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
