"""Gene-set enrichment of a comparison, offline, with gseapy, over plain gene sets.

Over-representation (hypergeometric test, BH-adjusted) of the significant up- and
down-regulated genes, separately, against the expressed genes (those DESeq2's
independent filtering kept) as background, and preranked GSEA on the Wald statistic
(on the shrunken fold change when the job asked for shrinkage).

Gene sets come as ``GeneSetCollection`` records: the user's GMT (matched on gene
names: GMT files list symbols) or the ones a fetched reference keeps (GO, already
propagated up its graph, by symbol; Reactome by Ensembl gene id). This step never
downloads: the sets were fetched and pinned with the reference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

import pandas as pd

from genejobs.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class EnrichmentResult:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # file stem -> table
    notes: list[str] = field(default_factory=list)
    collections: list[dict[str, str]] = field(default_factory=list)  # what was used


@dataclass(frozen=True)
class GeneSetCollection:
    """One collection of gene sets and how its genes are named.

    ``key``: the DE table's column the sets' genes are, ``gene_name`` or ``gene_id``
    (Ensembl ids compared without their ``.version``). ``stem`` goes into table file
    names (empty for the user's GMT, whose tables keep their historical names).
    """

    name: str  # "GO", "Reactome", "user GMT"
    sets: dict[str, list[str]]
    key: str = "gene_name"
    release: str = ""
    stem: str = ""
    origin: str = ""  # "reference <name>" or the GMT's URI
    # Sizes tested and GSEA's cost. GSEA costs ~0.14 ms of CPU per set and permutation
    # at 25k expressed genes (bench_reference_fetch.py): GO's ~10k testable sets would
    # take minutes per comparison, so a collection over ``gsea_max_sets`` gets ORA only,
    # with a note saying so. None: the caller's (``run_enrichment``'s) values.
    min_size: int | None = None
    max_size: int | None = None
    permutations: int | None = None
    gsea_max_sets: int | None = None

    def describe(self) -> dict[str, str]:
        return {
            "name": self.name,
            "release": self.release,
            "origin": self.origin,
            "n_sets": str(len(self.sets)),
        }


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


def _keyed(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """The table with ``_key``: the column the sets name genes by (ids without version)."""
    if key == "gene_id":
        ids = table["gene_id"].astype(str).str.replace(r"\.\d+(_PAR_Y)?$", "", regex=True)
        return table.assign(_key=ids)
    return table.assign(_key=table["gene_name"].astype(str))


class EnrichmentOptions(TypedDict, total=False):
    """``run_enrichment``'s keyword options, as ``run_collections`` passes them on."""

    padj: float
    permutations: int
    seed: int
    min_size: int
    max_size: int
    threads: int


@dataclass(frozen=True)
class _Run:
    """One comparison against one collection: how its tables and notes are named, and
    the set sizes and permutations (the collection's own, else the caller's)."""

    label: str
    prefix: str  # table names: "<label>[_<stem>]_ora_up", ...
    what: str  # notes: "<label> (<collection>)"
    min_size: int
    max_size: int
    permutations: int


def _run_of(
    collection: GeneSetCollection, label: str, *, min_size: int, max_size: int, permutations: int
) -> _Run:
    """The names and bounds of one comparison's enrichment against ``collection``."""
    return _Run(
        label=label,
        prefix=f"{label}_{collection.stem}" if collection.stem else label,
        what=f"{label} ({collection.name})" if collection.stem else label,
        min_size=collection.min_size or min_size,
        max_size=collection.max_size or max_size,
        permutations=collection.permutations or permutations,
    )


def _testable_sets(
    collection: GeneSetCollection, background: set[str], run: _Run
) -> dict[str, list[str]]:
    """Only sets that can be tested against this background: faster, and gseapy's ORA
    would otherwise count genes the experiment could never have called."""
    return {
        name: kept
        for name, genes in collection.sets.items()
        if run.min_size <= len(kept := [g for g in genes if g in background]) <= run.max_size
    }


def _over_representation(
    out: EnrichmentResult,
    run: _Run,
    significant: pd.DataFrame,
    sets: dict[str, list[str]],
    background: list[str],
) -> None:
    """ORA of the up- and the down-regulated genes, separately; a direction without
    genes, or whose genes meet no set, gets a note (and an empty table), not a failure."""
    import gseapy

    what = run.what
    for direction, genes in (
        ("up", significant[significant["log2FoldChange"] > 0]),
        ("down", significant[significant["log2FoldChange"] < 0]),
    ):
        names = sorted(set(genes["_key"]))
        if not names:
            out.notes.append(f"{what}: no significant {direction}-regulated genes; ORA skipped")
            continue
        try:
            res = gseapy.enrich(
                gene_list=names,
                gene_sets=sets,
                background=background,
                outdir=None,
                no_plot=True,
                cutoff=1.0,
            ).results
        except Exception as exc:  # gseapy raises bare Exception types (no overlap among them)
            log.warning("%s: ORA %s failed: %s", run.label, direction, exc)
            out.notes.append(f"{what}: ORA {direction} gave no result ({exc})")
            continue
        # No overlap with any set: gseapy returns an empty list, not a DataFrame.
        if not isinstance(res, pd.DataFrame) or res.empty:
            out.notes.append(
                f"{what}: no enriched sets among the {direction}-regulated genes "
                "(none of them is in a gene set)"
            )
            out.tables[f"{run.prefix}_ora_{direction}"] = pd.DataFrame(columns=ORA_COLUMNS)
            continue
        out.tables[f"{run.prefix}_ora_{direction}"] = res.sort_values("P-value").reset_index(
            drop=True
        )


def _preranked_gsea(
    out: EnrichmentResult,
    run: _Run,
    ranked_by: str,
    tested: pd.DataFrame,
    sets: dict[str, list[str]],
    *,
    threads: int,
    seed: int,
) -> None:
    """Preranked GSEA of every tested gene by ``ranked_by``; a failure is a note, and
    the report goes on without the table."""
    import gseapy

    ranked = tested.dropna(subset=[ranked_by]).drop_duplicates("_key")
    rnk = pd.Series(ranked[ranked_by].to_numpy(), index=ranked["_key"]).sort_values(ascending=False)
    try:
        gsea = gseapy.prerank(
            rnk=rnk,
            gene_sets=sets,
            permutation_num=run.permutations,
            min_size=run.min_size,
            max_size=run.max_size,
            threads=threads,
            seed=seed,
            outdir=None,
            no_plot=True,
            verbose=False,
        )
        out.tables[f"{run.prefix}_gsea_prerank"] = gsea.res2d
    except LookupError:  # gseapy's "No gene sets passed through filtering condition"
        out.notes.append(
            f"{run.what}: preranked GSEA found no gene set of {run.min_size}-{run.max_size} "
            "tested genes"
        )
    except Exception as exc:  # gseapy raises bare Exception types; the report goes on
        log.warning("%s: preranked GSEA failed: %s", run.label, exc)
        out.notes.append(f"{run.what}: preranked GSEA gave no result ({exc})")


def run_enrichment(
    table: pd.DataFrame,
    gene_sets: dict[str, list[str]] | GeneSetCollection,
    *,
    label: str,
    padj: float = 0.05,
    permutations: int = 200,
    seed: int = 1,
    min_size: int = 5,
    max_size: int = 1000,
    threads: int = 1,
) -> EnrichmentResult:
    """ORA of up/down genes and preranked GSEA for one comparison's DE table.

    A direction with no significant gene, or whose genes meet no gene set, is a normal
    result ("no enriched sets"): an empty table and a note, never a failure.
    """
    collection = (
        gene_sets
        if isinstance(gene_sets, GeneSetCollection)
        else GeneSetCollection("user GMT", gene_sets)
    )
    run = _run_of(
        collection, label, min_size=min_size, max_size=max_size, permutations=permutations
    )
    out = EnrichmentResult(collections=[collection.describe()])
    tested = _keyed(table.dropna(subset=["padj"]), collection.key)
    background_set = set(tested["_key"])
    sets = _testable_sets(collection, background_set, run)
    if not sets:
        out.notes.append(
            f"{run.what}: no gene set has {run.min_size}-{run.max_size} of the expressed "
            "genes; enrichment skipped"
        )
        return out
    significant = tested[tested["padj"] < padj]
    _over_representation(out, run, significant, sets, sorted(background_set))
    if collection.gsea_max_sets is not None and len(sets) > collection.gsea_max_sets:
        out.notes.append(
            f"{run.what}: preranked GSEA not run: {len(sets):,} testable sets exceed the "
            f"budget of {collection.gsea_max_sets:,} (minutes per comparison); "
            "over-representation ran"
        )
        return out
    # Shrunken fold changes, when the job asked for them, rank by effect size without
    # the noise of low counts; otherwise the Wald statistic ranks.
    _preranked_gsea(out, run, rank_column(table), tested, sets, threads=threads, seed=seed)
    return out


ORA_COLUMNS = [
    "Gene_set",
    "Term",
    "Overlap",
    "P-value",
    "Adjusted P-value",
    "Odds Ratio",
    "Combined Score",
    "Genes",
]


def run_collections(
    tables: dict[str, pd.DataFrame],
    collections: list[GeneSetCollection],
    **kwargs: Unpack[EnrichmentOptions],
) -> EnrichmentResult:
    """Every comparison (label → DE table) against every collection."""
    total = EnrichmentResult(collections=[c.describe() for c in collections])
    for label, table in tables.items():
        for collection in collections:
            part = run_enrichment(table, collection, label=label, **kwargs)
            total.tables.update(part.tables)
            total.notes.extend(part.notes)
    return total
