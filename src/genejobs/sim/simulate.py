"""Simulate a genome, a GENCODE-style annotation and reads (paired or single-end, in one
file per read or split in lanes) with known truth.

It shares no code with ``genejobs.pipeline`` or ``genejobs.references`` on
purpose: the truth it writes checks those modules, so it must not inherit their
bugs. Features real data has and the pipeline must cope with: spliced multi-exon
genes on both strands with GT–AG introns, isoforms, antisense genes overlapping
another gene, near-identical paralogs (2% divergence), rRNA genes (optionally many
near-identical copies carrying a chosen share of the fragments), sequencing
errors with matching low qualities, adapter read-through on short fragments and
intronic/intergenic noise, for a chosen library type.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_COMP = bytes.maketrans(b"ACGTN", b"TGCAN")
READ2_ADAPTER = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT"  # Illumina TruSeq read 2


@dataclass(frozen=True)
class SimConfig:
    n_genes: int = 200  # ordinary genes; antisense partners, paralogs and rRNA come on top
    groups: tuple[str, ...] = ("K", "W")  # the first group is the control
    samples_per_group: int = 3
    pairs_per_sample: int = 20_000
    read_length: int = 100
    library_type: str = "fr-firststrand"
    adapter: str = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"  # TruSeq read 1 adapter
    fraction_de: float = 0.1
    seed: int = 1
    error_rate: float = 0.002
    n_chromosomes: int = 2
    fraction_antisense: float = 0.05
    fraction_paralog: float = 0.04
    paralog_divergence: float = 0.02
    fraction_noise: float = 0.03
    fragment_mean: int = 250
    fragment_sd: int = 60
    dispersion: float = 0.05
    # Multi-copy rRNA: ``rrna_copies`` near-identical copies of one unit, spread over the
    # chromosomes, drawing ``fraction_rrna`` of the signal fragments between them. 0 = off
    # (then only the two short single-copy rRNA genes, as before).
    rrna_copies: int = 0
    fraction_rrna: float = 0.0
    rrna_divergence: float = 0.002
    rrna_length: int = 1500
    # Batches: sample i of each group is in batch b(i mod batches + 1); each gene's
    # expression shifts in every batch but the first by N(0, batch_effect_sd) in log2.
    batches: int = 1
    batch_effect_sd: float = 0.0
    write_reads: bool = True  # False: genome, annotation and truth counts only (fast)
    # Read 1 only (the same reads as the paired data set's read 1: one seed, same truth).
    single_end: bool = False
    # Each sample's reads split in this many lanes (consecutive, in order), with the names
    # Illumina's converters give them: <sample>_S<n>_L00<k>_R1_001.fastq.gz.
    lanes: int = 1


@dataclass
class SimManifest:
    out_dir: str
    genome: str
    gtf: str
    bed: str
    truth_counts: str
    truth_genes: str
    groups: dict[str, list[str]]
    reads: dict[str, list[str]]
    library_type: str
    adapter: str
    config: dict[str, object] = field(default_factory=dict)
    batches: dict[str, str] = field(default_factory=dict)  # sample -> batch (b1, b2, ...)
    # sample -> its runs (lanes), each [R1, R2] or [R1]; ``reads`` lists the same files flat
    runs: dict[str, list[list[str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> SimManifest:
        return cls(**json.loads(Path(path).read_text()))


@dataclass
class _Gene:
    gene_id: str
    name: str
    gene_type: str
    chrom: int
    strand: str
    transcripts: list[list[tuple[int, int]]]  # exons per transcript, genome order, 0-based
    paralog_of: str = ""
    antisense_to: str = ""


def _revcomp(seq: bytes) -> bytes:
    return seq.translate(_COMP)[::-1]


def _exons(rng: np.random.Generator, start: int, n_exons: int) -> list[tuple[int, int]]:
    out, pos = [], start
    for i in range(n_exons):
        length = int(rng.integers(90, 400))
        out.append((pos, pos + length))
        pos += length + (int(rng.integers(150, 1500)) if i < n_exons - 1 else 0)
    return out


def _isoforms(
    rng: np.random.Generator, exons: list[tuple[int, int]]
) -> list[list[tuple[int, int]]]:
    isoforms = [exons]
    if len(exons) >= 3 and rng.random() < 0.5:  # exon skipping
        skip = int(rng.integers(1, len(exons) - 1))
        isoforms.append(exons[:skip] + exons[skip + 1 :])
    if rng.random() < 0.3:  # shorter last exon
        s, e = exons[-1]
        isoforms.append(exons[:-1] + [(s, s + max(60, (e - s) // 2))])
    return isoforms


class _Builder:
    def __init__(self, config: SimConfig) -> None:
        self.c = config
        self.rng = np.random.default_rng(config.seed)
        self.genes: list[_Gene] = []
        self.chroms: list[np.ndarray] = []
        self.batch_log2fc = np.zeros((0, 1))  # genes x batches, set by _expression

    def layout(self) -> None:
        """Place loci one after another on each chromosome, then write splice sites."""
        c, rng = self.c, self.rng
        per_chrom = [c.n_genes // c.n_chromosomes] * c.n_chromosomes
        per_chrom[0] += c.n_genes - sum(per_chrom)
        counter = 0
        paralog_jobs: list[tuple[_Gene, int, int]] = []
        rrna_slots: list[list[int]] = []
        lengths = []
        for chrom, n in enumerate(per_chrom):
            pos = 2000
            for _ in range(n):
                counter += 1
                strand = "+" if rng.random() < 0.5 else "-"
                exons = _exons(rng, pos, int(rng.integers(1, 7)))
                gene = _Gene(
                    f"ENSGSIM{counter:07d}.1",
                    f"GENE{counter}",
                    "protein_coding",
                    chrom,
                    strand,
                    _isoforms(rng, exons),
                )
                self.genes.append(gene)
                end = exons[-1][1]
                if rng.random() < c.fraction_antisense and len(exons) >= 2:
                    counter += 1
                    # an lncRNA on the other strand overlapping the gene's 3' half
                    a_start = exons[len(exons) // 2][0] + 30
                    a_exons = _exons(rng, a_start, 2)
                    self.genes.append(
                        _Gene(
                            f"ENSGSIM{counter:07d}.1",
                            f"GENE{counter}-AS1",
                            "lncRNA",
                            chrom,
                            "-" if strand == "+" else "+",
                            [a_exons],
                            antisense_to=gene.gene_id,
                        )
                    )
                    end = max(end, a_exons[-1][1])
                pos = end + int(rng.integers(800, 3000))
                if rng.random() < c.fraction_paralog:
                    span = end - exons[0][0]
                    paralog_jobs.append((gene, chrom, pos))
                    pos += span + int(rng.integers(800, 3000))
            for k in range(2 if chrom == 0 else 0):  # rRNA genes
                counter += 1
                self.genes.append(
                    _Gene(
                        f"ENSGSIM{counter:07d}.1",
                        f"RNA5-8SN{k + 1}",
                        "rRNA",
                        chrom,
                        "+",
                        [[(pos, pos + 150)]],
                    )
                )
                pos += 150 + 2000
            rrna_slots.append([])
            for _ in range(self._copies_on(chrom)):  # multi-copy rRNA units, placed later
                rrna_slots[chrom].append(pos)
                pos += c.rrna_length + 2000
            lengths.append(pos + 2000)
        self.chroms = [BASES[rng.integers(0, 4, size=n)].copy() for n in lengths]
        for gene in self.genes:
            self._splice_sites(gene)
        for source, chrom, pos in paralog_jobs:
            counter += 1
            self._paralog(source, chrom, pos, f"ENSGSIM{counter:07d}.1", counter)
        if c.rrna_copies:
            unit = BASES[rng.integers(0, 4, size=c.rrna_length)].copy()
            copy_no = 0
            for chrom, slots in enumerate(rrna_slots):
                for pos in slots:
                    counter += 1
                    copy_no += 1
                    self._rrna_copy(unit, chrom, pos, f"ENSGSIM{counter:07d}.1", copy_no)

    def _copies_on(self, chrom: int) -> int:
        """Multi-copy rRNA units on a chromosome: spread as evenly as possible."""
        n, k = self.c.rrna_copies, self.c.n_chromosomes
        return n // k + (1 if chrom < n % k else 0)

    def _rrna_copy(self, unit: np.ndarray, chrom: int, pos: int, gene_id: str, n: int) -> None:
        """One copy of the rRNA unit, with ``rrna_divergence`` substitutions of its own."""
        copy = unit.copy()
        for i in np.flatnonzero(self.rng.random(len(copy)) < self.c.rrna_divergence):
            copy[i] = BASES[(int(np.flatnonzero(BASES == copy[i])[0]) + 1) % 4]
        self.chroms[chrom][pos : pos + len(copy)] = copy
        self.genes.append(
            _Gene(gene_id, f"RNA45SN{n}", "rRNA", chrom, "+", [[(pos, pos + len(copy))]])
        )

    def _splice_sites(self, gene: _Gene) -> None:
        seq = self.chroms[gene.chrom]
        donor, acceptor = (b"GT", b"AG") if gene.strand == "+" else (b"CT", b"AC")
        for tx in gene.transcripts:
            for (_, e1), (s2, _) in zip(tx, tx[1:], strict=False):
                seq[e1 : e1 + 2] = np.frombuffer(donor, dtype=np.uint8)
                seq[s2 - 2 : s2] = np.frombuffer(acceptor, dtype=np.uint8)

    def _paralog(self, src: _Gene, chrom: int, pos: int, gene_id: str, n: int) -> None:
        lo = min(s for tx in src.transcripts for s, _ in tx)
        hi = max(e for tx in src.transcripts for _, e in tx)
        copy = self.chroms[src.chrom][lo:hi].copy()
        mutate = np.flatnonzero(self.rng.random(hi - lo) < self.c.paralog_divergence)
        for i in mutate:
            copy[i] = BASES[
                (int(np.flatnonzero(BASES == copy[i])[0]) + int(self.rng.integers(1, 4))) % 4
            ]
        self.chroms[chrom][pos : pos + (hi - lo)] = copy
        shift = pos - lo
        gene = _Gene(
            gene_id,
            f"{src.name}P{n}",
            "protein_coding",
            chrom,
            src.strand,
            [[(s + shift, e + shift) for s, e in tx] for tx in src.transcripts],
            paralog_of=src.gene_id,
        )
        self._splice_sites(gene)  # keep GT/AG even where a substitution hit them
        self.genes.append(gene)

    def transcript_seq(self, gene: _Gene, tx: list[tuple[int, int]]) -> bytes:
        seq = self.chroms[gene.chrom]
        s = b"".join(seq[a:b].tobytes() for a, b in tx)
        return s if gene.strand == "+" else _revcomp(s)


def _write_annotation(out: Path, genes: list[_Gene], chrom_names: list[str]) -> None:
    gtf, bed = [], []
    for g in genes:
        chrom = chrom_names[g.chrom]
        lo = min(s for tx in g.transcripts for s, _ in tx)
        hi = max(e for tx in g.transcripts for _, e in tx)
        attrs = f'gene_id "{g.gene_id}"; gene_type "{g.gene_type}"; gene_name "{g.name}";'
        gtf.append(f"{chrom}\tSIM\tgene\t{lo + 1}\t{hi}\t.\t{g.strand}\t.\t{attrs}")
        for t, tx in enumerate(g.transcripts, start=1):
            tid = f"{g.gene_id.split('.')[0].replace('ENSG', 'ENST')}{t:02d}.1"
            tattrs = f'{attrs} transcript_id "{tid}"; transcript_type "{g.gene_type}";'
            gtf.append(
                f"{chrom}\tSIM\ttranscript\t{tx[0][0] + 1}\t{tx[-1][1]}\t.\t{g.strand}\t.\t{tattrs}"
            )
            for k, (s, e) in enumerate(tx, start=1):
                num = k if g.strand == "+" else len(tx) - k + 1
                gtf.append(
                    f"{chrom}\tSIM\texon\t{s + 1}\t{e}\t.\t{g.strand}\t.\t{tattrs} exon_number {num};"
                )
            sizes = ",".join(str(e - s) for s, e in tx)
            starts = ",".join(str(s - tx[0][0]) for s, _ in tx)
            bed.append(
                f"{chrom}\t{tx[0][0]}\t{tx[-1][1]}\t{tid}\t0\t{g.strand}\t{tx[0][0]}\t"
                f"{tx[-1][1]}\t0\t{len(tx)}\t{sizes},\t{starts},"
            )
    header = "##description: genejobs simulated annotation\n##provider: genejobs-sim\n"
    (out / "annotation.gtf").write_text(header + "\n".join(gtf) + "\n")
    (out / "genes.bed").write_text("\n".join(bed) + "\n")


def _expression(
    b: _Builder, samples: list[tuple[str, str]], batches: list[int] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fragments per gene and sample (NB around a mean) and the true log2 fold changes.

    With ``batches`` (each sample's batch index), every batch but the first shifts each
    gene's expression by its own N(0, batch_effect_sd) log2 fold change.
    """
    c, rng = b.c, b.rng
    n = len(b.genes)
    base = rng.lognormal(mean=np.log(60), sigma=1.6, size=n)
    lfc: dict[str, np.ndarray] = {}
    de_mask = rng.random(n) < c.fraction_de
    # Near-identical rRNA copies change together (no method could tell them apart).
    de_mask &= ~np.array([g.name.startswith("RNA45SN") for g in b.genes])
    for group in c.groups[1:]:
        v = np.zeros(n)
        signs = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        v[de_mask] = signs[de_mask] * rng.uniform(1.0, 3.0, size=n)[de_mask]
        lfc[group] = v
    signal_pairs = int(c.pairs_per_sample * (1 - c.fraction_noise))
    counts = np.zeros((n, len(samples)), dtype=np.int64)
    multi_rrna = np.array([g.name.startswith("RNA45SN") for g in b.genes])
    shift = np.zeros((n, 1))
    if batches is not None and c.batches > 1:
        shift = rng.normal(0.0, c.batch_effect_sd, size=(n, c.batches))
        shift[:, 0] = 0.0
    b.batch_log2fc = shift
    for j, (_, group) in enumerate(samples):
        mu = base * (2.0 ** lfc[group] if group in lfc else 1.0) * rng.uniform(0.7, 1.4)
        if batches is not None and c.batches > 1:
            mu = mu * 2.0 ** shift[:, batches[j]]
        mu = mu / mu.sum() * signal_pairs * rng.uniform(0.85, 1.15)
        if multi_rrna.any():  # the copies together carry fraction_rrna of the fragments
            total = mu.sum()
            mu[~multi_rrna] *= (1 - c.fraction_rrna) * total / mu[~multi_rrna].sum()
            mu[multi_rrna] *= c.fraction_rrna * total / mu[multi_rrna].sum()
        r = 1.0 / c.dispersion
        counts[:, j] = rng.poisson(rng.gamma(r, mu / r))
    return counts, lfc


