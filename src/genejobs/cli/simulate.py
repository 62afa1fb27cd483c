"""``genejobs simulate --out DIR``: write a dataset with known truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from genejobs.sim.simulate import SimConfig, simulate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="genejobs simulate", description=__doc__)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--genes", type=int, default=SimConfig.n_genes)
    p.add_argument(
        "--pairs", type=int, default=SimConfig.pairs_per_sample, help="read pairs per sample"
    )
    p.add_argument("--samples-per-group", type=int, default=SimConfig.samples_per_group)
    p.add_argument("--groups", default="K,W", help="comma-separated; the first is the control")
    p.add_argument(
        "--library-type",
        default=SimConfig.library_type,
        choices=["fr-unstranded", "fr-firststrand", "fr-secondstrand"],
    )
    p.add_argument("--read-length", type=int, default=SimConfig.read_length)
    p.add_argument("--seed", type=int, default=SimConfig.seed)
    p.add_argument("--fraction-paralog", type=float, default=SimConfig.fraction_paralog)
    p.add_argument("--paralog-divergence", type=float, default=SimConfig.paralog_divergence)
    p.add_argument(
        "--rrna-copies", type=int, default=SimConfig.rrna_copies, help="multi-copy rRNA units"
    )
    p.add_argument(
        "--fraction-rrna",
        type=float,
        default=SimConfig.fraction_rrna,
        help="share of fragments from the multi-copy rRNA units",
    )
    p.add_argument("--error-rate", type=float, default=SimConfig.error_rate)
    p.add_argument(
        "--batches", type=int, default=SimConfig.batches, help="batches (manifest.json: batches)"
    )
    p.add_argument(
        "--batch-effect",
        type=float,
        default=SimConfig.batch_effect_sd,
        help="SD of each gene's log2 shift per batch beyond the first",
    )
    p.add_argument("--counts-only", action="store_true", help="truth counts, no reads")
    p.add_argument(
        "--single-end", action="store_true", help="read 1 only (the paired set's read 1)"
    )
    p.add_argument(
        "--lanes",
        type=int,
        default=SimConfig.lanes,
        help="split each sample in N lanes with Illumina names (<sample>_S<n>_L00<k>_R1_001)",
    )
    a = p.parse_args(argv)
    if a.lanes < 1:
        p.error("--lanes: at least 1")
    manifest = simulate(
        a.out,
        SimConfig(
            n_genes=a.genes,
            pairs_per_sample=a.pairs,
            samples_per_group=a.samples_per_group,
            groups=tuple(g.strip() for g in a.groups.split(",") if g.strip()),
            library_type=a.library_type,
            read_length=a.read_length,
            seed=a.seed,
            fraction_paralog=a.fraction_paralog,
            paralog_divergence=a.paralog_divergence,
            rrna_copies=a.rrna_copies,
            fraction_rrna=a.fraction_rrna,
            error_rate=a.error_rate,
            batches=a.batches,
            batch_effect_sd=a.batch_effect,
            write_reads=not a.counts_only,
            single_end=a.single_end,
            lanes=a.lanes,
        ),
    )
    if manifest.reads:
        print(f"wrote {len(manifest.reads)} samples to {a.out} (manifest.json lists every file)")
    else:
        print(f"wrote truth counts ({manifest.truth_counts}) and the reference to {a.out}")
    return 0
