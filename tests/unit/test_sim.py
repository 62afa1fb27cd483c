"""The simulator, checked from its output files alone (it must not share code with the pipeline)."""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import dnaio
import pytest

from genejobs.sim import SimConfig, SimManifest, simulate
from genejobs.sim.simulate import READ2_ADAPTER

_COMP = str.maketrans("ACGTN", "TGCAN")

SMALL = SimConfig(
    n_genes=24,
    samples_per_group=1,
    pairs_per_sample=1500,
    read_length=80,
    seed=11,
)


def revcomp(seq: str) -> str:
    return seq.translate(_COMP)[::-1]


def read_fasta(path: Path) -> dict[str, str]:
    seqs: dict[str, list[str]] = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            current = line[1:].split()[0]
            seqs[current] = []
        elif line:
            seqs[current].append(line)
    return {k: "".join(v) for k, v in seqs.items()}


def transcripts(gtf: Path) -> dict[str, tuple[str, str, list[tuple[int, int]]]]:
    """transcript_id -> (chrom, strand, exons 0-based half-open in genome order)."""
    out: dict[str, tuple[str, str, list[tuple[int, int]]]] = {}
    for line in Path(gtf).read_text().splitlines():
        if line.startswith("#"):
            continue
        chrom, _, feature, start, end, _, strand, _, attrs = line.split("\t")
        if feature != "exon":
            continue
        tid = attrs.split('transcript_id "')[1].split('"')[0]
        out.setdefault(tid, (chrom, strand, []))[2].append((int(start) - 1, int(end)))
    for _, _, exons in out.values():
        exons.sort()
    return out


def read_pairs(manifest: SimManifest, sample: str) -> tuple[list, list]:  # type: ignore[type-arg]
    r1, r2 = manifest.reads[sample]
    with dnaio.open(r1) as f1, dnaio.open(r2) as f2:
        return list(f1), list(f2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SimManifest]:
    """Small datasets: error-free ones per library type (no antisense genes, no noise)."""
    clean = replace(SMALL, error_rate=0.0, fraction_antisense=0.0, fraction_noise=0.0)
    configs = {
        "default": SMALL,
        "fr-firststrand": replace(clean, library_type="fr-firststrand"),
        "fr-secondstrand": replace(clean, library_type="fr-secondstrand"),
        "fr-unstranded": replace(clean, library_type="fr-unstranded"),
        "short": replace(clean, fragment_mean=90, fragment_sd=30, pairs_per_sample=600),
    }
    return {k: simulate(tmp_path_factory.mktemp(k), c) for k, c in configs.items()}


def _content(path: str) -> bytes:
    return gzip.open(path).read() if path.endswith(".gz") else Path(path).read_bytes()


def test_same_seed_same_data_other_seed_other_data(
    runs: dict[str, SimManifest], tmp_path: Path
) -> None:
    again = simulate(tmp_path / "again", SMALL)
    first = runs["default"]
    for attr in ("genome", "gtf", "bed", "truth_counts", "truth_genes"):
        assert _content(getattr(again, attr)) == _content(getattr(first, attr)), attr
    for sample, files in first.reads.items():
        for mine, theirs in zip(again.reads[sample], files, strict=True):
            assert _content(mine) == _content(theirs)
    other = simulate(tmp_path / "other", replace(SMALL, seed=12))
    assert _content(other.genome) != _content(first.genome)
    assert SimManifest.load(Path(first.out_dir) / "manifest.json") == first


def test_splice_sites_are_gt_ag_on_the_gene_strand(runs: dict[str, SimManifest]) -> None:
    m = runs["default"]
    genome = read_fasta(Path(m.genome))
    n_introns = {"+": 0, "-": 0}
    for tid, (chrom, strand, exons) in transcripts(Path(m.gtf)).items():
        seq = genome[chrom]
        for (_, e1), (s2, _) in zip(exons, exons[1:], strict=False):
            donor, acceptor = seq[e1 : e1 + 2], seq[s2 - 2 : s2]
            expected = ("GT", "AG") if strand == "+" else ("CT", "AC")
            assert (donor, acceptor) == expected, (tid, strand, e1, s2)
            # on the transcript's own strand every intron reads GT...AG
            intron = seq[e1:s2] if strand == "+" else revcomp(seq[e1:s2])
            assert (intron[:2], intron[-2:]) == ("GT", "AG")
            n_introns[strand] += 1
    assert n_introns["+"] > 5 and n_introns["-"] > 5


