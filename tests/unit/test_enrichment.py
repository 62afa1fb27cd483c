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


def test_report_rows_label_each_table_by_comparison_collection_and_test() -> None:
    from genejobs.report.enrichment import enrichment_rows, split_stem

    cmps = ["W_vs_K", "W_vs_K_b"]
    assert split_stem("W_vs_K_GO_ora_up", cmps) == ("W_vs_K", "GO", "ORA up")
    assert split_stem("W_vs_K_b_ora_down", cmps) == ("W_vs_K_b", "user GMT", "ORA down")
    assert split_stem("W_vs_K_Reactome_gsea_prerank", cmps) == ("W_vs_K", "Reactome", "GSEA")
    t = _table()
    res = run_enrichment(t, {"UP1": [f"g{i}" for i in range(12)]}, label="W_vs_K", permutations=10)
    rows = enrichment_rows(res.tables, cmps)
    i = rows["kind"].index("ORA up")
    assert rows["term"][i] == "UP1" and rows["coll"][i] == "user GMT" and rows["fdr"][i] < 0.01


def test_methods_name_the_sets_and_their_releases() -> None:
    from genejobs.report.methods import MethodsInput, methods_text

    m = MethodsInput(
        versions={"gseapy": "1.3"},
        reference="GRCh38-gencode-46",
        annotation="gencode.v46.primary_assembly.annotation.gtf.gz",
        library_type="fr-firststrand",
        adapter="",
        comparisons=["W_vs_K"],
        n_samples=6,
        n_groups=2,
        enrichment=True,
        gene_sets=[
            {"name": "GO", "release": "2024-06-17", "origin": "reference GRCh38-gencode-46"},
            {"name": "Reactome", "release": "downloaded 2026-12-08", "origin": "reference X"},
            {"name": "user GMT", "release": "", "origin": "s3a://b/sets.gmt"},
        ],
    )
    text, _refs = methods_text(m)
    assert "GO (release 2024-06-17), kept with reference GRCh38-gencode-46" in text
    assert "user GMT (s3a://b/sets.gmt)" in text
    assert "Benjamini-Hochberg" in text and "propagated to every ancestor" in text
    assert "against the expressed genes as background" in text


def test_a_collection_over_the_gsea_budget_gets_ora_only_and_a_note() -> None:
    t = _table()
    sets = {f"S{i}": [f"g{j}" for j in range(i, i + 10)] for i in range(0, 60, 5)}
    coll = GeneSetCollection("GO", sets, stem="GO", gsea_max_sets=3, permutations=10)
    res = run_enrichment(t, coll, label="W_vs_K")
    assert "W_vs_K_GO_ora_up" in res.tables and "W_vs_K_GO_gsea_prerank" not in res.tables
    assert any(
        "preranked GSEA not run: 12 testable sets exceed the budget of 3" in n for n in res.notes
    )
