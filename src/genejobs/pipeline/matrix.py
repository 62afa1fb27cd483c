"""The job's count matrix: the samples' count vectors side by side, for one strand rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genejobs.errors import InputError
from genejobs.pipeline.records import LibraryType, SampleResult


def count_matrix(results: list[SampleResult], library_type: LibraryType) -> pd.DataFrame:
    """Genes x samples integer counts for one strand rule (the DE module's orientation)."""
    gene_ids = results[0].gene_ids
    for r in results[1:]:
        if r.gene_ids != gene_ids:
            raise InputError(
                f"sample '{r.sample_name}' was counted against a different gene list than "
                f"'{results[0].sample_name}'; resubmit the job"
            )
    data = np.column_stack([r.counts_for(library_type) for r in results]).astype(np.int64)
    frame = pd.DataFrame(data, index=list(gene_ids), columns=[r.sample_name for r in results])
    return frame.rename_axis("gene_id")
