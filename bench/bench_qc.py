"""What QC costs per sample: reads → counts with and without QC, on demo-sized data.

QC = the BAM, read-level QC while streaming, and RSeQC's modules on the BAM.
Prints both times and the overhead ratio (the issue's target: ≤ 50% more).

    .venv/bin/python bench/bench_qc.py --pairs 20000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from genejobs.pipeline.qc import run_sample_qc
from genejobs.pipeline.records import LibraryType, SampleParams, SampleSpec
from genejobs.pipeline.sample import process_sample
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pairs", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--genes", type=int, default=300)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="genejobs-bench-") as tmp:
        root = Path(tmp)
        sim = simulate(
            root / "sim", SimConfig(n_genes=a.genes, pairs_per_sample=a.pairs, samples_per_group=1)
        )
        registry = ReferenceRegistry(root / "refs")
        registry.add("b", Path(sim.genome), [("a.gtf", Path(sim.gtf))])
        ref = registry.resolve("b", "a.gtf")
        model = ref.load_gene_model()
        name, (r1, r2) = next(iter(sim.reads.items()))
        spec, params = SampleSpec(name, "K", r1, r2), SampleParams(adapter=sim.adapter)
        storage = Storage(allowed_roots=(root,))
        kw = dict(index_path=ref.index_path, gene_model=model, storage=storage, threads=a.threads)
        process_sample(spec, params, **kw)  # warm: index loaded once per process, as on a worker
        t0 = time.perf_counter()
        process_sample(spec, params, **kw)
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        bam = root / "s.bam"
        result = process_sample(spec, params, bam_path=bam, **kw)
        with_bam = time.perf_counter() - t0
        qc = run_sample_qc(
            bam,
            Path(sim.bed),
            root / "qc",
            name,
            genes=model.genes,
            coverage=result.counts_for(LibraryType.UNSTRANDED),
            threads=a.threads,
        )
        with_qc = time.perf_counter() - t0
        assert not qc.failed, qc.failed
        print(
            f"pairs {a.pairs:,}: counts only {plain:.2f} s; + BAM and read QC {with_bam:.2f} s; "
            f"+ RSeQC {with_qc:.2f} s"
        )
        print(
            f"QC overhead: {100 * (with_qc / plain - 1):.0f}% (BAM + read QC alone: "
            f"{100 * (with_bam / plain - 1):.0f}%)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