def _reads_for_sample(
    b: _Builder, tx_seqs: list[list[bytes]], gene_counts: np.ndarray, noise_pairs: int
) -> tuple[list[bytes], list[bytes]]:
    """Fragments (transcript sense) → read 1 / read 2 sequences per library type."""
    c, rng = b.c, b.rng
    rl = c.read_length
    r1s: list[bytes] = []
    r2s: list[bytes] = []
    a1 = c.adapter.encode() + b"A" * rl
    a2 = READ2_ADAPTER.encode() + b"A" * rl
    frags: list[bytes] = []
    for g, k in enumerate(gene_counts):
        if k == 0:
            continue
        seqs = tx_seqs[g]
        which = rng.integers(0, len(seqs), size=k)
        flen = np.clip(rng.normal(c.fragment_mean, c.fragment_sd, size=k), 40, None).astype(int)
        for t, f in zip(which, flen, strict=True):
            tx = seqs[t]
            f = min(int(f), len(tx))
            s = int(rng.integers(0, len(tx) - f + 1))
            frags.append(tx[s : s + f])
    for _ in range(noise_pairs):  # intronic / intergenic fragments, either strand
        chrom = b.chroms[int(rng.integers(0, len(b.chroms)))]
        f = int(np.clip(rng.normal(c.fragment_mean, c.fragment_sd), 40, None))
        s = int(rng.integers(0, len(chrom) - f))
        frag = chrom[s : s + f].tobytes()
        frags.append(frag if rng.random() < 0.5 else _revcomp(frag))
    sense_first = {"fr-secondstrand": True, "fr-firststrand": False}.get(c.library_type)
    flips = rng.random(len(frags)) < 0.5
    for i, frag in enumerate(frags):
        first = sense_first if sense_first is not None else bool(flips[i])
        top, bottom = (frag, _revcomp(frag)) if first else (_revcomp(frag), frag)
        r1s.append((top + a1)[:rl])
        r2s.append((bottom + a2)[:rl])
    return r1s, r2s


