"""The per-sample cache holds content, never one job's sample-specific QC or notes."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import numpy as np
import pytest

from genejobs.jobs.run.cache import SampleCache
from genejobs.pipeline.records import (
    CountStats,
    LibraryType,
    ReadQc,
    ReadStats,
    SampleQc,
    SampleResult,
)


def _result(name: str) -> SampleResult:
    counts = {lt.value: np.arange(3, dtype=np.int64) for lt in LibraryType}
    return SampleResult(name, ["G0", "G1", "G2"], counts, ReadStats(pairs_in=3), CountStats())


def test_qc_notes_of_one_job_never_reappear_under_another_jobs_sample(tmp_path: Path) -> None:
    qc = SampleQc(
        bam_uri="/out/job-a/bam/A.bam",
        observed_library_type=LibraryType.FIRSTSTRAND,
        failed_modules={"inner_distance.py": "no pairs"},
    )
    done = replace(_result("A"), read_qc=ReadQc({"A_R1": "text"}), qc=qc)
    assert done.all_notes == ["sample 'A': QC inner_distance.py failed: no pairs"]
    cache = SampleCache(tmp_path)
    key = "cd" * 32
    cache.put(key, done)  # even a QC'd result: the entry keeps no QC
    again = SampleCache.renamed(cache.get(key), "B")
    assert again.sample_name == "B" and again.from_cache
    assert (again.qc, again.read_qc) == (None, None)
    assert again.all_notes == []
    assert "'A'" not in (tmp_path / "cd" / key / "meta.json").read_text()


def test_a_result_is_not_changed_after_it_is_made() -> None:
    result = _result("A")
    with pytest.raises(FrozenInstanceError):
        result.qc = SampleQc(bam_uri=None, observed_library_type=None)  # the point of the test
