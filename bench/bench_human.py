"""Human scale: what `ref add`, the gene model, one sample and the statistics cost.

Builds a simulated human-like reference (GRCh38's 24 chromosome lengths times
``--scale``; interspersed repeat families; genes with GENCODE-like exon and intron
lengths on both strands, overlapping and antisense ones, 2%-diverged paralogs), or
takes a real ``--fasta`` and ``--gtf``, then measures:

1. ``genejobs ref add`` (a subprocess): wall time, peak RSS (the largest process:
   the CLI or its index child), index size on disk; for each ``--index-w`` setting.
2. The GTF gene model at full GENCODE size (60k genes, ~250k transcripts, ~1.6M exon
   lines, always full size: it needs no genome): parse, load, and the counter's index.
3. One sample of ``--pairs`` simulated pairs (fr-firststrand) in a worker-like
   subprocess, 2 threads: pairs/s per core, PSS/USS of the worker, the align server
   and its children (sampled every 0.5 s; the children share the index pages), disk.
4. Sensitivity at each index setting, on ``--truth-pairs`` of the same reads: counts
   against the simulator's truth, overall, for paralogs, short-exon genes and spliced
   fragments' genes.
5. Statistics and report at 60k genes x 24 samples: time and peak memory.

Extrapolation to scale 1 is printed explicitly: index size and memory scale with
the genome (minimizers per base are a constant for random sequence and fall for
repetitive DNA, so linear scaling is an upper bound); throughput per core is taken
as scale-independent (minimap2's per-read work depends on hits per seed, which
repeats, not genome size, drive).

    .venv/bin/python bench/bench_human.py --scale 0.1 --pairs 5000000
    .venv/bin/python bench/bench_human.py --fasta GRCh38.fa --gtf gencode.gtf --pairs 5000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
from isal import igzip

GRCH38 = [  # (name, bp) of GRCh38's primary chromosomes
    ("chr1", 248_956_422), ("chr2", 242_193_529), ("chr3", 198_295_559),
    ("chr4", 190_214_555), ("chr5", 181_538_259), ("chr6", 170_805_979),
    ("chr7", 159_345_973), ("chr8", 145_138_636), ("chr9", 138_394_717),
    ("chr10", 133_797_422), ("chr11", 135_086_622), ("chr12", 133_275_309),
    ("chr13", 114_364_328), ("chr14", 107_043_718), ("chr15", 101_991_189),
    ("chr16", 90_338_345), ("chr17", 83_257_441), ("chr18", 80_373_285),
    ("chr19", 58_617_616), ("chr20", 64_444_167), ("chr21", 46_709_983),
    ("chr22", 50_818_468), ("chrX", 156_040_895), ("chrY", 57_227_415),
]  # fmt: skip
HUMAN_BP = sum(n for _, n in GRCH38)
HUMAN_GENES = 60_000
READ_LEN = 100
ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
COMPLEMENT = np.zeros(256, dtype=np.uint8)
COMPLEMENT[list(b"ACGTN")] = list(b"TGCAN")


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


# ---- the simulated reference ---------------------------------------------------------


@dataclass
class Gene:
    gene_id: str
    chrom: str
    strand: str
    transcripts: list[list[tuple[int, int]]]  # 0-based half-open exons, ascending
    kind: str = ""  # "paralog" for a diverged copy of another gene


@dataclass
class Reference:
    fasta: Path
    gtf: Path
    bed: Path
    genome_bin: Path  # the bases concatenated (uint8), for read simulation
    offsets: dict[str, int]
    genes: list[Gene] = field(default_factory=list)


def _gene_structure(rng: np.random.Generator) -> tuple[list[tuple[int, int]], list[list[int]]]:
    """Exons (relative to the gene start) and each transcript's exon indices.

    GENCODE: ~4.2 transcripts and ~27 exon lines per gene (~6.4 per transcript);
    internal exons ~120 bp (some under 40 bp), terminal ones longer, introns
    log-normal around 1.5 kb with a long tail.
    """
    n_exons = int(np.clip(rng.geometric(1 / 9), 1, 60))
    lengths = np.clip(rng.lognormal(np.log(120), 0.6, n_exons), 12, 3000).astype(int)
    lengths[0] = int(np.clip(rng.lognormal(np.log(250), 0.7), 50, 4000))
    lengths[-1] = int(np.clip(rng.lognormal(np.log(900), 0.8), 80, 8000))
    introns = np.clip(rng.lognormal(np.log(1500), 1.3, max(0, n_exons - 1)), 70, 200_000)
    exons, pos = [], 0
    for i, length in enumerate(lengths):
        exons.append((pos, pos + int(length)))
        pos += int(length) + (int(introns[i]) if i < n_exons - 1 else 0)
    n_tx = int(np.clip(rng.geometric(1 / 4.2), 1, 30))
    txs = []
    for _ in range(n_tx):
        if n_exons <= 2:
            txs.append(list(range(n_exons)))
            continue
        keep = rng.random(n_exons) < 0.7
        first = int(rng.integers(0, max(1, n_exons // 3)))
        last = int(rng.integers(max(first + 1, 2 * n_exons // 3), n_exons + 1))
        chosen = [i for i in range(first, last) if keep[i] or i in (first, last - 1)]
        txs.append(chosen or [0])
    return exons, txs


def build_reference(out: Path, scale: float, n_genes: int, seed: int = 1) -> Reference:
    """Write genome.fa, genes.gtf, genes.bed and genome.bin, one chromosome at a time."""
    rng = np.random.default_rng(seed)
    families = [ACGT[rng.integers(0, 4, int(n))] for n in rng.choice([300, 1000, 6000], 60)]
    ref = Reference(out / "genome.fa", out / "genes.gtf", out / "genes.bed", out / "genome.bin", {})
    offset = 0
    with (
        open(ref.fasta, "wb") as fa,
        open(ref.genome_bin, "wb") as gb,
        open(ref.gtf, "w") as gtf,
        open(ref.bed, "w") as bed,
    ):
        for chrom, full in GRCH38:
            length = max(100_000, int(full * scale))
            seq = ACGT[rng.integers(0, 4, length)]
            # Interspersed repeats (~25% of the sequence), 10% diverged copies of 60 families.
            covered = 0
            while covered < 0.25 * length:
                fam = families[int(rng.integers(0, len(families)))]
                at = int(rng.integers(0, length - len(fam)))
                copy = fam.copy()
                hits = rng.random(len(copy)) < 0.10
                copy[hits] = ACGT[rng.integers(0, 4, int(hits.sum()))]
                seq[at : at + len(copy)] = copy
                covered += len(copy)
            genes = _place_genes(rng, chrom, length, round(n_genes * full / HUMAN_BP), seq)
            ref.genes += genes
            _write_genes(gtf, bed, genes)
            ref.offsets[chrom] = offset
            offset += length
            gb.write(seq.tobytes())
            fa.write(f">{chrom}\n".encode())
            body = seq[: length - length % 60].reshape(-1, 60)
            fa.write(np.hstack([body, np.full((len(body), 1), 10, np.uint8)]).tobytes())
            if length % 60:
                fa.write(seq[length - length % 60 :].tobytes() + b"\n")
            print(f"  {chrom}: {length:,} bp, {len(genes)} genes", file=sys.stderr, flush=True)
    return ref


def _place_genes(
    rng: np.random.Generator, chrom: str, length: int, n: int, seq: np.ndarray | None
) -> list[Gene]:
    """``n`` genes at random places (so some overlap, on either strand); 15% are placed
    antisense inside another gene; 2% are paralogs: a 2%-diverged copy of an earlier
    gene's sequence (needs ``seq``)."""
    genes: list[Gene] = []
    for i in range(n):
        exons, txs = _gene_structure(rng)
        span = exons[-1][1]
        if span >= length - 10:
            exons, txs = [(0, min(2000, length // 2))], [[0]]
            span = exons[-1][1]
        strand = "+" if rng.random() < 0.5 else "-"
        kind = ""
        if genes and rng.random() < 0.15:  # antisense, inside a neighbour
            host = genes[int(rng.integers(0, len(genes)))]
            lo = host.transcripts[0][0][0]
            start = int(min(max(0, lo + rng.integers(0, 5000)), length - span - 1))
            strand = "-" if host.strand == "+" else "+"
        else:
            start = int(rng.integers(0, length - span))
        if seq is not None and genes and rng.random() < 0.02:  # a paralog of an earlier gene
            src = genes[int(rng.integers(0, len(genes)))]
            s_lo = min(s for tx in src.transcripts for s, _ in tx)
            s_hi = max(e for tx in src.transcripts for _, e in tx)
            if s_hi - s_lo < length // 4:
                start = int(rng.integers(0, length - (s_hi - s_lo)))
                copy = seq[s_lo:s_hi].copy()
                hits = rng.random(len(copy)) < 0.02
                copy[hits] = ACGT[rng.integers(0, 4, int(hits.sum()))]
                seq[start : start + len(copy)] = copy
                shift = start - s_lo
                transcripts = [[(s + shift, e + shift) for s, e in tx] for tx in src.transcripts]
                genes.append(Gene(f"G{chrom}.{i}", chrom, src.strand, transcripts, "paralog"))
                continue
        transcripts = [[(start + exons[k][0], start + exons[k][1]) for k in tx] for tx in txs]
        genes.append(Gene(f"G{chrom}.{i}", chrom, strand, transcripts, kind))
    return genes


def _write_genes(gtf: object, bed: object, genes: list[Gene]) -> None:
    """GENCODE-style gene, transcript and exon lines; BED12 per transcript (for RSeQC)."""
    lines, beds = [], []
    for g in genes:
        lo = min(s for tx in g.transcripts for s, _ in tx)
        hi = max(e for tx in g.transcripts for _, e in tx)
        gattrs = f'gene_id "{g.gene_id}"; gene_type "protein_coding"; gene_name "{g.gene_id}";'
        lines.append(f"{g.chrom}\tSIM\tgene\t{lo + 1}\t{hi}\t.\t{g.strand}\t.\t{gattrs}\n")
        for t, tx in enumerate(g.transcripts):
            tattrs = f'{gattrs} transcript_id "{g.gene_id}.t{t}";'
            a, b = tx[0][0], tx[-1][1]
            lines.append(f"{g.chrom}\tSIM\ttranscript\t{a + 1}\t{b}\t.\t{g.strand}\t.\t{tattrs}\n")
            for n, (s, e) in enumerate(tx, start=1):
                attrs = f"{tattrs} exon_number {n};"
                lines.append(f"{g.chrom}\tSIM\texon\t{s + 1}\t{e}\t.\t{g.strand}\t.\t{attrs}\n")
            sizes = ",".join(str(e - s) for s, e in tx)
            starts = ",".join(str(s - a) for s, _ in tx)
            beds.append(
                f"{g.chrom}\t{a}\t{b}\t{g.gene_id}.t{t}\t0\t{g.strand}\t{a}\t{b}\t0\t"
                f"{len(tx)}\t{sizes}\t{starts}\n"
            )
    gtf.write("".join(lines))
    bed.write("".join(beds))


def full_size_gtf(path: Path, n_genes: int) -> tuple[int, int]:
    """A GENCODE-sized annotation on GRCh38's chromosome lengths (no genome needed)."""
    rng = np.random.default_rng(2)
    n_tx = n_exon = 0
    with open(path, "w") as gtf, open(os.devnull, "w") as bed:
        for chrom, full in GRCH38:
            genes = _place_genes(rng, chrom, full, round(n_genes * full / HUMAN_BP), None)
            n_tx += sum(len(g.transcripts) for g in genes)
            n_exon += sum(len(tx) for g in genes for tx in g.transcripts)
            _write_genes(gtf, bed, genes)
    return n_tx, n_exon


# ---- reads --------------------------------------------------------------------------


def simulate_reads(
    ref: Reference, r1: Path, r2: Path, n_pairs: int, first: int, seed: int = 3
) -> dict[str, np.ndarray]:
    """fr-firststrand pairs from expressed transcripts; returns per-gene truth (for all
    pairs, and for the ``first`` ones) and fragments that crossed a splice junction."""
    rng = np.random.default_rng(seed)
    genome = np.memmap(ref.genome_bin, dtype=np.uint8, mode="r")
    gene_expr = np.where(rng.random(len(ref.genes)) < 0.6, rng.lognormal(0, 2, len(ref.genes)), 0)
    seqs, weights, gene_of, starts_in_tx = [], [], [], []
    for gi, g in enumerate(ref.genes):
        if gene_expr[gi] == 0:
            continue
        share = rng.dirichlet(np.ones(len(g.transcripts)))
        base = ref.offsets[g.chrom]
        for tx, w in zip(g.transcripts, share, strict=True):
            s = np.concatenate([genome[base + a : base + b] for a, b in tx])
            if len(s) < 150:
                continue
            if g.strand == "-":
                s = COMPLEMENT[s[::-1]]
            seqs.append(s)
            weights.append(gene_expr[gi] * w * len(s))
            gene_of.append(gi)
            bounds = np.cumsum([b - a for a, b in tx])[:-1]  # junctions in transcript coords
            starts_in_tx.append(bounds if g.strand == "+" else len(s) - bounds[::-1])
    lengths = np.array([len(s) for s in seqs])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    tx_all = np.concatenate(seqs)
    p = np.array(weights) / np.sum(weights)
    gene_of_arr = np.array(gene_of)
    truth = np.zeros(len(ref.genes), dtype=np.int64)
    truth_first = np.zeros(len(ref.genes), dtype=np.int64)
    spliced = np.zeros(len(ref.genes), dtype=np.int64)
    cols = np.arange(READ_LEN)
    with igzip.open(r1, "wb", compresslevel=1) as f1, igzip.open(r2, "wb", compresslevel=1) as f2:
        done = 0
        while done < n_pairs:
            n = min(200_000, n_pairs - done)
            t = rng.choice(len(p), n, p=p)
            frag = np.minimum(np.clip(rng.normal(280, 60, n), 120, 600).astype(int), lengths[t])
            pos = (rng.random(n) * (lengths[t] - frag + 1)).astype(int)
            start = offsets[t] + pos
            r2s = tx_all[start[:, None] + cols]  # read 2: the transcript's sense
            r1s = COMPLEMENT[tx_all[(start + frag - 1)[:, None] - cols]]  # read 1: antisense
            for reads in (r1s, r2s):
                err = rng.random(reads.shape) < 0.003
                reads[err] = ACGT[rng.integers(0, 4, int(err.sum()))]
            np.add.at(truth, gene_of_arr[t], 1)
            if done < first:
                np.add.at(truth_first, gene_of_arr[t[: first - done]], 1)
            for k in np.flatnonzero(rng.random(n) < 0.05):  # a 5% sample: spliced or not
                j = starts_in_tx[t[k]]
                if np.any((j > pos[k]) & (j < pos[k] + frag[k])):
                    spliced[gene_of_arr[t[k]]] += 1
            qual = b"I" * READ_LEN
            for f, reads in ((f1, r1s), (f2, r2s)):
                rows = reads.tobytes()
                f.write(
                    b"".join(
                        b"@p%d\n%s\n+\n%s\n"
                        % (done + i, rows[i * READ_LEN : (i + 1) * READ_LEN], qual)
                        for i in range(n)
                    )
                )
            done += n
            print(f"  reads: {done:,}/{n_pairs:,}", file=sys.stderr, flush=True)
    return {"truth": truth, "truth_first": truth_first, "spliced": spliced}


# ---- measuring processes ------------------------------------------------------------


class TreeMemory:
    """Peak RSS/PSS/USS of a process tree, by role, sampled every 0.5 s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            totals: dict[str, dict[str, int]] = {}
            for proc in procs:
                try:
                    role = _role(proc)
                    mem = proc.memory_full_info()
                except psutil.Error:
                    continue
                t = totals.setdefault(role, {"rss": 0, "pss": 0, "uss": 0, "n": 0})
                t["rss"] = max(t["rss"], mem.rss)  # largest single process of the role
                t["pss"] += mem.pss
                t["uss"] += mem.uss
                t["n"] += 1
            totals["all"] = {
                "rss": sum(v["rss"] for v in totals.values()),
                "pss": sum(v["pss"] for v in totals.values()),
                "uss": sum(v["uss"] for v in totals.values()),
                "n": sum(v["n"] for v in totals.values()),
            }
            for role, t in totals.items():
                peak = self.peaks.setdefault(role, dict.fromkeys(t, 0))
                for key, value in t.items():
                    peak[key] = max(peak[key], value)
            self._stop.wait(0.5)


def _role(proc: psutil.Process) -> str:
    cmd = " ".join(proc.cmdline())
    if "genejobs.pipeline.alignserver" in cmd:
        parent = proc.parent()
        if parent is not None and "alignserver" in " ".join(parent.cmdline()):
            return "align child"
        return "align server"
    if "samtools" in cmd:
        return "samtools"
    return "worker" if "bench_human" in cmd or "--worker" in cmd else proc.name()


def run_measured(
    cmd: list[str], **kw: object
) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Wall seconds and peak RSS of the largest process in the tree, by GNU time (its
    wait4 maximum covers the descendants the command waited for, e.g. the index child)."""
    timed = ["/usr/bin/time", "-f", "maxrss_kib=%M", *cmd]
    t0 = time.perf_counter()
    done = subprocess.run(timed, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:6]} failed: {done.stderr[-2000:]}")
    kib = int(done.stderr.rsplit("maxrss_kib=", 1)[1].split()[0])
    return wall, kib * 1024, done


# ---- the steps ------------------------------------------------------------------------


def step_ref_add(
    root: Path, fasta: Path, gtf: Path, name: str, k: int, w: int
) -> dict[str, float | int]:
    env = {**os.environ, "GENEJOBS_HOME": str(root / "home")}
    cmd = [sys.executable, "-m", "genejobs.cli", "ref", "--root", str(root / "refs"), "add"]
    cmd += [name, "--fasta", str(fasta), "--gtf", str(gtf), "--index-k", str(k)]
    cmd += ["--index-w", str(w)]
    wall, peak, _ = run_measured(cmd, env=env)
    index = root / "refs" / name / "genome.mmi"
    return {"wall_s": wall, "peak_rss": peak, "index_bytes": index.stat().st_size}


def step_gene_model(gtf: Path, out: Path) -> dict[str, float]:
    """Parse + save, then load + the counter's index, each in a fresh subprocess."""
    code = f"""
import json, resource, sys, time
from pathlib import Path
sys.argv = ["x"]
t0 = time.perf_counter()
from genejobs.references.gtf import parse_gtf, save_gene_model, load_gene_model
from genejobs.pipeline.count import GeneIndex
mode = {{}}
if "{out}".endswith("parse"):
    m = parse_gtf(Path("{gtf}"))
    save_gene_model(m, Path("{out}.json"))
    mode["parse_s"] = time.perf_counter() - t0
else:
    m = load_gene_model(Path("{str(out)[: -len("load")]}parse.json"))
    mode["load_s"] = time.perf_counter() - t0
    t1 = time.perf_counter(); GeneIndex(m); mode["index_s"] = time.perf_counter() - t1
mode["genes"] = len(m.genes)
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of this big
# bench process would report the bench's own peak.
mode["peak_rss"] = [int(x.split()[1]) * 1024 for x in open("/proc/self/status") if x.startswith("VmHWM")][0]
print(json.dumps(mode))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_main(args: list[str]) -> int:
    """``--worker INDEX GTF_MODEL R1 R2 THREADS``: process_sample as a Dask worker would."""
    from genejobs.pipeline.records import LibraryType, ReadRun, SampleParams, SampleSpec
    from genejobs.pipeline.sample import process_sample
    from genejobs.references.gtf import load_gene_model
    from genejobs.storage import Storage

    index, model_path, r1, r2, threads = args
    model = load_gene_model(Path(model_path))
    storage = Storage(allowed_roots=(Path(r1).parent,))
    t0 = time.perf_counter()
    result = process_sample(
        SampleSpec("S", "G", (ReadRun(r1, r2),)),
        SampleParams(declared_library_type=LibraryType.FIRSTSTRAND),
        index_path=Path(index),
        gene_model=model,
        storage=storage,
        threads=int(threads),
    )
    wall = time.perf_counter() - t0
    cs = result.count_stats
    print(
        json.dumps(
            {
                "wall_s": wall,
                "pairs": result.read_stats.pairs_in,
                "aligned": cs.aligned,
                "unique": cs.unique,
                "assigned": cs.assigned,
                "counts": result.counts_for(LibraryType.FIRSTSTRAND).tolist(),
                "gene_ids": result.gene_ids,
                "timings_ms": result.timings_ms,
            }
        )
    )
    return 0


def step_sample(index: Path, model: Path, r1: Path, r2: Path, threads: int) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--worker", str(index), str(model), str(r1), str(r2)]
    child = subprocess.Popen([*cmd, str(threads)], stdout=subprocess.PIPE, text=True)
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with TreeMemory(child.pid) as mem:
        out, _ = child.communicate()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        raise SystemExit("the sample failed")
    result = json.loads(out.strip().splitlines()[-1])
    result["memory"] = mem.peaks
    result["cpu_s"] = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return result


def sensitivity(
    result: dict[str, object], ref: Reference, truth: dict[str, np.ndarray]
) -> dict[str, float]:
    """Counted against true pairs per gene, for the first ``--truth-pairs`` pairs."""
    from scipy.stats import spearmanr

    counts = np.array(result["counts"])
    index = {g: i for i, g in enumerate(result["gene_ids"])}
    order = np.array([index.get(g.gene_id, -1) for g in ref.genes])
    got = np.where(order >= 0, counts[np.maximum(order, 0)], 0)
    want = truth["truth_first"]
    expressed = want > 0
    short = np.array([min(e - s for tx in g.transcripts for s, e in tx) < 40 for g in ref.genes])
    paralog = np.array([g.kind == "paralog" for g in ref.genes])
    spliced = truth["spliced"] > 0

    def recovered(mask: np.ndarray) -> float:
        m = mask & expressed
        return float(got[m].sum() / max(1.0, want[m].sum()))

    return {
        "spearman": float(spearmanr(got[expressed], want[expressed])[0]),
        "recovered_all": recovered(np.ones_like(expressed)),
        "recovered_paralogs": recovered(paralog),
        "recovered_short_exon_genes": recovered(short),
        "recovered_spliced_genes": recovered(spliced),
    }


def step_statistics(n_genes: int, n_samples: int) -> dict[str, float]:
    """DE + report on an NB count matrix, in a fresh subprocess (time and peak RSS)."""
    code = f"""
import json, resource, time
import numpy as np, pandas as pd
from genejobs.pipeline.de import run_differential_expression
from genejobs.pipeline.records import CountStats, LibraryType, ReadStats, SampleResult
from genejobs.report import render_report
rng = np.random.default_rng(0)
n, s = {n_genes}, {n_samples}
mu = rng.lognormal(3, 2, n)
fold = np.where(rng.random(n) < 0.1, rng.choice([0.25, 4.0], n), 1.0)
groups = ["A"] * (s // 2) + ["B"] * (s - s // 2)
means = np.column_stack([mu * (fold if g == "B" else 1) for g in groups])
counts = rng.negative_binomial(5, 5 / (5 + means))
genes = [f"G{{i}}" for i in range(n)]
names = [f"S{{j}}" for j in range(s)]
frame = pd.DataFrame(counts, index=genes, columns=names).rename_axis("gene_id")
t0 = time.perf_counter()
de = run_differential_expression(frame, dict(zip(names, groups)), {{g: g for g in genes}},
                                  [("A", "B")], n_cpus=2)
t1 = time.perf_counter()
lt = LibraryType.FIRSTSTRAND.value
results = [SampleResult(nm, genes, {{v.value: counts[:, j] for v in LibraryType}}, ReadStats(
    pairs_in=int(counts[:, j].sum()), pairs_out=int(counts[:, j].sum())), CountStats(
    aligned=int(counts[:, j].sum()), unique=int(counts[:, j].sum()),
    assigned={{v.value: int(counts[:, j].sum()) for v in LibraryType}},
    no_feature={{v.value: 0 for v in LibraryType}}, ambiguous={{v.value: 0 for v in LibraryType}}))
    for j, nm in enumerate(names)]
files = render_report(de, results, job={{"job_id": "bench"}}, library_type=LibraryType(lt))
t2 = time.perf_counter()
print(json.dumps({{"de_s": t1 - t0, "report_s": t2 - t1, "report_bytes": sum(map(len, files.values())),
  "peak_rss": [int(x.split()[1]) * 1024 for x in open("/proc/self/status") if x.startswith("VmHWM")][0]}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", type=float, default=0.1, help="fraction of GRCh38's size")
    p.add_argument("--fasta", type=Path, help="a real genome instead of the simulated one")
    p.add_argument("--gtf", type=Path, help="its annotation (with --fasta)")
    p.add_argument("--pairs", type=int, default=5_000_000, help="pairs in the one sample")
    p.add_argument("--truth-pairs", type=int, default=200_000, help="pairs per sensitivity run")
    p.add_argument("--index-w", type=int, nargs="+", default=[5, 10, 15])
    p.add_argument("--index-k", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--stats-samples", type=int, default=24)
    p.add_argument("--skip", nargs="*", default=[], choices=["sample", "stats", "genemodel"])
    p.add_argument("--workdir", type=Path, help="keep files here (default: a temporary folder)")
    a = p.parse_args()
    tmp = None
    if a.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="genejobs-human-")
        a.workdir = Path(tmp.name)
    root = a.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"scale": a.scale, "load_before": os.getloadavg()}
    print(f"load average at start: {os.getloadavg()}", flush=True)

    if a.fasta:
        fasta, gtf, ref = a.fasta, a.gtf, None
        genome_bp = 0
        scale = 1.0
    else:
        t0 = time.perf_counter()
        n_genes = round(HUMAN_GENES * a.scale)
        ref = build_reference(root, a.scale, n_genes)
        fasta, gtf = ref.fasta, ref.gtf
        genome_bp = ref.genome_bin.stat().st_size
        scale = genome_bp / HUMAN_BP
        n_tx = sum(len(g.transcripts) for g in ref.genes)
        n_exon = sum(len(tx) for g in ref.genes for tx in g.transcripts)
        print(
            f"simulated {genome_bp:,} bp ({scale:.3f} of GRCh38), {len(ref.genes):,} genes, "
            f"{n_tx:,} transcripts, {n_exon:,} exon lines in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    if not genome_bp:
        genome_bp = sum(len(line) - 1 for line in open(fasta, "rb") if not line.startswith(b">"))
        scale = genome_bp / HUMAN_BP

    # 1. ref add at each index setting
    adds = {}
    for w in a.index_w:
        res = step_ref_add(root, fasta, gtf, f"w{w}", a.index_k, w)
        adds[w] = res
        print(
            f"ref add k={a.index_k} w={w}: {res['wall_s']:.0f} s, peak RSS "
            f"{mib(res['peak_rss'])}, index {mib(res['index_bytes'])}; at GRCh38 size "
            f"(x{1 / scale:.1f}): ~{res['wall_s'] / scale / 60:.0f} min, peak "
            f"~{res['peak_rss'] / scale / 2**30:.1f} GiB, index "
            f"~{res['index_bytes'] / scale / 2**30:.1f} GiB",
            flush=True,
        )
    report["ref_add"] = adds

    # 2. the gene model at full GENCODE size
    if "genemodel" not in a.skip:
        full = root / "full.gtf"
        n_tx, n_exon = full_size_gtf(full, HUMAN_GENES)
        parse = step_gene_model(full, root / "gm.parse")
        load = step_gene_model(full, root / "gm.load")
        report["gene_model"] = {"transcripts": n_tx, "exons": n_exon, **parse, **load}
        print(
            f"gene model, {parse['genes']:,} genes / {n_tx:,} transcripts / {n_exon:,} exon "
            f"lines ({full.stat().st_size / 2**20:,.0f} MiB GTF): parse {parse['parse_s']:.1f} s "
            f"(peak {mib(parse['peak_rss'])}); load {load['load_s']:.1f} s + counter index "
            f"{load['index_s']:.1f} s (peak {mib(load['peak_rss'])})",
            flush=True,
        )

    # 3 and 4. one sample, and sensitivity at each setting
    if "sample" not in a.skip and ref is not None:
        r1, r2 = root / "S_R1.fastq.gz", root / "S_R2.fastq.gz"
        t0 = time.perf_counter()
        truth = simulate_reads(ref, r1, r2, a.pairs, a.truth_pairs)
        print(f"simulated {a.pairs:,} pairs in {time.perf_counter() - t0:.0f} s", flush=True)
        sub1, sub2 = root / "T_R1.fastq.gz", root / "T_R2.fastq.gz"
        for src, dst in ((r1, sub1), (r2, sub2)):
            with igzip.open(src, "rb") as fin, igzip.open(dst, "wb", compresslevel=1) as fout:
                for i, line in enumerate(fin):
                    if i >= 4 * a.truth_pairs:
                        break
                    fout.write(line)
        sens = {}
        for w in a.index_w:
            idx = root / "refs" / f"w{w}" / "genome.mmi"
            model = next((root / "refs" / f"w{w}" / "annotations").glob("*.genes.json"))
            res = step_sample(idx, model, sub1, sub2, a.threads)
            sens[w] = {**sensitivity(res, ref, truth), "memory": res["memory"]}
            s = sens[w]
            srv = res["memory"].get("align server", {})
            print(
                f"w={w} on {a.truth_pairs:,} pairs: Spearman {s['spearman']:.4f}; counted/true: "
                f"all {s['recovered_all']:.3f}, paralogs {s['recovered_paralogs']:.3f}, "
                f"short-exon genes {s['recovered_short_exon_genes']:.3f}, genes with spliced "
                f"fragments {s['recovered_spliced_genes']:.3f}; align server RSS "
                f"{mib(srv.get('rss', 0))}",
                flush=True,
            )
        report["sensitivity"] = sens
        from genejobs.references.index import LARGE_GENOME_W

        w = max(adds, key=lambda k: (k == LARGE_GENOME_W, -k))  # the big-genome default
        idx = root / "refs" / f"w{w}" / "genome.mmi"
        model = next((root / "refs" / f"w{w}" / "annotations").glob("*.genes.json"))
        res = step_sample(idx, model, r1, r2, a.threads)
        del res["counts"], res["gene_ids"]
        per_core = res["pairs"] / res["wall_s"] / a.threads
        per_cpu_s = res["pairs"] / max(1e-9, res["cpu_s"])  # fair on a shared machine
        disk = sum(p.stat().st_size for p in (r1, r2))
        report["sample"] = {
            "w": w,
            **res,
            "pairs_per_s_per_core": per_core,
            "pairs_per_cpu_s": per_cpu_s,
            "fastq_bytes": disk,
        }
        print(
            f"sample, {res['pairs']:,} pairs, w={w}, {a.threads} threads: {res['wall_s']:.0f} s "
            f"wall, {res['cpu_s']:.0f} s CPU (all processes): {per_core:,.0f} pairs/s/core by "
            f"wall, {per_cpu_s:,.0f} pairs per CPU second; 30M pairs: "
            f"~{30e6 / per_cpu_s / a.threads / 60:.0f} min on {a.threads} free cores; FASTQ.gz "
            f"{mib(disk)}",
            flush=True,
        )
        for role, m in sorted(res["memory"].items()):
            if not m["rss"]:
                continue  # short-lived helpers
            largest = "sum" if role == "all" else "largest"
            print(
                f"  peak {role:<13} x{m['n']}: RSS {mib(m['rss'])} ({largest}), "
                f"PSS {mib(m['pss'])}, USS {mib(m['uss'])}",
                flush=True,
            )

    # 5. statistics + report at 60k genes x 24 samples
    if "stats" not in a.skip:
        st = step_statistics(HUMAN_GENES, a.stats_samples)
        report["statistics"] = st
        print(
            f"statistics {HUMAN_GENES:,} genes x {a.stats_samples} samples: DE {st['de_s']:.0f} s, "
            f"report {st['report_s']:.0f} s, peak {mib(st['peak_rss'])}",
            flush=True,
        )
    report["load_after"] = os.getloadavg()
    print(f"load average at end: {os.getloadavg()}")
    (root / "bench_human.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"numbers: {root / 'bench_human.json'}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