def _strand_fractions(m: SimManifest) -> tuple[float, float]:
    """Fractions of read 1 / read 2 starts found on the transcripts' sense strand."""
    genome = read_fasta(Path(m.genome))
    sense = []
    for chrom, strand, exons in transcripts(Path(m.gtf)).values():
        s = "".join(genome[chrom][a:b] for a, b in exons)
        sense.append(s if strand == "+" else revcomp(s))
    sense_text = "|".join(sense)
    anti_text = "|".join(revcomp(s) for s in sense)
    sample = next(iter(m.reads))
    r1s, r2s = read_pairs(m, sample)
    fractions = []
    for reads in (r1s, r2s):
        n_sense = n_anti = 0
        for rec in reads[:400]:
            start = rec.sequence[:30]
            in_sense, in_anti = start in sense_text, start in anti_text
            assert in_sense or in_anti, f"{rec.name} does not come from any transcript"
            n_sense += in_sense and not in_anti
            n_anti += in_anti and not in_sense
        fractions.append(n_sense / (n_sense + n_anti))
    return fractions[0], fractions[1]


def test_read1_strand_follows_the_library_type(runs: dict[str, SimManifest]) -> None:
    # fr-firststrand (dUTP): read 1 is antisense; fr-secondstrand: read 1 is sense
    assert _strand_fractions(runs["fr-firststrand"]) == (0.0, 1.0)
    assert _strand_fractions(runs["fr-secondstrand"]) == (1.0, 0.0)
    r1_sense, r2_sense = _strand_fractions(runs["fr-unstranded"])
    assert 0.35 < r1_sense < 0.65
    assert abs(r1_sense + r2_sense - 1.0) < 1e-9  # mates always on opposite strands


def test_adapter_read_through_on_short_fragments(runs: dict[str, SimManifest]) -> None:
    m = runs["short"]
    r1s, r2s = read_pairs(m, next(iter(m.reads)))
    a1, a2 = m.adapter[:12], READ2_ADAPTER[:12]
    through = 0
    for rec1, rec2 in zip(r1s, r2s, strict=True):
        i1, i2 = rec1.sequence.find(a1), rec2.sequence.find(a2)
        if i1 >= 0:
            through += 1
            # both mates read through the same insert into their own adapter
            assert i1 == i2, rec1.name
            assert rec1.sequence[:i1] == revcomp(rec2.sequence[:i2])
            # after the adapter comes poly-A, never the genome
            tail = rec1.sequence[i1 + len(m.adapter) :]
            assert set(tail) <= {"A"}
    assert through > len(r1s) * 0.2


def test_truth_counts_add_up_to_the_reads(runs: dict[str, SimManifest]) -> None:
    m = runs["default"]
    with open(m.truth_counts) as fh:
        rows = list(csv.DictReader(fh))
    with open(Path(m.out_dir) / "truth" / "noise.csv") as fh:
        noise = {r["sample"]: int(r["noise_pairs"]) for r in csv.DictReader(fh)}
    genes_gtf = {
        line.split('gene_id "')[1].split('"')[0]
        for line in Path(m.gtf).read_text().splitlines()
        if "\tgene\t" in line
    }
    assert {r["gene_id"] for r in rows} == genes_gtf
    assert list(m.reads) == ["K_rep1", "W_rep1"]
    assert m.groups == {"K": ["K_rep1"], "W": ["W_rep1"]}
    for sample in m.reads:
        signal = sum(int(r[sample]) for r in rows)
        r1s, r2s = read_pairs(m, sample)
        assert noise[sample] > 0
        assert signal + noise[sample] == len(r1s) == len(r2s)
        assert abs(noise[sample] / len(r1s) - SMALL.fraction_noise) < 0.01


def test_fastq_mates_pair_up_by_name(runs: dict[str, SimManifest]) -> None:
    m = runs["default"]
    for sample in m.reads:
        r1s, r2s = read_pairs(m, sample)
        assert len(r1s) == len(r2s) > 0
        names1 = [r.name for r in r1s]
        assert [r.name for r in r2s] == [n[:-2] + "/2" for n in names1]
        assert all(n.endswith("/1") for n in names1)
        assert len(set(names1)) == len(names1)
        assert all(len(r.sequence) == len(r.qualities) == SMALL.read_length for r in r1s + r2s)


