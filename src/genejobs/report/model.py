"""One comparison's DE columns, aligned to the job's gene order, as the plots need them.

Only selection and axis arithmetic (which genes are up, the -log10 of padj, the
axis ranges): the statistics themselves come from ``pipeline.de``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PADJ = 0.05  # significance threshold used throughout the report
LFC_LINE = 1.0  # the volcano's |log2 fold change| guide lines when no threshold was tested
SHRUNK = "lfc_shrunk"


def _tested_threshold(t: pd.DataFrame) -> float:
    """The lfc_threshold the table's tests used (its column, when one was tested), else 0."""
    if "lfc_threshold" not in t:
        return 0.0
    values = t["lfc_threshold"].dropna()
    return float(values.iloc[0]) if len(values) and float(values.iloc[0]) > 0 else 0.0


@dataclass
class ComparisonView:
    label: str
    gene_ids: np.ndarray
    gene_names: np.ndarray
    base_mean: np.ndarray
    lfc: np.ndarray  # the MLE log2 fold change (DESeq2's results())
    lfc_se: np.ndarray
    stat: np.ndarray
    pvalue: np.ndarray
    padj: np.ndarray
    shrunk: np.ndarray | None  # lfc_shrunk when the DE table has it
    # where the volcano's vertical lines go: the tested lfc_threshold, else a 2-fold guide
    lfc_line: float = LFC_LINE
    lfc_tested: bool = False  # lfc_line is the threshold the tests used

    @classmethod
    def from_table(cls, label: str, t: pd.DataFrame, gene_order: pd.Index) -> ComparisonView:
        t = t.drop_duplicates("gene_id").set_index("gene_id").reindex(gene_order)

        def col(name: str) -> np.ndarray:
            return t[name].to_numpy(dtype=float) if name in t else np.full(len(t), np.nan)

        return cls(
            label=label,
            gene_ids=np.asarray(gene_order, dtype=str),
            gene_names=t["gene_name"]
            .fillna(pd.Series(gene_order, index=t.index))
            .astype(str)
            .to_numpy(),
            base_mean=col("baseMean"),
            lfc=col("log2FoldChange"),
            lfc_se=col("lfcSE"),
            stat=col("stat"),
            pvalue=col("pvalue"),
            padj=col("padj"),
            shrunk=col(SHRUNK) if SHRUNK in t else None,
            lfc_line=_tested_threshold(t) or LFC_LINE,
            lfc_tested=_tested_threshold(t) > 0,
        )

    @property
    def x_lfc(self) -> np.ndarray:
        """The fold change the plots show: shrunk when available (DESeq2's advice)."""
        return self.shrunk if self.shrunk is not None else self.lfc

    @property
    def title(self) -> str:
        """'W vs K' for the label 'W_vs_K'."""
        return self.label.replace("_vs_", " vs ")

    @property
    def lfc_label(self) -> str:
        return "log2 fold change (shrunk)" if self.shrunk is not None else "log2 fold change"

    @property
    def up(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (self.padj < PADJ) & (self.lfc > 0)

    @property
    def down(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (self.padj < PADJ) & (self.lfc < 0)

    @property
    def n_up(self) -> int:
        return int(self.up.sum())

    @property
    def n_down(self) -> int:
        return int(self.down.sum())

    @property
    def neg_log_padj(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(-np.log10(np.clip(self.padj, 1e-300, 1)))

    def volcano_mask(self) -> np.ndarray:
        """Genes with a tested padj (independent filtering and outliers leave NA)."""
        return np.asarray(np.isfinite(self.padj) & np.isfinite(self.x_lfc))

    def ma_mask(self) -> np.ndarray:
        return np.asarray(np.isfinite(self.x_lfc) & (self.base_mean > 0))

    def volcano_ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        ok = self.volcano_mask()
        x = np.abs(self.x_lfc[ok])
        y = self.neg_log_padj[ok]
        xm = max(float(np.nanmax(x)) if len(x) else 1.0, self.lfc_line * 1.5) * 1.08
        ym = max(float(np.nanmax(y)) if len(y) else 1.0, -np.log10(PADJ) * 1.5) * 1.12
        return (-xm, xm), (0.0, ym)

    def label_candidates(self, n: int = 40) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The most significant genes first: x, y and name of up to ``n`` candidates."""
        idx = np.flatnonzero((self.up | self.down) & self.volcano_mask())
        idx = idx[np.argsort(self.padj[idx], kind="stable")][:n]
        return self.x_lfc[idx], self.neg_log_padj[idx], [str(s) for s in self.gene_names[idx]]

    def label_indices(self, n: int = 40) -> np.ndarray:
        idx = np.flatnonzero((self.up | self.down) & self.volcano_mask())
        return idx[np.argsort(self.padj[idx], kind="stable")][:n]