def _write_fastq(
    path: Path, names: list[str], seqs: np.ndarray, quals: np.ndarray, mate: int
) -> None:
    lines = []
    for name, s, q in zip(names, seqs, quals, strict=True):
        lines.append(b"@%s/%d\n%s\n+\n%s\n" % (name.encode(), mate, s.tobytes(), q.tobytes()))
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b"".join(lines))


def _write_runs(
    folder: Path,
    name: str,
    number: int,
    c: SimConfig,
    names: list[str],
    mate1: tuple[np.ndarray, np.ndarray],
    mate2: tuple[np.ndarray, np.ndarray],
) -> list[list[str]]:
    """A sample's reads as ``c.lanes`` runs of consecutive reads (read 1 only when single-
    end); one lane keeps the short names ``<sample>_R1.fastq.gz``."""
    bounds = np.linspace(0, len(names), c.lanes + 1).astype(int)
    mates = [mate1] if c.single_end else [mate1, mate2]
    runs = []
    for k in range(c.lanes):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        run = []
        for m, (seqs, quals) in enumerate(mates, start=1):
            stem = f"{name}_S{number}_L{k + 1:03d}_R{m}_001" if c.lanes > 1 else f"{name}_R{m}"
            path = folder / f"{stem}.fastq.gz"
            _write_fastq(path, names[lo:hi], seqs[lo:hi], quals[lo:hi], m)
            run.append(str(path))
        runs.append(run)
    return runs