def test_truth_genes_table(runs: dict[str, SimManifest]) -> None:
    m = runs["default"]
    with open(m.truth_genes) as fh:
        rows = list(csv.DictReader(fh))
    assert any(r["is_de"] == "True" for r in rows)
    for r in rows:
        lfc = float(r["true_log2fc_W_vs_K"])
        assert (r["is_de"] == "True") == (lfc != 0.0)
    assert {r["gene_type"] for r in rows} >= {"protein_coding", "rRNA"}


def test_invalid_configs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="library_type"):
        simulate(tmp_path, replace(SMALL, library_type="reverse"))
    with pytest.raises(ValueError, match="two groups"):
        simulate(tmp_path, replace(SMALL, groups=("K",)))
    # (an unhandled version of this would write a half dataset first)
    assert not (tmp_path / "reads").exists()


def test_gene_ids_are_unique_and_exons_inside_chromosomes(runs: dict[str, SimManifest]) -> None:
    m = runs["default"]
    genome = read_fasta(Path(m.genome))
    spans: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for line in Path(m.gtf).read_text().splitlines():
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        gid = cols[8].split('gene_id "')[1].split('"')[0]
        spans[gid].add((cols[0], cols[6]))
        assert 1 <= int(cols[3]) <= int(cols[4]) <= len(genome[cols[0]])
    assert all(len(v) == 1 for v in spans.values())  # one chromosome and strand per gene


def test_batches_shift_each_gene_by_its_true_batch_effect(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    config = SimConfig(
        n_genes=300,
        samples_per_group=4,
        pairs_per_sample=300_000,
        fraction_de=0.0,
        batches=2,
        batch_effect_sd=1.5,
        write_reads=False,
        seed=4,
    )
    manifest = simulate(tmp_path, config)
    assert manifest.reads == {}
    assert [manifest.batches[s] for s in manifest.groups["K"]] == ["b1", "b2", "b1", "b2"]
    counts = pd.read_csv(manifest.truth_counts, index_col=0)
    genes = pd.read_csv(manifest.truth_genes, index_col=0)
    b1 = [s for s, b in manifest.batches.items() if b == "b1"]
    b2 = [s for s, b in manifest.batches.items() if b == "b2"]
    norm = counts / counts.sum()
    keep = counts.min(axis=1) >= 50
    observed = np.log2(norm.loc[keep, b2].mean(axis=1) / norm.loc[keep, b1].mean(axis=1))
    true = genes.loc[observed.index, "true_batch_log2fc_b2_vs_b1"]
    assert np.corrcoef(observed, true)[0, 1] > 0.9
    assert not SimManifest.load(tmp_path / "manifest.json").batches == {}


def _records(path: str) -> list[tuple[str, str, str]]:
    with dnaio.open(path) as reader:
        return [(r.name, r.sequence, r.qualities or "") for r in reader]


def test_single_end_lanes_are_the_paired_sets_read_1_split_with_illumina_names(
    tmp_path: Path, runs: dict[str, SimManifest]
) -> None:
    paired = runs["default"]
    split = simulate(tmp_path, replace(SMALL, single_end=True, lanes=3))
    for number, sample in enumerate(paired.reads, start=1):
        lanes = split.runs[sample]
        assert [Path(run[0]).name for run in lanes] == [
            f"{sample}_S{number}_L00{k}_R1_001.fastq.gz" for k in (1, 2, 3)
        ]
        assert all(len(run) == 1 for run in lanes)  # read 1 only
        assert split.reads[sample] == [run[0] for run in lanes]
        joined = [rec for run in lanes for rec in _records(run[0])]
        assert joined == _records(paired.reads[sample][0])  # same reads, in order
        assert min(len(_records(run[0])) for run in lanes) > 0
    # the truth does not depend on how the reads are written
    assert Path(split.truth_counts).read_text() == Path(paired.truth_counts).read_text()
    assert SimManifest.load(tmp_path / "manifest.json").runs == split.runs
