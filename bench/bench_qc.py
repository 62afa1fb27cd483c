"""What QC costs per sample: reads → counts with and without QC, on demo-sized data.

QC = the BAM, read-level QC while streaming, and RSeQC's modules on the BAM.
Prints the times, the overhead ratio (the issue's target: ≤ 50% more), the
share of read-level QC in the streaming pass, and each RSeQC module's time.
Each measurement is the median of ``--repeat`` runs.

    .venv/bin/python bench/bench_qc.py --pairs 20000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pysam

from genejobs.pipeline.alignserver import align_processes
from genejobs.pipeline.qc import DISTRIBUTION_PAIRS, QcResult, run_sample_qc
from genejobs.pipeline.readqc import MateQC
from genejobs.pipeline.reads import SampleReads
from genejobs.pipeline.records import LibraryType, ReadRun, ReadStats, SampleParams, SampleSpec
from genejobs.pipeline.sample import gene_index, process_sample
from genejobs.pipeline.trim import ReadTrimmer
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage


def read_qc_seconds(storage: Storage, spec: SampleSpec, adapter: str | None) -> float:
    """MateQC.add alone over the sample's reads, as process_sample feeds it."""
    reads = SampleReads(storage, spec)
    trimmer, stats, mates = ReadTrimmer(adapter, min_length=20), ReadStats(), (MateQC(), MateQC())
    spent = 0.0
    for chunk in reads.chunks(10_000):
        trimmer(chunk, stats)
        t0 = time.perf_counter()
        pairs = zip(mates, (chunk.r1, chunk.r2 or []), trimmer.last_lengths, strict=True)
        for mate, records, lengths in pairs:
            mate.add([r.sequence for r in records], [r.qualities for r in records], lengths)
        spent += time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, mate in enumerate(mates, start=1):
        mate.fastqc_data(f"R{i}.fastq.gz")
    return spent + time.perf_counter() - t0


ALIGN_PIDS: list[int] = []  # the warm align server and its children (they stay alive)


def cpu_now() -> float:
    """CPU seconds of this process, its finished children (the RSeQC runner, R) and the
    live align processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ticks = 0
    for pid in ALIGN_PIDS:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    align = ticks / os.sysconf("SC_CLK_TCK")
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + align


def whole_job(root: Path, sim: object, *, qc: bool, threads: int) -> tuple[float, str]:
    """One job over every simulated sample through the service and a runner, with or
    without QC (BAM, RSeQC, MultiQC, report), each with an empty sample cache."""
    from genejobs.config import Settings
    from genejobs.jobs.run.executor import close_client, make_client
    from genejobs.jobs.run.runner import Runner
    from genejobs.jobs.service import JobService
    from genejobs.jobs.store.auth import Principal

    home = root / ("job-qc" if qc else "job-plain")
    settings = Settings.from_env(
        {
            "GENEJOBS_HOME": str(home),
            "GENEJOBS_ALLOWED_ROOTS": str(root),
            "GENEJOBS_REFERENCE_ROOT": str(root / "refs"),
            "GENEJOBS_THREADS_PER_WORKER": str(threads),
        }
    )
    home.mkdir(parents=True)
    registry = ReferenceRegistry(settings.reference_root)
    body = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {
                "group_name": g,
                "group_inputs": [{"sample_name": s, "files": list(sim.reads[s])} for s in samples],  # type: ignore[attr-defined]
            }
            for g, samples in sim.groups.items()  # type: ignore[attr-defined]
        ],
        "adapt": sim.adapter,  # type: ignore[attr-defined]
        "ref": "b",
        "gtf": "a.gtf",
        "library_type": sim.library_type,  # type: ignore[attr-defined]
        "output": str(home / "out"),
        **({"is_export_qc": True, "bed": sim.bed} if qc else {}),  # type: ignore[attr-defined]
    }
    service = JobService(
        settings, storage=Storage.from_settings(settings), references=registry.available
    )
    job_id = service.submit(
        principal=Principal("bench", "admin", ("default",)), project_id="default", body=body
    )
    client = make_client(settings)
    try:
        runner = Runner(settings, runner_id="bench", client=client)
        t0 = time.perf_counter()
        assert runner.run_once() == job_id
        seconds = time.perf_counter() - t0
    finally:
        close_client(client)
    from sqlalchemy import select

    from genejobs.jobs.store.models import JobRow

    with service.sessions() as session:
        status = session.scalar(select(JobRow.status).where(JobRow.job_id == job_id))
    service.close()
    return seconds, str(status)


def fast_sim(out: Path, *, genes: int, pairs: int, per_group: int) -> SimpleNamespace:
    """bench_human's vectorised simulator (a human-like genome of ``genes`` genes), for
    samples of millions of pairs; genejobs.sim holds a whole sample in memory."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_human import HUMAN_GENES, build_reference, simulate_reads

    out.mkdir(parents=True)
    ref = build_reference(out, genes / HUMAN_GENES, genes)
    groups: dict[str, list[str]] = {"K": [], "W": []}
    reads = {}
    for i in range(2 * per_group):
        name = f"{'KW'[i % 2]}_rep{i // 2 + 1}"
        groups["KW"[i % 2]].append(name)
        r1, r2 = out / f"{name}_1.fastq.gz", out / f"{name}_2.fastq.gz"
        simulate_reads(ref, r1, r2, pairs, 0, seed=10 + i)
        reads[name] = (str(r1), str(r2))
    return SimpleNamespace(
        genome=str(ref.fasta),
        gtf=str(ref.gtf),
        bed=str(ref.bed),
        reads=reads,
        groups=groups,
        adapter=None,
        library_type="fr-firststrand",
    )


