"""One sample through ``process_sample`` on simulated data, per library type.

The BAM it writes is checked record by record against the genome (SEQ orientation,
soft clips, CIGAR lengths, NM, mate fields) and handed to htseq-count (HTSeq, the
reference semantics) with the settings that match ours: union mode, ``--nonunique
none``, no MAPQ filter. Counts must equal htseq-count's gene by gene under all
three strand rules, and follow the simulator's truth.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import dnaio
import pandas as pd
import pysam
import pytest
from scipy.stats import spearmanr

from genejobs.pipeline.align import align_pairs, concordant, load_aligner
from genejobs.pipeline.bam import BamWriter, pair_record, sam_records
from genejobs.pipeline.count import GeneIndex, PairCounter
from genejobs.pipeline.reads import ReadChunk
from genejobs.pipeline.records import LibraryType, ReadRun, SampleParams, SampleSpec
from genejobs.pipeline.sample import process_sample
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage

HTSEQ_STRAND = {
    LibraryType.UNSTRANDED: "no",
    LibraryType.SECONDSTRAND: "yes",
    LibraryType.FIRSTSTRAND: "reverse",
}
HTSEQ = Path(sys.executable).parent / "htseq-count"


def htseq_count(bams: list[Path], gtf: str) -> dict[LibraryType, list[dict[str, int]]]:
    """htseq-count under the three strand rules (run side by side), one table per BAM."""
    procs = {
        lt: subprocess.Popen(
            [str(HTSEQ), "-f", "bam", "-r", "pos", "-s", rule, "-m", "union"]
            + ["--nonunique", "none", "-a", "0", *map(str, bams), gtf],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for lt, rule in HTSEQ_STRAND.items()
    }
    out = {}
    for lt, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert "Mate records missing" not in stderr, stderr
        tables: list[dict[str, int]] = [{} for _ in bams]
        for line in stdout.splitlines():
            name, *values = line.split("\t")
            for table, value in zip(tables, values, strict=True):
                table[name] = int(value)
        out[lt] = tables
    return out


def assert_same_as_htseq(theirs: dict[str, int], counts, gene_ids, stats, lt: LibraryType):
    ours = pd.Series(counts, index=gene_ids)
    htseq = pd.Series({g: n for g, n in theirs.items() if not g.startswith("__")})
    assert set(htseq.index) == set(gene_ids)
    diff = ours[ours != htseq.loc[ours.index]]
    assert diff.empty, f"{lt.value}: genes differ from htseq-count: {diff.head(10).to_dict()}"
    assert theirs["__no_feature"] == stats.no_feature[lt.value]
    assert theirs["__ambiguous"] == stats.ambiguous[lt.value]
    assert theirs["__alignment_not_unique"] == stats.multimapped
    assert theirs["__not_aligned"] == stats.not_aligned
    assert theirs["__too_low_aQual"] == 0


@pytest.fixture(scope="module", params=list(LibraryType), ids=lambda lt: lt.value)
def run(request, tmp_path_factory):
    library_type: LibraryType = request.param
    root = tmp_path_factory.mktemp(library_type.value)
    manifest = simulate(
        root / "sim",
        SimConfig(
            n_genes=120,
            pairs_per_sample=20_000,
            samples_per_group=2,
            library_type=library_type.value,
        ),
    )
    registry = ReferenceRegistry(root / "refs")
    registry.add("sim", Path(manifest.genome), [("a.gtf", Path(manifest.gtf))])
    ref = registry.resolve("sim", "a.gtf")
    # a different sample (and group) per library type; one sample each keeps this fast
    index = list(LibraryType).index(library_type)
    name, (r1, r2) = list(manifest.reads.items())[index]
    bam = root / f"{name}.bam"
    result = process_sample(
        SampleSpec(name, "K", (ReadRun(r1, r2),)),
        SampleParams(adapter=manifest.adapter),
        index_path=ref.index_path,
        gene_model=ref.load_gene_model(),
        storage=Storage(allowed_roots=(root,)),
        threads=2,
        bam_path=bam,
    )
    return {
        "lt": library_type,
        "manifest": manifest,
        "name": name,
        "result": result,
        "bam": bam,
        "ref": ref,
        "root": root,
    }


def test_counts_equal_htseq_count_under_all_strand_rules(run):
    result = run["result"]
    tables = htseq_count([run["bam"]], run["manifest"].gtf)
    for lt in LibraryType:
        assert_same_as_htseq(
            tables[lt][0], result.counts_for(lt), result.gene_ids, result.count_stats, lt
        )
    # the library's own rule assigns most pairs; the opposite rule few
    own = result.count_stats.assigned[run["lt"].value]
    assert own >= 0.9 * result.count_stats.unique


def test_counts_follow_the_truth_and_paralogs_keep_their_fragments(run):
    manifest, result = run["manifest"], run["result"]
    truth = pd.read_csv(manifest.truth_counts, index_col=0)[run["name"]]
    genes = pd.read_csv(manifest.truth_genes, index_col=0)
    ours = pd.Series(result.counts_for(run["lt"]), index=result.gene_ids)
    compared = ours.index
    if run["lt"] is LibraryType.UNSTRANDED:
        # Without a strand, a pair in an antisense overlap touches both genes and is
        # __ambiguous (htseq-count's rule, test above): those genes lose fragments by
        # design. Compare the rest, and check the loss is what __ambiguous holds.
        anti = genes.index[genes["antisense_to"].notna()].tolist()
        anti += genes["antisense_to"].dropna().tolist()
        assert anti, "the simulation should contain antisense pairs"
        lost = int((truth.loc[anti] - ours.loc[anti]).clip(lower=0).sum())
        assert 0 < lost <= result.count_stats.ambiguous[run["lt"].value]
        compared = ours.index.difference(anti)
    assert spearmanr(ours.loc[compared], truth.loc[compared]).statistic >= 0.98
    with_paralog = genes.index[genes["paralog_of"].notna()].tolist()
    with_paralog += genes.loc[genes["paralog_of"].notna(), "paralog_of"].tolist()
    assert len(with_paralog) >= 4, "the simulation should contain paralogs"
    for gene in with_paralog:
        assert ours[gene] >= 0.95 * truth[gene], (gene, ours[gene], truth[gene])


def test_bam_records_match_the_genome_and_their_mates(run):
    result, bam_path = run["result"], run["bam"]
    fasta = pysam.FastaFile(run["manifest"].genome)
    bam = pysam.AlignmentFile(str(bam_path))
    assert bam.header["HD"]["SO"] == "coordinate"
    assert bam.check_index()
    assert dict(zip(bam.references, bam.lengths, strict=True)) == dict(
        zip(fasta.references, fasta.lengths, strict=True)
    )
    by_name = defaultdict(list)
    last = (-1, -1)
    reverse_clipped = 0
    for rec in bam:
        by_name[rec.query_name].append(rec)
        assert len(rec.query_sequence) == len(rec.query_qualities)
        if rec.is_unmapped:
            continue
        assert (rec.reference_id, rec.reference_start) >= last
        last = (rec.reference_id, rec.reference_start)
        assert rec.infer_query_length() == len(rec.query_sequence)  # CIGAR covers the read
        ref = fasta.fetch(rec.reference_name, rec.reference_start, rec.reference_end).upper()
        mismatches = sum(
            rec.query_sequence[q] != ref[p - rec.reference_start]
            for q, p in rec.get_aligned_pairs(matches_only=True)
        )
        indels = sum(n for op, n in rec.cigartuples if op in (1, 2))
        # NM from minimap2 counts mismatches and indel bases: SEQ must face the reference
        assert mismatches + indels == rec.get_tag("NM"), rec.to_string()
        if rec.is_reverse and rec.cigartuples[0][0] == 4:
            reverse_clipped += 1
    assert reverse_clipped > 0  # adapter read-through on reverse reads clips on the left
    nh2 = 0
    for name, recs in by_name.items():
        assert len(recs) == 2, name
        r1, r2 = sorted(recs, key=lambda r: r.is_read2)
        assert r1.is_read1 and r2.is_read2 and r1.is_paired and r2.is_paired
        for a, b in ((r1, r2), (r2, r1)):
            assert a.mate_is_unmapped == b.is_unmapped
            if not b.is_unmapped:
                assert (a.next_reference_id, a.next_reference_start) == (
                    b.reference_id,
                    b.reference_start,
                )
                assert a.mate_is_reverse == b.is_reverse
        assert r1.template_length == -r2.template_length
        assert r1.get_tag("NH") == r2.get_tag("NH")
        if r1.is_proper_pair:
            assert r1.is_reverse != r2.is_reverse and r2.is_proper_pair
        nh2 += r1.get_tag("NH") == 2
    assert len(by_name) == result.read_stats.pairs_out
    assert nh2 == result.count_stats.multimapped


def _revcomp(seq: str) -> str:
    return seq.translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


# one library type is enough: the pairs are built by hand (reuses that module fixture)
@pytest.mark.parametrize("run", [LibraryType.FIRSTSTRAND], indirect=True, ids=lambda lt: lt.value)
def test_unaligned_and_discordant_mates_in_the_bam_and_in_counts(run, tmp_path):
    """Hand-made pairs with an unaligned mate, both unaligned, or mates facing away."""
    fasta = pysam.FastaFile(run["manifest"].genome)
    model = run["ref"].load_gene_model()
    rng = random.Random(3)
    chrom = fasta.references[0]
    r1s, r2s, kinds = [], [], []

    def add(kind: str, a: str, b: str) -> None:
        n = len(kinds)
        r1s.append(dnaio.SequenceRecord(f"p{n}/1", a, "I" * len(a)))
        r2s.append(dnaio.SequenceRecord(f"p{n}/2", b, "I" * len(b)))
        kinds.append(kind)

    noise = lambda: "".join(rng.choice("ACGT") for _ in range(100))  # noqa: E731
    # fragments starting 50 bp before first exons, so most pairs touch a gene
    exon_starts = sorted({g.exons[0][0] for g in model.genes if g.chrom == chrom})
    starts = [s - 50 for s in rng.sample(exon_starts, 40) if s > 100]
    for i, pos in enumerate(starts):
        left = fasta.fetch(chrom, pos, pos + 100).upper()
        right = fasta.fetch(chrom, pos + 150, pos + 250).upper()
        kind = ["proper", "r2 unaligned", "r1 unaligned", "both unaligned", "facing away"][i % 5]
        if kind == "proper":
            add(kind, left, _revcomp(right))
        elif kind == "r2 unaligned":
            add(kind, _revcomp(left), noise())
        elif kind == "r1 unaligned":
            add(kind, noise(), left)
        elif kind == "both unaligned":
            add(kind, noise(), noise())
        else:  # read 2 forward upstream of a reverse read 1: an outward-facing pair
            add(kind, _revcomp(fasta.fetch(chrom, pos, pos + 100).upper()), right)
    chunk = ReadChunk(r1s, r2s)
    aligner = load_aligner(run["ref"].index_path)
    seqs = [(a.sequence, b.sequence) for a, b in zip(chunk.r1, chunk.r2, strict=True)]
    aligned = align_pairs(aligner, seqs, keep_placements=True)
    placements = aligned.placements
    assert placements is not None
    bam_path = tmp_path / "hand.bam"
    writer = BamWriter(bam_path, [(n, len(aligner.seq(n))) for n in aligner.seq_names])
    records = [
        pair_record(a.name, a.sequence, a.qualities, b.sequence, b.qualities)
        for a, b in zip(chunk.r1, chunk.r2, strict=True)
    ]
    writer.add_sam(sam_records(records, placements))
    writer.close()

    recs = defaultdict(dict)
    for rec in pysam.AlignmentFile(str(bam_path)):
        recs[int(rec.query_name[1:])][1 if rec.is_read1 else 2] = rec
    assert len(recs) == len(kinds)
    facing_away_flagged = 0
    for n, kind in enumerate(kinds):
        r1, r2 = recs[n][1], recs[n][2]
        assert r1.query_name == f"p{n}"  # the /1 /2 suffix is not part of QNAME
        if kind == "proper":
            assert r1.is_proper_pair and r2.is_proper_pair and not r1.is_unmapped
            assert r1.template_length == 250 and r2.template_length == -250
        elif kind == "both unaligned":
            assert r1.is_unmapped and r2.is_unmapped and r1.mate_is_unmapped
            assert r1.reference_id == -1
        elif kind == "facing away":
            assert not r1.is_unmapped and not r2.is_unmapped
            # not proper, unless a paralog copy of one mate made a concordant placement
            # (best_placement prefers those, as an aligner's pairing would)
            proper = concordant(placements[n].hit1, placements[n].hit2)
            assert r1.is_proper_pair == r2.is_proper_pair == proper
            facing_away_flagged += not proper
        else:
            lost, kept = (r2, r1) if kind == "r2 unaligned" else (r1, r2)
            assert lost.is_unmapped and kept.mate_is_unmapped and not kept.is_unmapped
            assert not kept.is_proper_pair
            # SAM: an unmapped mate takes its partner's position, and the flags agree
            assert (lost.reference_id, lost.reference_start) == (
                kept.reference_id,
                kept.reference_start,
            )
            assert lost.mate_is_reverse == kept.is_reverse
            assert lost.query_sequence in (
                chunk.r1[n].sequence,
                chunk.r2[n].sequence,
            )  # unmapped SEQ stays as sequenced

    assert facing_away_flagged >= kinds.count("facing away") - 2
    counter = PairCounter(GeneIndex(model))
    counter.add_flat(aligned.flat)
    assert counter.stats.not_aligned == kinds.count("both unaligned")
    assert counter.stats.assigned[LibraryType.UNSTRANDED.value] >= 10  # genes were hit
    tables = htseq_count([bam_path], run["manifest"].gtf)
    gene_ids = model.gene_ids
    for lt in LibraryType:
        assert_same_as_htseq(tables[lt][0], counter.counts[lt.value], gene_ids, counter.stats, lt)
