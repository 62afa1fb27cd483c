"""Gene-set enrichment of a comparison, offline, with gseapy and the user's GMT file.

Over-representation (hypergeometric test, BH-adjusted) of the significant up- and
down-regulated genes against all tested genes, and preranked GSEA on the Wald
statistic (on the shrunken fold change when the job asked for shrinkage). Gene sets
are matched on gene names (GMT files list symbols).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from genejobs.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class EnrichmentResult:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # file stem -> table
    notes: list[str] = field(default_factory=list)


def read_gmt(path: Path, *, label: str) -> dict[str, list[str]]:
    """GMT: name, description, genes… per line; errors name the file and line."""
    sets: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 3:
            raise InputError(
                f"gene_sets: '{label}', line {number}: expected name, description and genes separated by tabs"
            )
        sets[cols[0]] = [g for g in cols[2:] if g]
    if not sets:
        raise InputError(f"gene_sets: '{label}' holds no gene sets")
    return sets


def rank_column(table: pd.DataFrame) -> str:
    """What preranked GSEA ranks genes by: ``lfc_shrunk`` when present, else ``stat``."""
    return "lfc_shrunk" if "lfc_shrunk" in table.columns else "stat"


def run_enrichment(
    table: pd.DataFrame,
    gene_sets: dict[str, list[str]],
    *,
    label: str,
    padj: float = 0.05,
    permutations: int = 200,
    seed: int = 1,
) -> EnrichmentResult:
    """ORA of up/down genes and preranked GSEA for one comparison's DE table."""
    import gseapy

    out = EnrichmentResult()
    tested = table.dropna(subset=["padj"])
    background = sorted(set(tested["gene_name"].astype(str)))
    sig = tested[tested["padj"] < padj]
    for direction, genes in (
        ("up", sig[sig["log2FoldChange"] > 0]),
        ("down", sig[sig["log2FoldChange"] < 0]),
    ):
        names = sorted(set(genes["gene_name"].astype(str)))
        if not names:
            out.notes.append(f"{label}: no significant {direction}-regulated genes; ORA skipped")
            continue
        try:
            res = gseapy.enrich(
                gene_list=names,
                gene_sets=gene_sets,
                background=background,
                outdir=None,
                no_plot=True,
                cutoff=1.0,
            ).results
        except Exception as exc:  # gseapy raises bare Exception types (no overlap among them)
            log.warning("%s: ORA %s failed: %s", label, direction, exc)
            out.notes.append(f"{label}: ORA {direction} gave no result ({exc})")
            continue
        out.tables[f"{label}_ora_{direction}"] = res.sort_values("P-value").reset_index(drop=True)
    # Shrunken fold changes, when the job asked for them, rank by effect size without
    # the noise of low counts; otherwise the Wald statistic ranks.
    key = rank_column(table)
    ranked = tested.dropna(subset=[key]).drop_duplicates("gene_name")
    rnk = pd.Series(ranked[key].to_numpy(), index=ranked["gene_name"].astype(str)).sort_values(
        ascending=False
    )
    try:
        gsea = gseapy.prerank(
            rnk=rnk,
            gene_sets=gene_sets,
            permutation_num=permutations,
            min_size=5,
            max_size=1000,
            threads=1,
            seed=seed,
            outdir=None,
            no_plot=True,
            verbose=False,
        )
        out.tables[f"{label}_gsea_prerank"] = gsea.res2d
    except LookupError:  # gseapy's "No gene sets passed through filtering condition"
        out.notes.append(f"{label}: preranked GSEA found no gene set of 5-1000 tested genes")
    except Exception as exc:  # gseapy raises bare Exception types; the report goes on
        log.warning("%s: preranked GSEA failed: %s", label, exc)
        out.notes.append(f"{label}: preranked GSEA gave no result ({exc})")
    return out
