"""The report's enrichment part: the tables of every comparison × collection × test,
as compact rows for the interactive dot plot and the searchable table."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

TOP = 150  # rows kept per table in the report (all rows are in enrichment/*.csv)
_KINDS = (("_ora_up", "ORA up"), ("_ora_down", "ORA down"), ("_gsea_prerank", "GSEA"))


def _num(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def split_stem(stem: str, comparisons: list[str]) -> tuple[str, str, str] | None:
    """``W_vs_K_GO_ora_up`` → (``W_vs_K``, ``GO``, ``ORA up``); the user GMT has no
    collection in its stem (``W_vs_K_ora_up``) and is labelled "user GMT"."""
    for suffix, kind in _KINDS:
        if stem.endswith(suffix):
            head = stem.removesuffix(suffix)
            for label in sorted(comparisons, key=len, reverse=True):
                if head == label:
                    return label, "user GMT", kind
                if head.startswith(label + "_"):
                    return label, head[len(label) + 1 :], kind
    return None


def enrichment_rows(
    tables: dict[str, pd.DataFrame], comparisons: list[str]
) -> dict[str, list[Any]]:
    """Columns (cmp, coll, kind, term, score, fdr, overlap, genes) of the top rows."""
    cols: dict[str, list[Any]] = {
        k: [] for k in ("cmp", "coll", "kind", "term", "score", "fdr", "overlap", "genes")
    }
    for stem, res in sorted(tables.items()):
        parts = split_stem(stem, comparisons)
        if parts is None or res is None or not len(res):
            continue
        label, coll, kind = parts
        gsea = kind == "GSEA"
        fdr_col = "FDR q-val" if gsea else "Adjusted P-value"
        top = res.assign(_fdr=pd.to_numeric(res[fdr_col], errors="coerce")).sort_values("_fdr")
        for _, row in top.head(TOP).iterrows():
            cols["cmp"].append(label)
            cols["coll"].append(coll)
            cols["kind"].append(kind)
            cols["term"].append(str(row["Term"]))
            cols["score"].append(_num(row["NES"] if gsea else row["Odds Ratio"]))
            cols["fdr"].append(_num(row["_fdr"]))
            cols["overlap"].append(str(row.get("Tag %" if gsea else "Overlap", "")))
            genes = str(row.get("Lead_genes" if gsea else "Genes", "") or "")
            cols["genes"].append(";".join(genes.split(";")[:30]))
    return cols
