"""The data the interactive report draws from, embedded once and compactly.

Every gene's columns are stored once (no per-point hover text: the page builds
that from these arrays), numbers with 4 significant digits, gzip-compressed and
base64-encoded into the HTML; the browser inflates them with
``DecompressionStream``. Normalised counts (genes x samples, the largest part at
200 samples) are stored as log2(count + 1) in tenths, one byte each.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import numpy as np
import pandas as pd

from genejobs.report.labels import place_labels
from genejobs.report.model import ComparisonView

COUNT_STEP = 10  # counts stored as round(log2(count + 1) * COUNT_STEP), one byte
VOLCANO_PX = (560.0, 380.0)  # the plotting area the label layout assumes (see report.js)


class Raw(str):
    """A JSON fragment inserted verbatim (number arrays formatted by numpy)."""


def numbers(values: np.ndarray, digits: int = 4) -> Raw:
    """A JSON array of floats with ``digits`` significant digits; NaN/inf become null."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return Raw("[]")
    text = np.char.mod(f"%.{digits}g", arr)
    text = np.where(np.isfinite(arr), text, "null")
    return Raw("[" + ",".join(text.tolist()) + "]")


def to_json(obj: Any) -> str:
    """json.dumps with ``Raw`` fragments spliced in (cheap at 60,000 genes x 3 comparisons)."""
    raws: list[str] = []

    def sub(o: Any) -> Any:
        if isinstance(o, Raw):
            raws.append(str(o))
            return f"\x00{len(raws) - 1}\x00"
        if isinstance(o, dict):
            return {k: sub(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [sub(v) for v in o]
        return o

    text = json.dumps(sub(obj), separators=(",", ":"), allow_nan=False)
    parts = text.split('"\\u0000')
    out = [parts[0]]
    for part in parts[1:]:
        idx, rest = part.split('\\u0000"', 1)
        out.append(raws[int(idx)] + rest)
    return "".join(out)


def pack(data: bytes) -> str:
    """gzip then base64: what a ``<script type="application/octet-stream">`` holds."""
    return base64.b64encode(gzip.compress(data, compresslevel=6, mtime=0)).decode("ascii")


def count_bytes(normalized: pd.DataFrame, genes: pd.Index, samples: list[str]) -> bytes:
    """Genes x samples, row-major, one byte per value (log2(count + 1) in tenths)."""
    m = normalized.reindex(index=genes, columns=samples).to_numpy(dtype=np.float32)
    q = np.rint(np.log2(np.nan_to_num(m, nan=0.0) + 1) * COUNT_STEP)
    packed: bytes = np.clip(q, 0, 255).astype(np.uint8).tobytes()
    return packed


def comparison_data(v: ComparisonView) -> dict[str, Any]:
    """One comparison's columns, its volcano's axis ranges and non-overlapping labels."""
    xr, yr = v.volcano_ranges()
    idx = v.label_indices()
    x, y = v.x_lfc[idx], v.neg_log_padj[idx]
    names = [str(s) for s in v.gene_names[idx]]
    labels = place_labels(x, y, names, x_range=xr, y_range=yr, size_px=VOLCANO_PX)
    out: dict[str, Any] = {
        "label": v.label,
        "lfcLabel": v.lfc_label,
        "lfcLine": v.lfc_line,
        "lfcTested": v.lfc_tested,
        "up": v.n_up,
        "down": v.n_down,
        "xr": list(xr),
        "yr": list(yr),
        "labels": [{"i": int(idx[lab.index]), "dx": lab.dx, "dy": lab.dy} for lab in labels],
        "lfc": numbers(v.lfc),
        "lfcSE": numbers(v.lfc_se, 3),
        "stat": numbers(v.stat),
        "pvalue": numbers(v.pvalue, 3),
        "padj": numbers(v.padj, 3),
    }
    if v.shrunk is not None:
        out["shrunk"] = numbers(v.shrunk)
    return out
