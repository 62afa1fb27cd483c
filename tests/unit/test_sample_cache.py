"""The per-sample cache holds content, never one job's sample-specific QC or notes."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import numpy as np
import pytest

from genejobs.jobs.run.cache import SampleCache, made_by_this_salmon
from genejobs.pipeline.records import (
    CountStats,
    LibraryType,
    ReadQc,
    ReadStats,
    SampleQc,
    SampleResult,
    TranscriptEstimates,
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


def _salmon_result(version: str, value: float) -> SampleResult:
    est = TranscriptEstimates(
        transcript_ids=["T1"],
        length=np.array([1000.0]),
        effective_length=np.array([800.0]),
        tpm=np.array([1e6]),
        counts=np.array([value]),
        engine=f"salmon {version}",
    )
    return replace(_result("S"), transcripts=est)


def test_an_entry_from_another_salmon_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    """The key holds no salmon version (the API computes it and runs no salmon): the
    entry records it, and a worker with another salmon replaces the entry."""
    cache, key = SampleCache(tmp_path), "ab" * 32
    cache.put(key, _salmon_result("1.9.0", 5.0))
    old = cache.get(key)
    assert old is not None and not made_by_this_salmon(old, "1.10.1")
    assert made_by_this_salmon(old, "1.9.0") and made_by_this_salmon(_result("S"), "1.10.1")
    cache.put(key, _salmon_result("1.10.1", 7.0))  # without replace_entry: kept
    kept = cache.get(key)
    assert kept is not None and kept.transcripts is not None
    assert kept.transcripts.engine == "salmon 1.9.0"
    cache.put(key, _salmon_result("1.10.1", 7.0), replace_entry=True)
    new = cache.get(key)
    assert new is not None and new.transcripts is not None
    assert new.transcripts.engine == "salmon 1.10.1" and new.transcripts.counts[0] == 7.0
    assert [p.name for p in (tmp_path / key[:2]).iterdir()] == [key]  # nothing left behind