def compare_shapes(bam: Path, bed: Path, genebody: Path, out: Path, sizes: list[int]) -> None:
    """inner_distance and geneBody_coverage on subsamples of ``bam`` (as a job draws them)
    and on all of it: CPU, inner distance mean/SD, KS distance between the distance
    histograms, and the gene-body curves' largest gap (each scaled to its maximum).
    Also the BAM's deepest position: RSeQC piles up with pysam's default max_depth of
    8,000, above which a position's count is cut."""
    import numpy as np

    from genejobs.pipeline.qc import count_pairs, run_rseqc, subsample_bam

    aligned = count_pairs(bam)
    depths = [int(line.rsplit("\t", 1)[1]) for line in pysam.depth(str(bam)).splitlines()]
    over = sum(d > 8000 for d in depths)
    print(
        f"shapes: {aligned:,} aligned pairs; deepest position {max(depths):,} reads, "
        f"{over:,} positions deeper than pileup's 8,000"
    )
    curves = {}
    for size in sorted({*sizes, aligned}):
        folder = out / f"p{size}"
        folder.mkdir(parents=True)
        sub = bam
        if size < aligned:
            sub = folder / "sub.bam"
            subsample_bam(bam, sub, aligned_pairs=aligned, max_pairs=size)
        only = {"inner_distance.py", "geneBody_coverage.py"}
        res = run_rseqc(bam, bed, folder, "s", only=only, genebody=genebody, distribution_bam=sub)
        assert not res.failed, res.failed
        freq = np.loadtxt(folder / "s.inner_distance_freq.txt")
        body = (folder / "s.geneBodyCoverage.txt").read_text().splitlines()[1].split("\t")[1:]
        curve = np.array([float(x) for x in body])
        curves[size] = (freq, curve / curve.max(), sum(res.cpu_seconds.values()))
    full_freq, full_curve, _ = curves[aligned]
    for size, (freq, curve, cpu) in curves.items():
        share = freq[:, 2] / freq[:, 2].sum()
        mids = (freq[:, 0] + freq[:, 1]) / 2
        mean = float((share * mids).sum())
        sd = float(np.sqrt((share * (mids - mean) ** 2).sum()))
        full_share = full_freq[:, 2] / full_freq[:, 2].sum()
        ks = float(np.abs(np.cumsum(share) - np.cumsum(full_share)).max())
        label = "all" if size == aligned else f"{size:,}"
        print(
            f"  {label:>9} pairs: {cpu:5.1f} CPU-s; inner distance mean {mean:.1f}, SD {sd:.1f}, "
            f"KS vs all {ks:.4f}; gene body largest gap vs all {np.abs(curve - full_curve).max():.3f}"
        )
        print("     gene body (every 10th percentile):", " ".join(f"{v:.2f}" for v in curve[::10]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pairs", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--genes", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--fast-sim",
        action="store_true",
        help="simulate with bench_human's generator (fast at millions of pairs)",
    )
    p.add_argument(
        "--job",
        type=int,
        default=0,
        metavar="N",
        help="instead: time one whole job of N samples with and without QC",
    )
    p.add_argument(
        "--max-qc-pairs",
        type=int,
        default=DISTRIBUTION_PAIRS,
        help="pairs the distribution modules read (the job's cap by default)",
    )
    p.add_argument(
        "--shapes",
        type=int,
        nargs="*",
        default=[],
        metavar="PAIRS",
        help="also: run the distribution modules on subsamples of these sizes of the last "
        "run's BAM and on all of it, and compare their shapes (why the cap is what it is)",
    )
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="genejobs-bench-") as tmp:
        root = Path(tmp)
        per_group = max(1, a.job // 2)
        if a.fast_sim:
            sim = fast_sim(root / "sim", genes=a.genes, pairs=a.pairs, per_group=per_group)
        else:
            sim = simulate(
                root / "sim",
                SimConfig(n_genes=a.genes, pairs_per_sample=a.pairs, samples_per_group=per_group),
            )
        registry = ReferenceRegistry(root / "refs")
        registry.add("b", Path(sim.genome), [("a.gtf", Path(sim.gtf))])
        if a.job:
            print(f"{a.job} samples x {a.pairs:,} pairs, {a.threads} threads, one run each")
            plain, plain_status = whole_job(root, sim, qc=False, threads=a.threads)
            with_qc, qc_status = whole_job(root, sim, qc=True, threads=a.threads)
            print(
                f"  job without QC {plain:.1f} s ({plain_status}); with QC {with_qc:.1f} s "
                f"({qc_status}): {with_qc / plain:.2f}x"
            )
            return 0
        ref = registry.resolve("b", "a.gtf")
        model = ref.load_gene_model()
        name, (r1, r2) = next(iter(sim.reads.items()))
        spec, params = SampleSpec(name, "K", (ReadRun(r1, r2),)), SampleParams(adapter=sim.adapter)
        storage = Storage(allowed_roots=(root,))
        kw = dict(index_path=ref.index_path, gene_model=model, storage=storage, threads=a.threads)
        # Warm, as on a worker: the index loaded once per process, the overlap index built.
        gene_index(model)
        with align_processes(ref.index_path, a.threads) as server:  # kept for the runs
            server.wait_ready()
            ALIGN_PIDS.extend(server.pids)
        plain, with_bam, with_qc, rseqc, read_qc = [], [], [], [], []
        cpu_plain, cpu_bam, cpu_rseqc = [], [], []
        qc: QcResult | None = None
        for i in range(a.repeat):
            t0, c0 = time.perf_counter(), cpu_now()
            process_sample(spec, params, **kw)
            plain.append(time.perf_counter() - t0)
            cpu_plain.append(cpu_now() - c0)
            run = root / f"run{i}"
            run.mkdir()
            t0, c0 = time.perf_counter(), cpu_now()
            bam = run / "s.bam"
            result = process_sample(spec, params, bam_path=bam, **kw)
            with_bam.append(time.perf_counter() - t0)
            t1, c1 = time.perf_counter(), cpu_now()
            cpu_bam.append(c1 - c0)
            qc = run_sample_qc(
                bam,
                Path(sim.bed),
                run / "qc",
                name,
                genes=model.genes,
                coverage=result.counts_for(LibraryType.UNSTRANDED),
                aligned_pairs=result.count_stats.aligned,
                threads=a.threads,
                max_pairs=a.max_qc_pairs,
            )
            rseqc.append(time.perf_counter() - t1)
            cpu_rseqc.append(cpu_now() - c1)
            with_qc.append(time.perf_counter() - t0)
            assert not qc.failed, qc.failed
            read_qc.append(read_qc_seconds(storage, spec, sim.adapter))
        assert qc is not None
        med = statistics.median
        base, bam_s, total = med(plain), med(with_bam), med(with_qc)
        r_note = "R draws the PDFs" if shutil.which("Rscript") else "no R: PDFs skipped"
        print(f"pairs {a.pairs:,}, threads {a.threads}, median of {a.repeat} ({r_note})")
        print(
            f"  counts only {base:.2f} s; + BAM and read QC {bam_s:.2f} s "
            f"(read QC alone {med(read_qc):.2f} s); + RSeQC {total:.2f} s "
            f"(RSeQC wall {med(rseqc):.2f} s)"
        )
        print(
            f"QC overhead (wall): {100 * (total / base - 1):.0f}% (BAM + read QC alone: "
            f"{100 * (bam_s / base - 1):.0f}%)"
        )
        cpu_base, cpu_with_bam = med(cpu_plain), med(cpu_bam)
        cpu_total = cpu_with_bam + med(cpu_rseqc)
        print(
            f"CPU: counts only {cpu_base:.2f} s; + BAM and read QC {cpu_with_bam:.2f} s; "
            f"+ RSeQC {cpu_total:.2f} s; overhead {100 * (cpu_total / cpu_base - 1):.0f}%"
        )
        # getattr: the same bench also measures trees from before per-module times.
        walls, cpus = getattr(qc, "seconds", {}), getattr(qc, "cpu_seconds", {})
        if walls:
            print("RSeQC modules (last run, side by side):   wall s   CPU s")
        for module, seconds in sorted(walls.items(), key=lambda kv: -kv[1]):
            print(f"  {module:<36} {seconds:6.2f}  {cpus.get(module, 0.0):6.2f}")
        if a.shapes:
            last = root / f"run{a.repeat - 1}"
            genebody = last / f"{name}.genebody.bed"
            compare_shapes(last / "s.bam", Path(sim.bed), genebody, root / "shapes", a.shapes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
