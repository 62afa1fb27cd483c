"""A small DE result to render reports from, without a job run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genejobs.pipeline.de import DEResult, run_differential_expression


def job_and_de() -> tuple[dict[str, Any], DEResult, dict[str, str]]:
    """A table-only job with a batch covariate, its DE result (shrunk, |LFC| > 0.5), and
    each sample's batch: enough for the report's design section and its PCA menu."""
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
