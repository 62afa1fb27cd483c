"""One single-end sample, given as lanes, through ``process_sample``: its BAM handed to
htseq-count (HTSeq, the reference semantics for single reads) must give our counts
under all three strand rules, and the lanes must count as the same reads in one file."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pysam
import pytest
from test_sample_pipeline import assert_same_as_htseq, htseq_count

from genejobs.errors import InputError
from genejobs.pipeline.records import LibraryType, ReadRun, SampleParams, SampleSpec
from genejobs.pipeline.sample import process_sample
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage

CONFIG = SimConfig(n_genes=120, pairs_per_sample=12_000, samples_per_group=1, seed=3)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("single-end")
    paired = simulate(root / "paired", CONFIG)
    lanes = simulate(
        root / "lanes", SimConfig(**{**CONFIG.__dict__, "single_end": True, "lanes": 3})
    )
    registry = ReferenceRegistry(root / "refs")
    registry.add("sim", Path(paired.genome), [("a.gtf", Path(paired.gtf))])
    ref = registry.resolve("sim", "a.gtf")
    name = next(iter(lanes.runs))
    storage = Storage(allowed_roots=(root,))

    def count(sample: SampleSpec, bam: Path | None = None, **params):
        return process_sample(
            sample,
            SampleParams(adapter=paired.adapter, **params),
            index_path=ref.index_path,
            gene_model=ref.load_gene_model(),
            storage=storage,
            threads=2,
            bam_path=bam,
            strand_check_pairs=2000,
        )

    bam = root / f"{name}.bam"
    runs = tuple(ReadRun(run[0]) for run in lanes.runs[name])
    as_lanes = count(SampleSpec(name, "K", runs), bam)
    one_file = count(SampleSpec(name, "K", (ReadRun(paired.reads[name][0]),)))
    return {
        "manifest": paired,
        "lanes": as_lanes,
        "one_file": one_file,
        "bam": bam,
        "count": count,
        "runs": SampleSpec(name, "K", runs),
    }


def test_single_end_counts_equal_htseq_count_under_all_strand_rules(run):
    result = run["lanes"]
    with pysam.AlignmentFile(str(run["bam"])) as bam:
        records = list(bam.fetch(until_eof=True))
    assert records and not any(r.is_paired for r in records)
    assert len({r.query_name for r in records if not r.is_secondary}) == len(records)
    tables = htseq_count([run["bam"]], run["manifest"].gtf)
    for lt in LibraryType:
        assert_same_as_htseq(
            tables[lt][0], result.counts_for(lt), result.gene_ids, result.count_stats, lt
        )
    own = result.count_stats.assigned[run["manifest"].library_type]
    assert own >= 0.9 * result.count_stats.unique


def test_lanes_count_as_the_same_reads_in_one_file(run):
    a, b = run["lanes"], run["one_file"]
    assert a.read_stats == b.read_stats and a.read_stats.pairs_in > 10_000
    assert asdict(a.count_stats) == asdict(b.count_stats)
    for lt in LibraryType:
        assert a.counts_for(lt).tolist() == b.counts_for(lt).tolist()
    # read QC of a single-end sample is one report named after the sample
    assert a.read_qc is not None and list(a.read_qc.fastqc) == [a.sample_name]


def test_a_contradicted_declaration_stops_a_single_end_sample_early_in_reads(run):
    assert run["manifest"].library_type == "fr-firststrand"
    with pytest.raises(InputError) as err:
        run["count"](run["runs"], declared_library_type=LibraryType.SECONDSTRAND)
    msg = str(err.value)
    assert "library_type is fr-secondstrand but the reads look fr-firststrand" in msg
    assert "strand-specific reads" in msg and "read pairs" not in msg
    assert "found after its first 2,000 reads" in msg
