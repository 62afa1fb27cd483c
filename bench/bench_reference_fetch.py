"""`ref fetch` from a local mirror, and enrichment at human scale.

1. Fetch: a simulated human-like genome (bench_human's generator at ``--scale`` of
   GRCh38's chromosome lengths, genes in proportion) laid out as GENCODE and Ensembl
   releases (`MD5SUMS`, `CHECKSUMS`) served by a local HTTP server with Range support
   (genejobs.sim.upstream). Times download + checksum verification (MB/s of the
   compressed files, checksum included; MD5 and BSD sum), the FASTA/GTF sequence-name
   check, and registration + index build; then extrapolates to GRCh38's published file
   sizes (labelled: a local mirror is not a network, so at a site the download part
   is size / bandwidth when that is slower).
2. Enrichment: 60k genes x 3 comparisons against GO-sized (18,000 propagated sets)
   and Reactome-sized (2,600 sets) synthetic collections, as the job runs it
   (`run_collections`), against the issue's target (<= 30 s added on 2 cores), and as
   a ratio to the same run with a small user GMT (50 sets) in the same process.

    nice .venv/bin/python bench/bench_reference_fetch.py --scale 0.02
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

GRCH38_FA_GZ = 0.84e9  # GRCh38.primary_assembly.genome.fa.gz, GENCODE 46, bytes (approx.)
GENCODE_GTF_GZ = 52e6  # gencode.v46.primary_assembly.annotation.gtf.gz (approx.)


def bench_fetch(scale: float, work: Path) -> None:
    from bench_human import HUMAN_BP, HUMAN_GENES, build_reference

    from genejobs.references import checksums
    from genejobs.references.catalogue import load_catalogue
    from genejobs.references.download import retrieve
    from genejobs.references.fetch import FetchOptions, fetch_reference
    from genejobs.references.registry import ReferenceRegistry
    from genejobs.sim.upstream import serve, write_upstream

    t = time.perf_counter()
    (work / "gen").mkdir(parents=True, exist_ok=True)
    ref = build_reference(work / "gen", scale, int(HUMAN_GENES * scale))
    up = work / "upstream"
    catalogue_file = write_upstream(up, ref.fasta, ref.gtf, None)
    print(f"generated and laid out in {time.perf_counter() - t:.0f} s (not timed below)")
    os.environ["GENEJOBS_REFERENCE_CATALOGUE"] = str(catalogue_file)
    cat = load_catalogue()
    gencode, ensembl = cat.get("SIM1"), cat.get("SIM1-ensembl")
    fa_gz = up / gencode.fasta.path
    gtf_gz = up / gencode.gtf.path
    size = fa_gz.stat().st_size + gtf_gz.stat().st_size
    genome_bp = int(HUMAN_BP * scale)
    marks: list[tuple[float, str]] = []
    with serve(up) as url:
        registry = ReferenceRegistry(work / "refs")
        t0 = time.perf_counter()
        fetch_reference(
            registry,
            cat,
            gencode,
            FetchOptions(mirrors={"*": url}, gene_sets=False, transcriptome=False),
            progress=lambda m: marks.append((time.perf_counter(), m)),
        )
        t_end = time.perf_counter()
        # Ensembl: download + BSD-sum verification only (the index would be the same).
        t1 = time.perf_counter()
        for f in (ensembl.fasta, ensembl.gtf):
            path = retrieve(cat.url(f, {"*": url}), work / "ens" / f.name)
            checksums.compute(path, "bsd-sum")
        t_ens = time.perf_counter() - t1

    def at(prefix: str) -> float:
        return next(ts for ts, m in marks if m.startswith(prefix))

    t_dl = at("comparing") - t0
    t_names = at("checking and copying") - at("comparing")
    t_build = t_end - at("checking and copying")
    mb = size / 1e6
    print(
        f"\nfetch at scale {scale}: {genome_bp / 1e6:.0f} Mb genome; {mb:.0f} MB compressed files"
    )
    print(f"  download + MD5 verify (GENCODE) {t_dl:6.1f} s  {mb / t_dl:7.1f} MB/s")
    print(f"  download + BSD sum (Ensembl)    {t_ens:6.1f} s  {mb / t_ens:7.1f} MB/s")
    print(f"  FASTA/GTF sequence names        {t_names:6.1f} s  {mb / t_names:7.1f} MB/s")
    print(f"  register + minimap2 index       {t_build:6.1f} s")
    print(f"  total                           {t_end - t0:6.1f} s")
    full = (GRCH38_FA_GZ + GENCODE_GTF_GZ) / 1e6
    print(
        f"\nEXTRAPOLATED to GRCh38 + GENCODE ({full:.0f} MB compressed), linear in bytes/bp:"
        f"\n  download+verify from a local mirror ~{full / (mb / t_dl) / 60:.1f} min"
        f" (MD5), ~{full / (mb / t_ens) / 60:.1f} min (BSD sum);"
        f" over a network, at least size/bandwidth: {full * 8 / 100 / 60:.1f} min at 100 Mbit/s,"
        f" {full * 8 / 1000 / 60:.1f} min at 1 Gbit/s"
        f"\n  sequence-name check ~{full / (mb / t_names) / 60:.1f} min;"
        f" register + index ~{t_build / scale / 60:.0f} min (linear in bp: an upper bound"
        " for minimizers; README 'Sizing' has ref add measured at full size)"
    )


def _collection(rng: np.random.Generator, universe: list[str], n: int, lo: int, hi: int):
    """``n`` sets of log-uniform sizes in [lo, hi] (most GO terms are small)."""
    pool = np.asarray(universe)
    sizes = np.exp(rng.uniform(np.log(lo), np.log(hi), n)).astype(int)
    return {
        f"SET{i}": pool[rng.choice(len(pool), s, replace=False)].tolist()
        for i, s in enumerate(sizes)
    }


def bench_enrichment() -> None:
    from genejobs.pipeline.enrichment import GeneSetCollection, run_collections

    rng = np.random.default_rng(1)
    n = 60_000
    ids = [f"ENSG{i:011d}.{v}" for i, v in enumerate(rng.integers(1, 20, n))]
    names = [f"GENE{i}" for i in range(n)]
    tables = {}
    for c in ("B_vs_A", "C_vs_A", "D_vs_A"):
        stat = rng.normal(0, 2, n)
        padj = np.where(rng.random(n) < 0.55, np.nan, np.minimum(1, np.exp(-np.abs(stat))))
        tables[c] = pd.DataFrame(
            {
                "gene_id": ids,
                "gene_name": names,
                "log2FoldChange": stat / 4,
                "stat": stat,
                "padj": padj,
            }
        )
    coding = names[:20_000]  # annotated genes: the protein-coding fifth
    as_job = {"min_size": 5, "max_size": 500, "permutations": 100, "gsea_max_sets": 2500}
    go = GeneSetCollection("GO", _collection(rng, coding, 18_000, 5, 2000), stem="GO", **as_job)
    reactome_ids = [i.split(".")[0] for i in ids[:11_000]]
    reactome = GeneSetCollection(
        "Reactome",
        _collection(rng, reactome_ids, 2_600, 5, 1000),
        key="gene_id",
        stem="Reactome",
        **as_job,  # type: ignore[arg-type]
    )
    small = GeneSetCollection("user GMT", _collection(rng, coding, 50, 15, 300))
    # CPU seconds too: on a shared machine the wall time says more about the neighbours.
    t, c = time.perf_counter(), time.process_time()
    run_collections(tables, [small], threads=2)
    t_small, c_small = time.perf_counter() - t, time.process_time() - c
    parts = {}
    for coll in (go, reactome):
        t, c = time.perf_counter(), time.process_time()
        res = run_collections(tables, [coll], threads=2)
        parts[coll.name] = (time.perf_counter() - t, time.process_time() - c, len(res.tables))
    t_big = sum(p[0] for p in parts.values())
    c_big = sum(p[1] for p in parts.values())
    print(
        "\nenrichment, 60k genes x 3 comparisons (target <= 30 s added on 2 cores):"
        + "".join(
            f"\n  {name:<9} wall {w:6.1f} s  CPU {cpu:6.1f} s  ({n} tables)"
            for name, (w, cpu, n) in parts.items()
        )
        + f"\n  GO+Reactome wall {t_big:.1f} s, CPU {c_big:.1f} s"
        f"\n  reference run, a 50-set user GMT: wall {t_small:.1f} s, CPU {c_small:.1f} s;"
        f" ratio (CPU) {c_big / max(c_small, 1e-9):.1f}x"
    )


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--scale", type=float, default=0.02)
    p.add_argument("--skip-fetch", action="store_true")
    p.add_argument("--skip-enrichment", action="store_true")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp:
        if not a.skip_fetch:
            bench_fetch(a.scale, Path(tmp))
    if not a.skip_enrichment:
        bench_enrichment()
    return 0


if __name__ == "__main__":
    sys.exit(main())
