"""Enrichment over plain gene sets: the no-overlap defect, keys, collections."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genejobs.pipeline.enrichment import GeneSetCollection, run_collections, run_enrichment


def _table(n: int = 200, *, versioned: bool = False) -> pd.DataFrame:
    genes = [f"g{i}" for i in range(n)]
    lfc = np.linspace(3, -3, n)
    padj = np.where(np.abs(lfc) > 2.5, 0.001, 0.5)
    ids = [f"ENSG{i:011d}" + (".7" if versioned else "") for i in range(n)]
    return pd.DataFrame(
        {"gene_id": ids, "gene_name": genes, "log2FoldChange": lfc, "stat": lfc * 4, "padj": padj}
    )


def test_a_direction_whose_genes_meet_no_set_is_no_enriched_sets_not_a_failure() -> None:
    # Only up-regulated genes (g0..g15) are in sets: the down ones overlap nothing,
    # which made gseapy.enrich return [] and the job fail on sort_values.
    t = _table()
    sets = {"UP1": [f"g{i}" for i in range(0, 12)], "MID": [f"g{i}" for i in range(80, 110)]}
    res = run_enrichment(t, sets, label="W_vs_K", permutations=10)
    assert res.tables["W_vs_K_ora_up"].iloc[0]["Term"] == "UP1"
    down = res.tables["W_vs_K_ora_down"]
    assert down.empty and "Term" in down.columns
    assert any("no enriched sets among the down-regulated genes" in n for n in res.notes)


def test_reference_sets_match_ensembl_ids_without_version_and_name_their_tables() -> None:
    t = _table(versioned=True)
    sets = {"R-HSA-1 Up pathway": [f"ENSG{i:011d}" for i in range(0, 12)]}
    sets["R-HSA-2 Other"] = [f"ENSG{i:011d}" for i in range(90, 120)]
    coll = GeneSetCollection("Reactome", sets, key="gene_id", release="90", stem="Reactome")
    res = run_collections({"W_vs_K": t}, [coll], permutations=10)
    up = res.tables["W_vs_K_Reactome_ora_up"]
    assert up.iloc[0]["Term"] == "R-HSA-1 Up pathway"
    assert float(up.iloc[0]["Adjusted P-value"]) < 0.01
    gsea = res.tables["W_vs_K_Reactome_gsea_prerank"]
    assert float(gsea.loc[gsea["Term"] == "R-HSA-1 Up pathway", "NES"].iloc[0]) > 0
    assert res.collections[0]["name"] == "Reactome" and res.collections[0]["release"] == "90"


def test_sets_that_meet_no_expressed_gene_are_a_note() -> None:
    res = run_enrichment(_table(), {"X": ["zz1", "zz2", "zz3", "zz4", "zz5"]}, label="c")
    assert res.tables == {}
    assert any("no gene set has" in n for n in res.notes)