def _sequence_errors(b: _Builder, reads: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Substitutions at ``error_rate``, with low qualities where they happen."""
    rng = b.rng
    arr = np.frombuffer(b"".join(reads), dtype=np.uint8).reshape(len(reads), b.c.read_length).copy()
    qual = np.full(arr.shape, ord("I"), dtype=np.uint8)  # Phred 40
    # quality drifts down along the read, like Illumina
    pos_q = np.linspace(40, 30, arr.shape[1]).astype(np.uint8) + 33
    qual[:] = pos_q
    err = rng.random(arr.shape) < b.c.error_rate * np.linspace(0.5, 1.5, arr.shape[1])
    shift = rng.integers(1, 4, size=arr.shape)
    codes = np.searchsorted(BASES, arr)
    codes = np.where(codes < 4, codes, 0)
    arr = np.where(err, BASES[(codes + shift) % 4], arr)
    qual = np.where(err, rng.integers(35, 48, size=arr.shape), qual).astype(np.uint8)
    return arr, qual


def simulate(out_dir: Path, config: SimConfig | None = None) -> SimManifest:
    """Write genome, annotation, BED12, reads and truth under ``out_dir``."""
    c = config or SimConfig()
    if c.library_type not in ("fr-unstranded", "fr-firststrand", "fr-secondstrand"):
        raise ValueError(f"library_type: unknown '{c.library_type}'")
    if c.lanes < 1:
        raise ValueError("lanes: at least 1")
    if len(c.groups) < 2 or c.samples_per_group < 1:
        raise ValueError("at least two groups of at least one sample are needed")
    out = Path(out_dir)
    (out / "reads").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    b = _Builder(c)
    b.layout()
    chrom_names = [f"chr{i + 1}" for i in range(len(b.chroms))]
    with open(out / "genome.fa", "w") as fh:
        for name, seq in zip(chrom_names, b.chroms, strict=True):
            fh.write(f">{name}\n")
            text = seq.tobytes().decode()
            fh.write("\n".join(text[i : i + 60] for i in range(0, len(text), 60)) + "\n")
    _write_annotation(out, b.genes, chrom_names)
    samples = [(f"{g}_rep{i + 1}", g) for g in c.groups for i in range(c.samples_per_group)]
    batch_of = [i % max(1, c.batches) for _ in c.groups for i in range(c.samples_per_group)]
    counts, lfc = _expression(b, samples, batch_of if c.batches > 1 else None)
    tx_seqs = [[b.transcript_seq(g, tx) for tx in g.transcripts] for g in b.genes]
    reads: dict[str, list[str]] = {}
    runs: dict[str, list[list[str]]] = {}
    noise: list[tuple[str, int]] = []
    for j, (name, _) in enumerate(samples):
        if not c.write_reads:
            break
        noise_pairs = int(round(counts[:, j].sum() * c.fraction_noise / (1 - c.fraction_noise)))
        r1, r2 = _reads_for_sample(b, tx_seqs, counts[:, j], noise_pairs)
        order = b.rng.permutation(len(r1))
        r1 = [r1[i] for i in order]
        r2 = [r2[i] for i in order]
        names = [f"{name}.{i + 1}" for i in range(len(r1))]
        s1, q1 = _sequence_errors(b, r1)
        s2, q2 = _sequence_errors(b, r2)
        runs[name] = _write_runs(out / "reads", name, j + 1, c, names, (s1, q1), (s2, q2))
        reads[name] = [f for run in runs[name] for f in run]
        noise.append((name, noise_pairs))
    _write_truth(out, b, samples, counts, lfc, noise)
    groups = {g: [s for s, sg in samples if sg == g] for g in c.groups}
    manifest = SimManifest(
        out_dir=str(out),
        genome=str(out / "genome.fa"),
        gtf=str(out / "annotation.gtf"),
        bed=str(out / "genes.bed"),
        truth_counts=str(out / "truth" / "counts.csv"),
        truth_genes=str(out / "truth" / "genes.csv"),
        groups=groups,
        reads=reads,
        library_type=c.library_type,
        adapter=c.adapter,
        config=json.loads(json.dumps(asdict(c))),  # as ``load`` will read it (lists, not tuples)
        batches=(
            {s: f"b{k + 1}" for (s, _), k in zip(samples, batch_of, strict=True)}
            if c.batches > 1
            else {}
        ),
        runs=runs,
    )
    (out / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1))
    return manifest


def _write_truth(
    out: Path,
    b: _Builder,
    samples: list[tuple[str, str]],
    counts: np.ndarray,
    lfc: dict[str, np.ndarray],
    noise: list[tuple[str, int]],
) -> None:
    control = b.c.groups[0]
    header = ["gene_id"] + [s for s, _ in samples]
    lines = [",".join(header)]
    for g, gene in enumerate(b.genes):
        lines.append(",".join([gene.gene_id] + [str(int(x)) for x in counts[g]]))
    (out / "truth" / "counts.csv").write_text("\n".join(lines) + "\n")
    cols = ["gene_id", "gene_name", "gene_type", "strand"]
    batch_cols = range(1, b.batch_log2fc.shape[1]) if b.c.batches > 1 else range(0)
    cols += [f"true_log2fc_{grp}_vs_{control}" for grp in lfc]
    cols += [f"true_batch_log2fc_b{k + 1}_vs_b1" for k in batch_cols] + [
        "is_de",
        "paralog_of",
        "antisense_to",
    ]
    rows = [",".join(cols)]
    for g, gene in enumerate(b.genes):
        fcs = [f"{lfc[grp][g]:.4f}" for grp in lfc]
        fcs += [f"{b.batch_log2fc[g, k]:.4f}" for k in batch_cols]
        is_de = any(abs(lfc[grp][g]) > 0 for grp in lfc)
        rows.append(
            ",".join(
                [
                    gene.gene_id,
                    gene.name,
                    gene.gene_type,
                    gene.strand,
                    *fcs,
                    str(is_de),
                    gene.paralog_of,
                    gene.antisense_to,
                ]
            )
        )
    (out / "truth" / "genes.csv").write_text("\n".join(rows) + "\n")
    (out / "truth" / "noise.csv").write_text(
        "sample,noise_pairs\n" + "\n".join(f"{s},{n}" for s, n in noise) + "\n"
    )
