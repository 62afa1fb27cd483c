"""Our counts equal htseq-count's on the same alignments, under all three strand rules.

htseq-count (HTSeq from PyPI, a test dependency) reads the BAM that
``process_sample`` writes of its own placements, with the settings that match
our rules: union mode, ``--nonunique none``, no MAPQ filter (placement is
decided by alignment score instead).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import spearmanr

from genejobs.pipeline.records import LibraryType, SampleParams, SampleSpec
from genejobs.pipeline.sample import process_sample
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage

HTSEQ_STRAND = {
    LibraryType.UNSTRANDED: "no",
    LibraryType.SECONDSTRAND: "yes",
    LibraryType.FIRSTSTRAND: "reverse",
}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("htseq")
    manifest = simulate(
        root / "sim",
        SimConfig(n_genes=150, pairs_per_sample=20_000, samples_per_group=1, seed=3),
    )
    registry = ReferenceRegistry(root / "refs")
    registry.add("sim", Path(manifest.genome), [("a.gtf", Path(manifest.gtf))])
    ref = registry.resolve("sim", "a.gtf")
    name, (r1, r2) = next(iter(manifest.reads.items()))
    bam = root / "sample.bam"
    result = process_sample(
        SampleSpec(name, "K", r1, r2),
        SampleParams(adapter=manifest.adapter),
        index_path=ref.index_path,
        gene_model=ref.load_gene_model(),
        storage=Storage(allowed_roots=(root,)),
        threads=2,
        bam_path=bam,
    )
    return manifest, name, result, bam


@pytest.mark.parametrize("library_type", list(LibraryType))
def test_counts_equal_htseq_count(sample_run, library_type):
    manifest, _, result, bam = sample_run
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "htseq-count"),
            "-f",
            "bam",
            "-r",
            "pos",
            "-s",
            HTSEQ_STRAND[library_type],
            "-m",
            "union",
            "--nonunique",
            "none",
            "-a",
            "0",
            str(bam),
            manifest.gtf,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "Mate records missing" not in out.stderr
    theirs = dict(line.split("\t") for line in out.stdout.splitlines())
    ours = pd.Series(result.counts_for(library_type), index=result.gene_ids)
    htseq = pd.Series({g: int(c) for g, c in theirs.items() if not g.startswith("__")})
    pd.testing.assert_series_equal(ours, htseq.loc[ours.index], check_names=False)
    stats = result.count_stats
    assert int(theirs["__no_feature"]) == stats.no_feature[library_type.value]
    assert int(theirs["__ambiguous"]) == stats.ambiguous[library_type.value]
    assert int(theirs["__alignment_not_unique"]) == stats.multimapped
    assert int(theirs["__not_aligned"]) == stats.not_aligned


def test_counts_follow_the_truth_and_paralogs_keep_their_reads(sample_run):
    manifest, name, result, _ = sample_run
    truth = pd.read_csv(manifest.truth_counts, index_col=0)[name]
    genes = pd.read_csv(manifest.truth_genes, index_col=0)
    ours = pd.Series(result.counts_for(LibraryType(manifest.library_type)), index=result.gene_ids)
    assert spearmanr(ours, truth.loc[ours.index]).statistic >= 0.98
    paralogs = genes.index[genes["paralog_of"].notna()].tolist()
    paralogs += genes.loc[genes["paralog_of"].notna(), "paralog_of"].tolist()
    assert paralogs, "the simulation should contain paralogs"
    assert ours.loc[paralogs].sum() >= 0.95 * truth.loc[paralogs].sum()
